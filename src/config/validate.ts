/**
 * Validation: YAML text -> GatewaySpec, collecting every problem with its YAML path.
 * YAML and zod errors are translated here and nowhere else.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { GatewaySpec } from '../spec/schema.js';
import { formatIssue, formatPath, placeIssues, type ConfigIssue } from './issues.js';
import { checkReferences, referencedFiles } from './references.js';

export type { ConfigIssue } from './issues.js';
export { formatIssue, formatPath } from './issues.js';

export interface ValidatedConfig {
  readonly spec: GatewaySpec;
  /** sha256 of the file's bytes, as shown in /status. */
  readonly hash: string;
  readonly warnings: readonly ConfigIssue[];
}

/** A config that was refused; `issues` lists every problem found. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** zod issues as ConfigIssues, one per path (a failed refinement chain, e.g. a bad duration, reports once). */
function zodIssues(error: z.ZodError): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  const add = (segments: PropertyKey[], message: string): void => {
    const path = formatPath(segments);
    if (seen.has(path)) return;
    seen.add(path);
    issues.push({ path, message, segments });
  };
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) add([...issue.path, key], 'unknown key');
      continue;
    }
    if (issue.code === 'invalid_union') {
      add(issue.path, issue.message === 'Invalid input' ? 'invalid value' : issue.message);
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && /received undefined/.test(message)) message = 'required';
    add(issue.path, message);
  }
  return issues;
}

/** Referenced files (certs, keys, client CAs, JWKS files) that cannot be read. */
function unreadableFiles(raw: unknown, baseDir: string): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const { segments, file } of referencedFiles(raw)) {
    const abs = isAbsolute(file) ? file : resolve(baseDir, file);
    let problem: string | undefined;
    try {
      accessSync(abs, constants.R_OK);
      if (statSync(abs).isDirectory()) problem = 'is a directory';
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problem = code === 'ENOENT' ? 'not found' : `not readable (${code ?? String(err)})`;
    }
    if (problem !== undefined) out.push({ path: formatPath(segments), message: `file ${file} ${problem}`, segments });
  }
  return out;
}

/** Paths in the spec that name files, resolved against the config file's directory. */
function resolvePaths(spec: GatewaySpec, baseDir: string): GatewaySpec {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    ...spec,
    tls: {
      ...spec.tls,
      cert: spec.tls.cert === undefined ? undefined : abs(spec.tls.cert),
      key: spec.tls.key === undefined ? undefined : abs(spec.tls.key),
      clientCAs: spec.tls.clientCAs.map((c) => (typeof c === 'string' ? abs(c) : { ...c, file: abs(c.file) })),
      certificates: spec.tls.certificates.map((c) => ({ ...c, cert: abs(c.cert), key: abs(c.key) })),
      acme: spec.tls.acme === undefined ? undefined : { ...spec.tls.acme, storage: abs(spec.tls.acme.storage), directoryCA: spec.tls.acme.directoryCA === undefined ? undefined : abs(spec.tls.acme.directoryCA) },
    },
    ca: { ...spec.ca, dir: abs(spec.ca.dir) },
    admin: spec.admin.tokenFile === undefined ? spec.admin : { ...spec.admin, tokenFile: abs(spec.admin.tokenFile) },
    routes: spec.routes.map((r) =>
      r.auth?.jwt?.jwksFile === undefined ? r : { ...r, auth: { ...r.auth, jwt: { ...r.auth.jwt, jwksFile: abs(r.auth.jwt.jwksFile) } } },
    ),
  };
}

/** Everything `check` needs: the spec when it is usable, and every problem and warning, placed and sorted. */
export interface ConfigAnalysis {
  readonly spec?: GatewaySpec;
  readonly hash: string;
  readonly problems: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

/**
 * Parses and checks config text, collecting every problem in one pass: schema problems, reference problems
 * (looked for on the raw document even when the schema fails) and unreadable files, each once, each with
 * `source:line:col`, sorted by position. `source` is the file name shown to the user.
 */
export function analyzeConfigText(text: string, baseDir: string, source?: string): ConfigAnalysis {
  const hash = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e): ConfigIssue => {
      const pos = e.linePos?.[0];
      return { path: '', message: `YAML syntax error: ${e.message.split('\n')[0]}`, ...(pos ? { line: pos.line, col: pos.col } : {}) };
    });
    return { hash, problems: placeIssues(problems, doc, lines, source), warnings: [] };
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { hash, problems: placeIssues([{ path: '', message: 'expected a mapping at the top level' }], doc, lines, source), warnings: [] };
  }
  const parsed = GatewaySpec.safeParse(raw);
  const schema = parsed.success ? [] : zodIssues(parsed.error);
  const refs = checkReferences(raw);
  const taken = new Set(schema.map((i) => i.path));
  const problems = [...schema, ...refs.problems.filter((i) => !taken.has(i.path)), ...unreadableFiles(raw, baseDir)];
  return {
    ...(parsed.success && problems.length === 0 ? { spec: resolvePaths(parsed.data, baseDir) } : {}),
    hash,
    problems: placeIssues(problems, doc, lines, source),
    warnings: placeIssues(refs.warnings, doc, lines, source),
  };
}

/**
 * Parses and validates config text. Throws ConfigError listing every problem;
 * returns the spec (file paths made absolute against `baseDir`) and its warnings.
 */
export function validateConfigText(text: string, baseDir: string, source?: string): ValidatedConfig {
  const a = analyzeConfigText(text, baseDir, source);
  if (a.spec === undefined) throw new ConfigError(a.problems);
  return { spec: a.spec, hash: a.hash, warnings: a.warnings };
}
