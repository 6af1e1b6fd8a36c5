/**
 * Certificates for public names from an ACME CA (`tls.acme`), with the `acme-client` package:
 * obtained at start when none is stored (or the stored one is due), renewed at 2/3 of its lifetime on
 * the injected scheduler and clock, stored atomically (mode 0600) in `tls.acme.storage`, and handed to
 * the listener through `onCertificate` without a restart. Challenges: http-01, answered by the
 * plain `redirectHttp` listener from `challengeAnswer(token)`; or tls-alpn-01 (RFC 8737), answered on
 * the public port from `alpnChallengeContext(servername)` (server/proxy-front.ts routes the
 * connections offering only `acme-tls/1` there while `alpnPending()`).
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import * as acme from 'acme-client';
import type { Clock } from '../core/clock.js';
import { systemScheduler, type Scheduler, type TimerHandle } from '../core/scheduler.js';
import type { AcmeSpec } from '../spec/schema.js';
import type { Logger } from '../telemetry/logger.js';

/** A certificate the ACME CA issued, with its key. */
export interface AcmeCertificate {
  /** Leaf then chain, PEM. */
  readonly certPem: string;
  readonly keyPem: string;
  readonly names: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface AcmeManager {
  /** The certificate in force, once one was loaded or obtained. */
  current(): AcmeCertificate | undefined;
  /** The key authorization for an http-01 token being validated now, else undefined. */
  challengeAnswer(token: string): string | undefined;
  /** With tls-alpn-01: whether a challenge is being validated now (the public port then peeks ALPN). */
  alpnPending(): boolean;
  /** With tls-alpn-01: the acmeIdentifier certificate for `servername` while it is validated, else undefined. */
  alpnChallengeContext(servername: string): SecureContext | undefined;
  /** Settles once the first certificate is in hand (loaded or obtained) or the first attempt failed. */
  readonly ready: Promise<void>;
  close(): void;
}

export interface AcmeDeps {
  readonly spec: AcmeSpec;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly scheduler?: Scheduler;
  /** Called with each certificate put in force (loaded or obtained). */
  onCertificate(cert: AcmeCertificate): void;
}

/** Renew once this fraction of the lifetime has passed. */
export const ACME_RENEW_AT = 2 / 3;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** After a failed order: try again this much later (Let's Encrypt rate limits make hammering costly). */
export const ACME_RETRY_MS = 10 * 60_000;

/** When a certificate valid from `notBefore` to `notAfter` is due for renewal (ms since the epoch). */
export function acmeRenewAt(notBefore: Date, notAfter: Date): number {
  return notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) * ACME_RENEW_AT;
}

/** Whether a stored certificate can be kept: it covers exactly `names` and is not yet due. */
export function storedIsUsable(cert: { names: readonly string[]; notBefore: Date; notAfter: Date }, names: readonly string[], nowMs: number): boolean {
  const want = [...names].map((n) => n.toLowerCase()).sort();
  const have = [...cert.names].map((n) => n.toLowerCase()).sort();
  return want.length === have.length && want.every((n, i) => n === have[i]) && nowMs < acmeRenewAt(cert.notBefore, cert.notAfter);
}

/** Writes `text` to `path` through a temp file and a rename, mode 0600: never half a key on disk. */
async function atomicWrite(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}

function parse(certPem: string, keyPem: string): AcmeCertificate {
  const leaf = new X509Certificate(certPem);
  const names = (leaf.subjectAltName ?? '')
    .split(/,\s*/)
    .map((p) => /^DNS:(.+)$/.exec(p.trim())?.[1])
    .filter((n): n is string => n !== undefined);
  return { certPem, keyPem, names, notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo) };
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Starts the manager: loads the stored certificate or orders one, and keeps renewing. */
export function createAcmeManager(deps: AcmeDeps): AcmeManager {
  const { spec, clock, logger } = deps;
  const scheduler = deps.scheduler ?? systemScheduler;
  const files = { account: join(spec.storage, 'account.key'), cert: join(spec.storage, 'cert.pem'), key: join(spec.storage, 'key.pem') };
  const challenges = new Map<string, string>();
  const alpn = new Map<string, SecureContext>();
  let cert: AcmeCertificate | undefined;
  let timer: TimerHandle | undefined;
  let closed = false;

  const clientFor = async (): Promise<acme.Client> => {
    await mkdir(spec.storage, { recursive: true, mode: 0o700 });
    let accountKey = await readOptional(files.account);
    if (accountKey === undefined) {
      accountKey = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
      await atomicWrite(files.account, accountKey);
    }
    if (spec.directoryCA !== undefined) {
      // A private ACME CA (step-ca, pebble): trust its TLS root for the directory's HTTPS only.
      // acme-client talks through one shared axios instance, so this is process-wide.
      acme.axios.defaults.httpsAgent = new HttpsAgent({ ca: await readFile(spec.directoryCA, 'utf8') });
    }
    return new acme.Client({ directoryUrl: spec.directory, accountKey });
  };

  const order = async (): Promise<AcmeCertificate> => {
    const client = await clientFor();
    const [key, csr] = await acme.crypto.createCsr({ commonName: spec.names[0], altNames: [...spec.names] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
    const certPem = await client.auto({
      csr,
      email: spec.email,
      termsOfServiceAgreed: true,
      challengePriority: [spec.challenge],
      // acme-client's own pre-check fetches http://NAME/ on port 80 from here; the CA checks anyway.
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        if ((challenge.type as string) === 'tls-alpn-01') {
          const [k, c] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey('P-256'));
          alpn.set(authz.identifier.value.toLowerCase(), createSecureContext({ cert: c, key: k, minVersion: 'TLSv1.2' }));
        } else challenges.set(challenge.token, keyAuthorization);
      },
      challengeRemoveFn: async (authz, challenge) => {
        if ((challenge.type as string) === 'tls-alpn-01') alpn.delete(authz.identifier.value.toLowerCase());
        else challenges.delete(challenge.token);
      },
    });
    const fresh = parse(certPem, key.toString());
    // The key first: a crash between the writes leaves a new key beside the old cert, which the next
    // start reads as unusable (they don't fit) and orders again, never a cert without its key.
    await atomicWrite(files.key, fresh.keyPem);
    await atomicWrite(files.cert, fresh.certPem);
    return fresh;
  };

  const schedule = (delayMs: number): void => {
    if (closed) return;
    timer?.cancel();
    timer = scheduler.after(Math.min(Math.max(0, delayMs), MAX_TIMER_MS), () => void tick());
  };
  const put = (c: AcmeCertificate): void => {
    cert = c;
    deps.onCertificate(c);
    // A certificate due the moment it arrives (the local clock far ahead of the CA's) must not turn
    // into an order loop against the CA: wait the retry interval instead.
    const delay = acmeRenewAt(c.notBefore, c.notAfter) - clock.now();
    schedule(delay > 0 ? delay : ACME_RETRY_MS);
  };
  const renew = async (): Promise<void> => {
    try {
      const fresh = await order();
      if (closed) return;
      logger.info({ msg: 'ACME certificate obtained', names: fresh.names, notAfter: fresh.notAfter.toISOString() });
      put(fresh);
    } catch (err) {
      logger.error({ msg: 'ACME order failed; retrying later', names: spec.names, err: err instanceof Error ? err.message : String(err), retryInMs: ACME_RETRY_MS });
      schedule(ACME_RETRY_MS);
    }
  };
  async function tick(): Promise<void> {
    timer = undefined;
    if (closed) return;
    // A long timer is capped by setTimeout's limit: sleep again until renewal is really due.
    if (cert !== undefined && clock.now() < acmeRenewAt(cert.notBefore, cert.notAfter)) {
      schedule(acmeRenewAt(cert.notBefore, cert.notAfter) - clock.now());
      return;
    }
    await renew();
  }

  const start = async (): Promise<void> => {
    const [certPem, keyPem] = await Promise.all([readOptional(files.cert), readOptional(files.key)]);
    if (certPem !== undefined && keyPem !== undefined) {
      try {
        const stored = parse(certPem, keyPem);
        if (storedIsUsable(stored, spec.names, clock.now())) {
          logger.info({ msg: 'ACME certificate loaded', names: stored.names, notAfter: stored.notAfter.toISOString() });
          put(stored);
          return;
        }
      } catch {
        /* unreadable: order a new one */
      }
    }
    await renew();
  };

  return {
    current: () => cert,
    challengeAnswer: (token) => challenges.get(token),
    alpnPending: () => alpn.size > 0,
    alpnChallengeContext: (servername) => alpn.get(servername.toLowerCase()),
    // Never rejects: an unreadable storage directory is logged and retried like a failed order.
    ready: start().catch((err: unknown) => {
      logger.error({ msg: 'ACME order failed; retrying later', names: spec.names, err: err instanceof Error ? err.message : String(err), retryInMs: ACME_RETRY_MS });
      schedule(ACME_RETRY_MS);
    }),
    close: () => {
      closed = true;
      timer?.cancel();
      timer = undefined;
    },
  };
}
