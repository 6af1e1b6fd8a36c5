/** Shared helpers of the identity tests: workload credentials from our CA, a foreign CA, an expired cert. */
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { initAuthority, openAuthority, type Authority } from '../../src/ca/authority.js';
import { splitPem } from '../../src/ca/x509.js';
import { ManualClock, systemClock } from '../../src/core/clock.js';

/** A workload's key and certificate chain, PEM, with what the gateway derives from them. */
export interface Workload {
  readonly id: string;
  /** Leaf + intermediate: what the client presents. */
  readonly cert: string;
  readonly key: string;
  readonly serial: string;
  /** sha256 of the leaf DER, lowercase hex (XFCC `Hash`). */
  readonly hash: string;
}

/** Issues a fresh key pair and certificate for `id` from `authority` (the key never touches disk). */
export async function workload(authority: Authority, id: string, opts: { ttlMs?: number; dns?: string[]; ip?: string[] } = {}): Promise<Workload> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issued = await authority.issue({
    id,
    dns: opts.dns,
    ip: opts.ip,
    ttlMs: opts.ttlMs ?? 3_600_000,
    publicKey: publicKey.export({ type: 'spki', format: 'der' }),
  });
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const hash = createHash('sha256').update(new X509Certificate(issued.certPem).raw).digest('hex');
  return { id, cert: issued.chainPem, key, serial: issued.serial, hash };
}

/** A second, unrelated CA with the same trust domain: its certificates name the same ids. */
export async function foreignAuthority(dir: string, trustDomain = 'tollgate.local'): Promise<Authority> {
  return initAuthority(await mkdtemp(join(dir, 'foreign-ca-')), { trustDomain, clock: systemClock });
}

/**
 * A certificate from the gateway's own CA (same root and intermediate) that expired an hour ago: the
 * CA directory is opened a second time with a clock two days in the past.
 */
export async function expiredWorkload(caDir: string, id: string): Promise<Workload> {
  const past = await openAuthority(caDir, { clock: new ManualClock(Date.now() - 2 * 86_400_000) });
  return workload(past, id, { ttlMs: 3_600_000 * 47 });
}

/**
 * Writes `w` as NAME.crt (leaf + intermediate), NAME.key (0600) and NAME.chain.crt (the intermediate
 * alone: `openssl s_client -cert` sends only the first certificate of its file, `-cert_chain` the rest).
 */
export async function writeWorkload(dir: string, name: string, w: Workload): Promise<{ certPath: string; keyPath: string; chainPath: string }> {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  const chainPath = join(dir, `${name}.chain.crt`);
  await writeFile(certPath, w.cert);
  await writeFile(keyPath, w.key, { mode: 0o600 });
  await writeFile(chainPath, splitPem(w.cert).slice(1).join(''));
  return { certPath, keyPath, chainPath };
}

/** The `openssl s_client` arguments presenting `files` as the client certificate with its chain. */
export function clientCertArgs(files: { certPath: string; keyPath: string; chainPath: string }): string[] {
  return ['-cert', files.certPath, '-key', files.keyPath, '-cert_chain', files.chainPath];
}

/** One TLS handshake to `port`; resolves the server certificate's serial (lowercase hex) and the ALPN. */
export function handshake(port: number, ca: string, opts: { servername?: string; alpn?: string[] } = {}): Promise<{ serial: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const s: TLSSocket = connect({ host: '127.0.0.1', port, ca, servername: opts.servername ?? 'localhost', ALPNProtocols: opts.alpn ?? ['http/1.1'] });
    s.once('secureConnect', () => {
      const serial = s.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, '');
      const alpn = s.alpnProtocol;
      s.destroy();
      resolve({ serial, alpn });
    });
    s.once('error', reject);
  });
}

/**
 * Edge-guard limits out of the way: these tests make many handshakes and deliberate CA failures from
 * one loopback address, which the default per-IP guard would (rightly) block.
 */
export const RELAXED_GUARD = {
  handshakes: { points: 1_000_000, durationSec: 10 },
  caFailures: { maxFailures: 1_000_000, windowSec: 600, blockSec: 1 },
} as const;
