/** `tollgate ca init|issue|token|revoke|list`: manage the built-in CA (SPEC §1). */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { CaError, initAuthority, openAuthority } from '../../ca/authority.js';
import type { Authority } from '../../ca/authority.js';
import { PRIVATE_MODE, PUBLIC_MODE, writeFileAtomic } from '../../ca/store.js';
import { canonicalSerial, generateKeyPair, privateKeyToPem } from '../../ca/x509.js';
import { loadConfigFile } from '../../config/load.js';
import { createCaStateFor } from '../../control/ca-state.js';
import type { GatewaySpec } from '../../spec/schema.js';
import { ConfigError, formatIssue } from '../../config/validate.js';
import { systemClock } from '../../core/clock.js';
import type { Clock } from '../../core/clock.js';
import { parseDuration, durationMs } from '../../core/duration.js';
import { GatewayError } from '../../core/errors.js';
import { isTrustDomain, parseWorkloadId } from '../../identity/spiffe.js';
import { UsageError, UserError } from '../errors.js';

/** Where a command writes and what time it is: the process by default, fakes in tests. */
export interface CliContext {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  readonly clock: Clock;
}

/** The real process streams and clock. */
export const processContext: CliContext = { stdout: process.stdout, stderr: process.stderr, clock: systemClock };

const DEFAULT_DIR = 'certs/ca';
const DEFAULT_TRUST_DOMAIN = 'tollgate.local';

const HELP = `Usage: tollgate ca <command> [options]

Manage the built-in certificate authority.

Commands:
  init     create the root and intermediate CA
  issue    issue a key and certificate for a workload
  token    print a one-time bootstrap token for a workload
  revoke   revoke a certificate by serial
  list     list issued certificates

Every command takes --dir DIR (default: ca.dir of --config when given, else ${DEFAULT_DIR})
and --config PATH. With --config naming store.type: redis, the state (used tokens, issued index,
revocation list) is the fleet's, in Redis. Run 'tollgate ca <command> --help' for details.
`;

const COMMON_HELP = `  --dir DIR        the CA directory (default: ca.dir of --config, else ${DEFAULT_DIR})
  --config PATH    read ca.dir (and defaults) from this gateway config; with store.type: redis
                   the CA state is read and written in that Redis (shared by the replicas)
  -h, --help       show this help`;

const HELPS: Record<string, string> = {
  init: `Usage: tollgate ca init [--dir DIR] [--trust-domain TD] [--config PATH]

Creates the root CA (ECDSA P-256, 10 years), a signing intermediate (1 year) and the provisioner key
for bootstrap tokens. Key files are written with mode 0600. Refuses to touch a directory that is not
empty.

  --trust-domain TD   SPIFFE trust domain (default: ca.trustDomain of --config, else ${DEFAULT_TRUST_DOMAIN})
${COMMON_HELP}
`,
  issue: `Usage: tollgate ca issue --id spiffe://TD/PATH [--dns NAME]… [--ip ADDR]… [--ttl 24h] --out PREFIX

Issues a key pair and certificate for a workload: writes PREFIX.key (0600) and PREFIX.crt (the leaf
followed by the intermediate), then prints the serial and expiry.

  --id ID          the workload's SPIFFE id, in the CA's trust domain
  --dns NAME       add a DNS name (repeatable)
  --ip ADDR        add an IP address (repeatable)
  --ttl DURATION   lifetime (default: ca.workloadTTL of --config, else 24h)
  --out PREFIX     where to write PREFIX.key and PREFIX.crt
${COMMON_HELP}
`,
  token: `Usage: tollgate ca token --id spiffe://TD/PATH [--ttl 5m]

Prints a one-time bootstrap token that lets a workload obtain a certificate for exactly that
identity through the gateway's CA API ('tollgate cert request').

  --id ID          the workload's SPIFFE id, in the CA's trust domain
  --ttl DURATION   how long the token stays usable (default 5m)
${COMMON_HELP}
`,
  revoke: `Usage: tollgate ca revoke SERIAL [--reason TEXT]
       tollgate ca revoke --id SPIFFE-ID [--reason TEXT]

Adds a serial (hex; upper case and colon-separated forms accepted) to the revocation list, or with
--id every unexpired certificate of that identity in the issued index (renewed ones included). A
running gateway rejects the certificates after a reload (SIGHUP) and closes connections using them;
with --config naming store.type: redis, every replica sharing that Redis does so within a second.

  --id SPIFFE-ID   revoke every unexpired certificate issued for this id
  --reason TEXT    why (recorded in the list and shown by GET /crl)
${COMMON_HELP}
`,
  list: `Usage: tollgate ca list

Lists issued certificates: serial, identity, notAfter, revoked.

${COMMON_HELP}
`,
};

const COMMON_OPTIONS = {
  dir: { type: 'string' },
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, strict: true, allowPositionals });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Maps errors of the layers below onto the CLI's two kinds. */
export function asCliError(err: unknown): unknown {
  if (err instanceof CaError) return new UserError(err.message);
  if (err instanceof GatewayError && err.code === 'CA_UNAVAILABLE') {
    return new UserError(`${err.message} (${err.cause instanceof Error ? err.cause.message : 'Redis unreachable'}).`);
  }
  if (err instanceof GatewayError) return new UserError(err.message.endsWith('.') ? err.message : `${err.message}.`);
  if (err instanceof ConfigError) return new UserError(`the config is not valid: ${err.issues.map(formatIssue).join('; ')}`);
  return err;
}

interface CaSettings {
  dir: string;
  trustDomain?: string;
  workloadTtlMs?: number;
  /** The config, when --config was given: it decides where the CA state lives. */
  spec?: GatewaySpec;
}

async function settings(values: { dir?: string; config?: string }): Promise<CaSettings> {
  if (values.config === undefined) return { dir: values.dir ?? DEFAULT_DIR };
  const cfg = await loadConfigFile(values.config);
  return {
    dir: values.dir ?? cfg.spec.ca.dir,
    trustDomain: cfg.spec.ca.trustDomain,
    workloadTtlMs: durationMs(cfg.spec.ca.workloadTTL),
    spec: cfg.spec,
  };
}

function durationOption(name: string, text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new UsageError(`--${name} expects a duration like "24h", not "${text}"`);
  return ms;
}

function requireOption(name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

function requireWorkloadId(text: string): string {
  if (parseWorkloadId(text) === undefined) throw new UsageError(`--id expects a SPIFFE id like spiffe://tollgate.local/web, not "${text}"`);
  return text;
}

/**
 * Opens the CA, with its state where the config puts it (`shared: false`: the keys are all the command
 * needs), runs `fn` and closes the state's connections.
 */
async function withCa<T>(s: CaSettings, ctx: CliContext, fn: (ca: Authority) => Promise<T>, opts: { shared?: boolean } = {}): Promise<T> {
  const state = s.spec !== undefined && opts.shared !== false ? createCaStateFor(s.spec, { clock: ctx.clock }) : undefined;
  let ca: Authority;
  try {
    ca = await openAuthority(s.dir, { clock: ctx.clock, state });
  } catch (err) {
    await state?.close();
    throw err;
  }
  try {
    return await fn(ca);
  } finally {
    await ca.close();
  }
}

/** What the CLI says after a revocation: when running gateways apply it. */
function appliedNote(ca: Authority): string {
  return ca.stateKind === 'redis'
    ? 'every gateway sharing this Redis refuses it within a second (no reload needed)\n'
    : 'a running gateway applies it after a reload (SIGHUP or POST /reload)\n';
}

async function caInit(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parse(args, { 'trust-domain': { type: 'string' } });
  if (values.help) return help(ctx, 'init');
  const s = await settings(values);
  const trustDomain = values['trust-domain'] ?? s.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  if (!isTrustDomain(trustDomain)) throw new UsageError(`--trust-domain expects a name like tollgate.local, not "${trustDomain}"`);
  const ca = await initAuthority(s.dir, { trustDomain, clock: ctx.clock });
  ctx.stdout.write(
    `Created a CA for trust domain ${trustDomain} in ${s.dir}\n` +
      `  root.crt          expires ${ca.rootNotAfter.toISOString()}\n` +
      `  intermediate.crt  expires ${ca.intermediateNotAfter.toISOString()}\n`,
  );
  return 0;
}

async function caIssue(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parse(args, {
    id: { type: 'string' },
    dns: { type: 'string', multiple: true },
    ip: { type: 'string', multiple: true },
    ttl: { type: 'string' },
    out: { type: 'string' },
  });
  if (values.help) return help(ctx, 'issue');
  const id = requireWorkloadId(requireOption('id', values.id));
  const out = requireOption('out', values.out);
  const s = await settings(values);
  const ttlMs = durationOption('ttl', values.ttl, s.workloadTtlMs ?? 24 * 3_600_000);
  const keys = await generateKeyPair();
  const issued = await withCa(s, ctx, (ca) => ca.issue({ id, dns: values.dns ?? [], ip: values.ip ?? [], ttlMs, publicKey: keys.publicKey }));
  const keyPath = resolve(`${out}.key`);
  await mkdir(dirname(keyPath), { recursive: true });
  await writeFileAtomic(keyPath, await privateKeyToPem(keys.privateKey), PRIVATE_MODE);
  await writeFileAtomic(resolve(`${out}.crt`), issued.chainPem, PUBLIC_MODE);
  ctx.stdout.write(`serial: ${issued.serial}\nnotAfter: ${issued.notAfter.toISOString()}\n`);
  ctx.stderr.write(`wrote ${out}.key (mode 0600) and ${out}.crt for ${id}\n`);
  return 0;
}

async function caToken(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parse(args, { id: { type: 'string' }, ttl: { type: 'string' } });
  if (values.help) return help(ctx, 'token');
  const id = requireWorkloadId(requireOption('id', values.id));
  const ttlMs = durationOption('ttl', values.ttl, 5 * 60_000);
  // Making a token reads the provisioner key only: it works while the shared state is down.
  const { token } = await withCa(await settings(values), ctx, (ca) => ca.createToken(id, ttlMs), { shared: false });
  ctx.stdout.write(`${token}\n`);
  return 0;
}

async function caRevoke(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parse(args, { reason: { type: 'string' }, id: { type: 'string' } }, true);
  if (values.help) return help(ctx, 'revoke');
  if (values.id !== undefined) {
    if (positionals.length !== 0) throw new UsageError('ca revoke takes a SERIAL or --id, not both');
    if (parseWorkloadId(values.id) === undefined) throw new UsageError(`"${values.id}" is not a workload SPIFFE id`);
    const id = values.id;
    const { results, note } = await withCa(await settings(values), ctx, async (ca) => ({
      results: await ca.revokeIdentity(id, values.reason ?? 'unspecified'),
      note: appliedNote(ca),
    }));
    for (const r of results) ctx.stdout.write(r.alreadyRevoked ? `${r.serial} was already revoked\n` : `revoked ${r.serial}\n`);
    if (results.length === 0) ctx.stderr.write(`note: no unexpired certificate of ${id} in the issued index\n`);
    else ctx.stderr.write(note);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'ca revoke needs a SERIAL' : 'ca revoke takes exactly one SERIAL');
  const serial = positionals[0] as string;
  if (canonicalSerial(serial) === undefined) throw new UsageError(`"${serial}" is not a serial number (hex digits, colons allowed)`);
  const { res, note } = await withCa(await settings(values), ctx, async (ca) => ({ res: await ca.revoke(serial, values.reason ?? 'unspecified'), note: appliedNote(ca) }));
  if (res.alreadyRevoked) {
    ctx.stdout.write(`${res.serial} was already revoked\n`);
    return 0;
  }
  ctx.stdout.write(`revoked ${res.serial}\n`);
  if (!res.known) ctx.stderr.write(`note: ${res.serial} is not in this CA's issued index; it is on the revocation list anyway\n`);
  ctx.stderr.write(note);
  return 0;
}

async function caList(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parse(args, {});
  if (values.help) return help(ctx, 'list');
  const rows = (await withCa(await settings(values), ctx, (ca) => ca.list())).map((c) => [c.serial, c.spiffeId, c.notAfter, c.revoked ? 'yes' : 'no']);
  const table = [['SERIAL', 'IDENTITY', 'NOT AFTER', 'REVOKED'], ...rows];
  const widths = [0, 1, 2].map((i) => Math.max(...table.map((r) => (r[i] as string).length)));
  for (const r of table) {
    ctx.stdout.write(`${r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i] as number) : cell)).join('  ')}\n`);
  }
  return 0;
}

function help(ctx: CliContext, command?: string): number {
  ctx.stdout.write(command === undefined ? HELP : (HELPS[command] as string));
  return 0;
}

const SUBCOMMANDS: Record<string, (args: string[], ctx: CliContext) => Promise<number>> = {
  init: caInit,
  issue: caIssue,
  token: caToken,
  revoke: caRevoke,
  list: caList,
};

/**
 * Runs `tollgate ca …` with the words after `ca`. Returns the exit code; throws UsageError (exit 2)
 * or UserError (exit 1) for the caller to print.
 */
export async function runCa(argv: string[], ctx: CliContext = processContext): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') return help(ctx);
  if (name === undefined) throw new UsageError(`ca needs a command: ${Object.keys(SUBCOMMANDS).join(', ')} (see 'tollgate ca --help')`);
  const sub = SUBCOMMANDS[name];
  if (sub === undefined) throw new UsageError(`unknown ca command "${name}" (see 'tollgate ca --help')`);
  try {
    return await sub(rest, ctx);
  } catch (err) {
    throw asCliError(err);
  }
}
