/** Live state of one upstream target. Mutable on purpose: it survives reloads by key (control/registries.ts). */
export interface TargetState {
  readonly url: string;
  /** scheme://host:port, what the connection pool dials. */
  readonly origin: string;
  readonly weight: number;
  readonly tier: 'primary' | 'backup';
  /** The configured URL a DNS-resolved target came from (`http://orders.internal:8080`, `dns+srv://…`); absent for a literal. */
  readonly source?: string;
  /** Active health: true until the health checker says otherwise. */
  healthy: boolean;
  /**
   * Passive health: monotonic ms (Clock.monotonic) until which the target is ejected, so a wall-clock
   * step cannot stretch or cut an ejection; /status converts it to wall time for display only. Not
   * ejected when it is in the past (0 when never ejected); the past value is kept because outlier.ts
   * decays the ejection count from it.
   */
  ejectedUntil: number;
  /** Attempts in flight to this target (the caller counts: pool.ts beginAttempt / endAttempt). */
  inFlight: number;
  /** Peak-EWMA latency, ms (0 until the first response); see selection/peak-ewma.ts. */
  ewmaMs: number;
  /** Monotonic ms of the last `ewmaMs` update; the cost decays from here. */
  ewmaStamp: number;
  /** Passive health: failed attempts in a row (connect-failure, reset, timeout, http-5xx). */
  consecutiveFailures: number;
  /** Passive health: successful attempts in a row. */
  consecutiveSuccesses: number;
  /** How many times outlier detection ejected this target (decays while it behaves); scales the ejection time. */
  ejections: number;
  /** Active health: passed probes in a row. */
  probeSuccesses: number;
  /** Active health: failed probes in a row. */
  probeFailures: number;
  /**
   * Operator override from the admin API (control/overrides.ts), undefined when none: `drain` and
   * `unhealthy` take no new requests (in-flight ones finish), `healthy` takes traffic whatever the
   * health check and outlier detection say. Health keeps being tracked underneath.
   */
  adminState?: TargetAdminState;
}

/** What an operator can force a target to (admin API). */
export type TargetAdminState = 'drain' | 'healthy' | 'unhealthy';

/** A fresh target state: every target starts healthy (SPEC §2). */
export function newTargetState(url: string, weight: number, tier: 'primary' | 'backup'): TargetState {
  const u = new URL(url);
  return {
    url,
    origin: u.origin,
    weight,
    tier,
    healthy: true,
    ejectedUntil: 0,
    inFlight: 0,
    ewmaMs: 0,
    ewmaStamp: 0,
    consecutiveFailures: 0,
    consecutiveSuccesses: 0,
    ejections: 0,
    probeSuccesses: 0,
    probeFailures: 0,
    adminState: undefined,
  };
}

/** Whether the target may take traffic at `nowMs` (monotonic ms). */
export function isAvailable(t: TargetState, nowMs: number): boolean {
  // One field read when no override exists.
  if (t.adminState !== undefined) return t.adminState === 'healthy';
  return t.healthy && t.ejectedUntil <= nowMs;
}
