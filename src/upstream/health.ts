import type { TargetState } from './target-state.js';

/** How many probes in a row flip a target's active health (HealthCheckSpec). */
export interface HealthThresholds {
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

/**
 * Feeds one active probe result into the target (pingora `observe_health`): `unhealthyThreshold` failures
 * in a row mark it down, `healthyThreshold` successes in a row mark it up again. Returns true when
 * `healthy` flipped. Pure apart from the counters on `s`.
 */
export function observeProbe(s: TargetState, ok: boolean, t: HealthThresholds): boolean {
  if (ok) {
    s.probeFailures = 0;
    s.probeSuccesses++;
    if (!s.healthy && s.probeSuccesses >= t.healthyThreshold) {
      s.healthy = true;
      return true;
    }
    return false;
  }
  s.probeSuccesses = 0;
  s.probeFailures++;
  if (s.healthy && s.probeFailures >= t.unhealthyThreshold) {
    s.healthy = false;
    return true;
  }
  return false;
}
