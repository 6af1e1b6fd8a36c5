/**
 * Validation: YAML text -> GatewaySpec, collecting every problem with its YAML path.
 * YAML and zod errors are translated here and nowhere else.
 */
import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { GatewaySpec } from '../spec/schema.js';
import { checkReferences } from './references.js';
import type { ConfigIssue } from './issues.js';

export type { ConfigIssue } from './issues.js';

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

/** `routes[2].rateLimit.per: expected a duration like "1s"` */
export function formatIssue(issue: ConfigIssue): string {
  return issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
}

/** Formats a path array as YAML-ish dotted path with [index] for arrays. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function zodIssues(error: z.ZodError): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) issues.push({ path: formatPath([...issue.path, key]), message: 'unknown key' });
      continue;
    }
    if (issue.code === 'invalid_union') {
      issues.push({ path: formatPath(issue.path), message: issue.message === 'Invalid input' ? 'invalid value' : issue.message });
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && /received undefined/.test(message)) message = 'required';
    issues.push({ path: formatPath(issue.path), message });
  }
  return issues;
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
      clientCAs: spec.tls.clientCAs.map(abs),
    },
    ca: { ...spec.ca, dir: abs(spec.ca.dir) },
    routes: spec.routes.map((r) =>
      r.auth?.jwt?.jwksFile === undefined ? r : { ...r, auth: { ...r.auth, jwt: { ...r.auth.jwt, jwksFile: abs(r.auth.jwt.jwksFile) } } },
    ),
  };
}

/**
 * Parses and validates config text. Throws ConfigError listing every problem;
 * returns the spec (file paths made absolute against `baseDir`) and its warnings.
 */
export function validateConfigText(text: string, baseDir: string): ValidatedConfig {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return { path: '', message: `YAML syntax error${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError([{ path: '', message: 'expected a mapping at the top level' }]);
  }
  const parsed = GatewaySpec.safeParse(raw);
  if (!parsed.success) throw new ConfigError(zodIssues(parsed.error));
  const { problems, warnings } = checkReferences(parsed.data);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    spec: resolvePaths(parsed.data, baseDir),
    hash: `sha256:${createHash('sha256').update(text).digest('hex')}`,
    warnings,
  };
}
