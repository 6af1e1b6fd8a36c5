/**
 * `tollgate cert request|renew`: the workload side of the CA API (SPEC §1, §4). The private key is
 * made here and never leaves the machine; only a CSR is sent.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { decodeJwt } from 'jose';
import { Agent, request } from 'undici';
import { createCsr } from '../../ca/requests.js';
import { PRIVATE_MODE, PUBLIC_MODE, writeFileAtomic } from '../../ca/store.js';
import { parseCertificate, publicKeyDerOf, sanNamesOf } from '../../ca/x509.js';
import { parseDuration } from '../../core/duration.js';
import { parseWorkloadId } from '../../identity/spiffe.js';
import { UsageError, UserError } from '../errors.js';
import { asCliError, processContext } from './ca.js';
import type { CliContext } from './ca.js';

const DEFAULT_CACERT = 'certs/ca/root.crt';
const DEFAULT_API_PREFIX = '/.well-known/tollgate/ca';
const REQUEST_TIMEOUT_MS = 30_000;

const HELP = `Usage: tollgate cert <command> [options]

Obtain or renew a workload certificate from a gateway's CA API.

Commands:
  request   generate a key, send a CSR with a bootstrap token, write the certificate
  renew     renew with the current, still valid certificate (mTLS), in place

Run 'tollgate cert <command> --help' for details.
`;

const GATEWAY_HELP = `  --gateway URL    the gateway, e.g. https://127.0.0.1:8443 (a path, when given, is the CA API
                   prefix; default ${DEFAULT_API_PREFIX})
  --cacert FILE    trust anchor to verify the gateway (default ${DEFAULT_CACERT})
  --ttl DURATION   requested lifetime (default: the CA's ca.workloadTTL)
  -h, --help       show this help`;

const HELPS: Record<string, string> = {
  request: `Usage: tollgate cert request --gateway URL --token TOKEN --out PREFIX [--cacert FILE] [--id ID]

Generates an EC P-256 key locally, sends a CSR for the token's identity to the gateway's CA API and
writes PREFIX.key (0600) and PREFIX.crt (leaf + intermediate).

  --token TOKEN    one-time token from 'tollgate ca token'
  --out PREFIX     where to write PREFIX.key and PREFIX.crt
  --id ID          optional; must equal the token's identity
${GATEWAY_HELP}
`,
  renew: `Usage: tollgate cert renew --gateway URL --cert PREFIX.crt --key PREFIX.key [--cacert FILE]

Renews a certificate by authenticating with it (mTLS) while it is still valid; the same key and
names are kept, and the new certificate replaces PREFIX.crt atomically.

  --cert FILE      the current certificate (leaf + chain)
  --key FILE       its private key
${GATEWAY_HELP}
`,
};

const COMMON_OPTIONS = {
  gateway: { type: 'string' },
  cacert: { type: 'string' },
  ttl: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, strict: true, allowPositionals: false });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function requireOption(name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** The sign endpoint for a `--gateway` URL. */
export function signUrl(gateway: string): URL {
  let url: URL;
  try {
    url = new URL(gateway);
  } catch {
    throw new UsageError(`--gateway expects a URL like https://127.0.0.1:8443, not "${gateway}"`);
  }
  if (url.protocol !== 'https:') throw new UsageError('--gateway must be an https:// URL (the CA API is served over TLS only)');
  const prefix = url.pathname === '/' || url.pathname === '' ? DEFAULT_API_PREFIX : url.pathname.replace(/\/+$/, '');
  return new URL(`${prefix}/sign`, url.origin);
}

async function readInput(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`cannot read ${what} ${path}${code === 'ENOENT' ? ' (no such file)' : ''}`);
  }
}

function ttlOf(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new UsageError(`--ttl expects a duration like "24h", not "${text}"`);
  return text;
}

interface SignResult {
  certificate: string;
  chain: string;
  serial: string;
  notAfter: string;
}

/** POSTs a CSR; resolves the 201 body or throws a UserError with the gateway's reason. */
async function postCsr(
  url: URL,
  body: { csr: string; ttl?: string },
  tls: { ca: string; cert?: string; key?: string },
  headers: Record<string, string>,
): Promise<SignResult> {
  const agent = new Agent({ connect: { ca: tls.ca, cert: tls.cert, key: tls.key, timeout: REQUEST_TIMEOUT_MS } });
  try {
    let res;
    try {
      res = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
        body: JSON.stringify(body),
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
      });
    } catch (err) {
      const cause = (err as { cause?: Error }).cause ?? (err as Error);
      throw new UserError(`cannot reach the gateway at ${url.origin}: ${cause.message}`);
    }
    const text = await res.body.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.statusCode === 201) {
      const r = json as Partial<SignResult> | undefined;
      if (!r || typeof r.chain !== 'string' || typeof r.serial !== 'string' || typeof r.notAfter !== 'string') {
        throw new UserError(`the gateway at ${url.origin} answered 201 without a certificate`);
      }
      return r as SignResult;
    }
    const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    const reason = e?.message ? `${e.message} (${e.code ?? res.statusCode})` : `HTTP ${res.statusCode}`;
    throw new UserError(`the gateway refused the certificate: ${reason}`);
  } finally {
    await agent.close();
  }
}

async function certRequest(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parse(args, { token: { type: 'string' }, out: { type: 'string' }, id: { type: 'string' } });
  if (values.help) return help(ctx, 'request');
  const url = signUrl(requireOption('gateway', values.gateway));
  const token = requireOption('token', values.token);
  const out = requireOption('out', values.out);
  const ttl = ttlOf(values.ttl);
  let sub: unknown;
  try {
    sub = decodeJwt(token).sub;
  } catch {
    throw new UsageError('--token is not a token from "tollgate ca token"');
  }
  if (typeof sub !== 'string' || parseWorkloadId(sub) === undefined) throw new UserError('the token names no workload identity');
  if (values.id !== undefined && values.id !== sub) throw new UserError(`--id ${values.id} does not match the token's identity ${sub}`);
  const ca = await readInput(values.cacert ?? DEFAULT_CACERT, 'the CA certificate');

  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const csr = await createCsr({ keyPem, spiffeId: sub });
  const signed = await postCsr(url, { csr, ...(ttl ? { ttl } : {}) }, { ca }, { authorization: `Bearer ${token}` });

  const keyPath = resolve(`${out}.key`);
  await mkdir(dirname(keyPath), { recursive: true });
  await writeFileAtomic(keyPath, keyPem, PRIVATE_MODE);
  await writeFileAtomic(resolve(`${out}.crt`), signed.chain, PUBLIC_MODE);
  ctx.stdout.write(`serial: ${signed.serial}\nnotAfter: ${signed.notAfter}\n`);
  ctx.stderr.write(`wrote ${out}.key (mode 0600) and ${out}.crt for ${sub}\n`);
  return 0;
}

async function certRenew(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parse(args, { cert: { type: 'string' }, key: { type: 'string' } });
  if (values.help) return help(ctx, 'renew');
  const url = signUrl(requireOption('gateway', values.gateway));
  const certPath = requireOption('cert', values.cert);
  const keyPath = requireOption('key', values.key);
  const ttl = ttlOf(values.ttl);
  const certPem = await readInput(certPath, 'the certificate');
  const keyPem = await readInput(keyPath, 'the key');
  const ca = await readInput(values.cacert ?? DEFAULT_CACERT, 'the CA certificate');

  let leaf;
  try {
    leaf = parseCertificate(certPem);
  } catch {
    throw new UserError(`${certPath} holds no PEM certificate`);
  }
  let keyDer: Buffer;
  try {
    keyDer = publicKeyDerOf(keyPem);
  } catch {
    throw new UserError(`${keyPath} holds no private key`);
  }
  if (!keyDer.equals(Buffer.from(leaf.publicKey.rawData))) throw new UserError(`${keyPath} is not the key of ${certPath}`);
  if (leaf.notAfter.getTime() <= ctx.clock.now()) {
    throw new UserError(`${certPath} expired at ${leaf.notAfter.toISOString()}; get a new one with a token ('tollgate cert request')`);
  }
  const names = sanNamesOf(leaf);
  const spiffeId = names.uris[0];
  if (names.uris.length !== 1 || spiffeId === undefined || parseWorkloadId(spiffeId) === undefined) {
    throw new UserError(`${certPath} is not a workload certificate (it needs exactly one SPIFFE URI SAN)`);
  }
  const csr = await createCsr({ keyPem, spiffeId, dns: names.dns, ip: names.ip });
  const signed = await postCsr(url, { csr, ...(ttl ? { ttl } : {}) }, { ca, cert: certPem, key: keyPem }, {});

  const mode = (await stat(certPath)).mode & 0o777;
  await writeFileAtomic(certPath, signed.chain, mode);
  ctx.stdout.write(`serial: ${signed.serial}\nnotAfter: ${signed.notAfter}\n`);
  ctx.stderr.write(`renewed ${certPath} for ${spiffeId}\n`);
  return 0;
}

function help(ctx: CliContext, command?: string): number {
  ctx.stdout.write(command === undefined ? HELP : (HELPS[command] as string));
  return 0;
}

const SUBCOMMANDS: Record<string, (args: string[], ctx: CliContext) => Promise<number>> = {
  request: certRequest,
  renew: certRenew,
};

/**
 * Runs `tollgate cert …` with the words after `cert`. Returns the exit code; throws UsageError
 * (exit 2) or UserError (exit 1) for the caller to print.
 */
export async function runCert(argv: string[], ctx: CliContext = processContext): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') return help(ctx);
  if (name === undefined) throw new UsageError(`cert needs a command: ${Object.keys(SUBCOMMANDS).join(', ')} (see 'tollgate cert --help')`);
  const sub = SUBCOMMANDS[name];
  if (sub === undefined) throw new UsageError(`unknown cert command "${name}" (see 'tollgate cert --help')`);
  try {
    return await sub(rest, ctx);
  } catch (err) {
    throw asCliError(err);
  }
}
