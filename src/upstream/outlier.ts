import { durationMs } from '../core/duration.js';
import type { UpstreamOutcome } from '../core/types.js';
import type { OutlierDetectionSpec } from '../spec/schema.js';
import type { TargetState } from './target-state.js';

/** Compiled outlier detection (OutlierDetectionSpec with durations in ms). */
export interface OutlierPolicy {
  readonly consecutiveFailures: number;
  readonly ejectionTimeMs: number;
  readonly maxEjectionPercent: number;
  /** Cap on the ejection-time multiplier (Envoy's max_ejection_time is 10 × base by default). */
  readonly maxEjectionMultiplier: number;
}

/** The default cap on how many base ejection times one ejection may last. */
export const DEFAULT_MAX_EJECTION_MULTIPLIER = 10;

/** Compiles the config block; durations were validated by the schema. */
export function compileOutlierPolicy(spec: OutlierDetectionSpec, maxEjectionMultiplier = DEFAULT_MAX_EJECTION_MULTIPLIER): OutlierPolicy {
  return Object.freeze({
    consecutiveFailures: spec.consecutiveFailures,
    ejectionTimeMs: durationMs(spec.ejectionTime),
    maxEjectionPercent: spec.maxEjectionPercent,
    maxEjectionMultiplier,
  });
}

/** Whether an attempt's outcome counts against the target (every outcome but 'ok'). */
export function isFailure(outcome: UpstreamOutcome): boolean {
  return outcome !== 'ok';
}

/** How many of `peers` are ejected at `nowMs`. */
export function ejectedCount(peers: readonly TargetState[], nowMs: number): number {
  let n = 0;
  for (const p of peers) if (p.ejectedUntil > nowMs) n++;
  return n;
}

/**
 * How many of `total` targets may be ejected at once: floor(total × percent / 100). When that is zero
 * (one target at 50 %), nothing is ejected: a lone target is better served than refused.
 */
export function maxEjected(total: number, percent: number): number {
  return Math.floor((total * percent) / 100 + 1e-9);
}

/**
 * Feeds one attempt's outcome into passive health (Envoy's consecutive-5xx / gateway-failure detector).
 * A success resets the failure count; `consecutiveFailures` failures in a row eject the target for
 * ejectionTime × (its ejection count, capped at `maxEjectionMultiplier`), unless that would take more than
 * `maxEjectionPercent` of `peers` (the target's tier, itself included) out at once, in which case the
 * count stays and the next failure tries again. The ejection count decays by one per ejection time spent
 * back in service, so a target that recovered for good starts again from one. Returns true when this
 * outcome ejected the target.
 */
export function observeOutcome(t: TargetState, outcome: UpstreamOutcome, peers: readonly TargetState[], policy: OutlierPolicy, nowMs: number): boolean {
  if (!isFailure(outcome)) {
    t.consecutiveFailures = 0;
    return false;
  }
  t.consecutiveFailures++;
  // Late answers from requests sent before the ejection must not extend it.
  if (t.ejectedUntil > nowMs) return false;
  if (t.consecutiveFailures < policy.consecutiveFailures) return false;
  if (ejectedCount(peers, nowMs) + 1 > maxEjected(peers.length, policy.maxEjectionPercent)) return false;
  const base = policy.ejectionTimeMs;
  const backInService = t.ejectedUntil > 0 ? nowMs - t.ejectedUntil : Infinity;
  const decayed = Math.max(0, t.ejections - Math.floor(backInService / base));
  t.ejections = decayed + 1;
  t.ejectedUntil = nowMs + base * Math.min(t.ejections, policy.maxEjectionMultiplier);
  t.consecutiveFailures = 0;
  return true;
}
