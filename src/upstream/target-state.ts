/** Live state of one upstream target. Mutable on purpose: it survives reloads by key (control/registries.ts). */
export interface TargetState {
  readonly url: string;
  /** scheme://host:port, what the connection pool dials. */
  readonly origin: string;
  readonly weight: number;
  readonly tier: 'primary' | 'backup';
  /** Active health: true until the health checker says otherwise. */
  healthy: boolean;
  /** Passive health: epoch ms until which the target is ejected, or 0. */
  ejectedUntil: number;
  inFlight: number;
  /** Exponentially weighted moving average of latency, ms (0 until the first response). */
  ewmaMs: number;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
}

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
    consecutiveFailures: 0,
    consecutiveSuccesses: 0,
  };
}

/** Whether the target may take traffic at `nowMs`. */
export function isAvailable(t: TargetState, nowMs: number): boolean {
  return t.healthy && t.ejectedUntil <= nowMs;
}
