/**
 * The gateway's own certificate, when `tls.cert` is absent: issued by the built-in CA for
 * `tls.serverNames` (IP entries as IP SANs) with the gateway's SPIFFE id spiffe://TD/tollgate, used
 * both to serve and as the workload identity for upstream mTLS. Renewed at 2/3 of its lifetime.
 */
import { isIP } from 'node:net';
import { ensureCaAuthority } from '../ca/authority.js';
import type { Authority } from '../ca/authority.js';
import { generateKeyPair, privateKeyToPem } from '../ca/x509.js';
import type { Clock } from '../core/clock.js';
import { systemScheduler, type Scheduler, type TimerHandle } from '../core/scheduler.js';

/** A key and the certificate chain for it, as TLS options want them (PEM). */
export interface ServingCredentials {
  /** The leaf alone. */
  readonly certPem: string;
  /** The leaf followed by the intermediate: pass this as `cert`. */
  readonly chainPem: string;
  readonly keyPem: string;
  readonly notAfter: Date;
}

/** What the rotation needs. */
export interface CertRotationDeps {
  readonly authority: Authority;
  readonly serverNames: readonly string[];
  readonly trustDomain: string;
  /** Lifetime of each certificate (e.g. `ca.workloadTTL`). */
  readonly ttlMs: number;
  readonly clock: Clock;
  /** Sets the renewal timers (default: real, unref'd timers). */
  readonly scheduler?: Scheduler;
  /** Called with each renewed certificate (not the first one: read that with `current()`). */
  onRotate(creds: ServingCredentials): void;
  /** Called when a renewal fails; it is retried. */
  onError?(err: unknown): void;
}

/** A running rotation. */
export interface CertRotation {
  /** The newest credentials. */
  current(): ServingCredentials;
  /**
   * Issues a certificate for new names and lifetime now and renews that one from then on (a reload
   * changed `tls.serverNames` or `ca.workloadTTL`). On failure nothing changes. Does not call `onRotate`:
   * the reload that asked puts the new certificate in force itself.
   */
  replan(serverNames: readonly string[], ttlMs: number): Promise<void>;
  /** Stops renewing. */
  close(): void;
}

/** The gateway's own SPIFFE id in a trust domain. */
export function gatewaySpiffeId(trustDomain: string): string {
  return `spiffe://${trustDomain}/tollgate`;
}

/** Renew once this fraction of the lifetime has passed. */
const RENEW_AT = 2 / 3;
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_RETRY_MS = 60_000;

async function issueServing(deps: CertRotationDeps): Promise<ServingCredentials & { issuedAt: number }> {
  const dns = deps.serverNames.filter((n) => isIP(n) === 0);
  const ip = deps.serverNames.filter((n) => isIP(n) !== 0);
  const keys = await generateKeyPair();
  const issuedAt = deps.clock.now();
  const issued = await deps.authority.issue({
    id: gatewaySpiffeId(deps.trustDomain),
    dns,
    ip,
    ttlMs: deps.ttlMs,
    publicKey: keys.publicKey,
    // Served and renewed here, never through the CA API: a replica starting while Redis is down still serves.
    indexOptional: true,
  });
  return { certPem: issued.certPem, chainPem: issued.chainPem, keyPem: await privateKeyToPem(keys.privateKey), notAfter: issued.notAfter, issuedAt };
}

/**
 * Issues the first certificate (resolving once it exists), then renews it at 2/3 of its lifetime on
 * an unref'd timer, so the rotation never keeps the process alive. A failed renewal is retried after
 * a tenth of the lifetime (at most a minute) while the current certificate is still valid.
 */
export async function createCertRotation(initial: CertRotationDeps): Promise<CertRotation> {
  let deps = initial;
  let creds = await issueServing(deps);
  const scheduler = deps.scheduler ?? systemScheduler;
  let timer: TimerHandle | undefined;
  let closed = false;

  const schedule = (delayMs: number): void => {
    if (closed) return;
    timer = scheduler.after(Math.min(Math.max(0, delayMs), MAX_TIMER_MS), tick);
  };
  const renewAt = (): number => creds.issuedAt + deps.ttlMs * RENEW_AT;
  const tick = (): void => {
    timer = undefined;
    if (closed) return;
    // A long timer is capped by setTimeout's limit: go back to sleep until renewal is really due.
    if (deps.clock.now() < renewAt()) {
      schedule(renewAt() - deps.clock.now());
      return;
    }
    const plan = deps;
    issueServing(plan).then(
      (fresh) => {
        // A replan while this renewal ran has put a newer plan in force: this one is stale.
        if (closed || plan !== deps) return;
        creds = fresh;
        schedule(renewAt() - deps.clock.now());
        deps.onRotate(stripped(fresh));
      },
      (err: unknown) => {
        if (closed || plan !== deps) return;
        deps.onError?.(err);
        schedule(Math.min(deps.ttlMs / 10, MAX_RETRY_MS));
      },
    );
  };
  schedule(renewAt() - deps.clock.now());

  return {
    current: () => stripped(creds),
    replan: async (serverNames, ttlMs) => {
      const planned = { ...deps, serverNames: [...serverNames], ttlMs };
      const fresh = await issueServing(planned);
      if (closed) return;
      deps = planned;
      creds = fresh;
      timer?.cancel();
      timer = undefined;
      schedule(renewAt() - deps.clock.now());
    },
    close: () => {
      closed = true;
      timer?.cancel();
      timer = undefined;
    },
  };
}

function stripped(c: ServingCredentials): ServingCredentials {
  return { certPem: c.certPem, chainPem: c.chainPem, keyPem: c.keyPem, notAfter: c.notAfter };
}

/** Opens the CA in `dir`, or initialises it when the directory is empty or missing (first run). */
export function ensureCa(dir: string, trustDomain: string, clock: Clock): Promise<Authority> {
  return ensureCaAuthority(dir, trustDomain, clock);
}
