import type { Clock } from '../../core/clock.js';
import type { Random } from '../../core/random.js';
import type { TargetState } from '../target-state.js';
import type { Selector, SelectorDeps } from './selector.js';
import { twoChoices, WeightCache } from './weights.js';

/** How fast latency evidence fades, ms (Finagle's and Linkerd's default decay time). */
export const DEFAULT_EWMA_DECAY_MS = 10_000;

/**
 * A cost that exceeds any real latency: a target with requests in flight but no latency yet is tried
 * once, not flooded (Finagle's `Penalty`).
 */
const PENALTY = 2 ** 47;

/**
 * Feeds one response time into the target's peak EWMA (Finagle `PeakEwma.Metric.observe`): a slower
 * sample replaces the average at once (the peak), a faster one is blended in with weight
 * exp(-elapsed / decay), so a slow target stays penalised for about `decayMs`.
 */
export function observeLatency(t: TargetState, rttMs: number, nowMonoMs: number, decayMs = DEFAULT_EWMA_DECAY_MS): void {
  const rtt = Math.max(0, rttMs);
  if (rtt > t.ewmaMs) {
    t.ewmaMs = rtt;
  } else {
    const w = Math.exp(-Math.max(0, nowMonoMs - t.ewmaStamp) / decayMs);
    t.ewmaMs = t.ewmaMs * w + rtt * (1 - w);
  }
  t.ewmaStamp = nowMonoMs;
}

/**
 * The target's cost now: its EWMA decayed toward zero for the time since the last sample (so an idle
 * slow target is eventually probed again), times (inFlight + 1), divided by weight. Pure: the decay is
 * computed, not stored.
 */
export function peakEwmaCost(t: TargetState, nowMonoMs: number, decayMs = DEFAULT_EWMA_DECAY_MS): number {
  const ewma = t.ewmaMs * Math.exp(-Math.max(0, nowMonoMs - t.ewmaStamp) / decayMs);
  const cost = ewma === 0 && t.inFlight > 0 ? PENALTY + t.inFlight : ewma * (t.inFlight + 1);
  return cost / Math.max(t.weight, 1e-9);
}

/**
 * Peak-EWMA by power of two choices (Finagle / Linkerd): draw two targets by weight and prefer the lower
 * `peakEwmaCost`; ties keep the first draw. Then the other draw, then a plain scan.
 */
export class PeakEwmaSelector implements Selector {
  readonly name = 'peak-ewma';
  readonly #random: Random;
  readonly #clock: Clock;
  readonly #decayMs: number;
  readonly #pair = new Int32Array(2);
  readonly #weights = new WeightCache();
  readonly #cost: (t: TargetState) => number;

  constructor(deps: SelectorDeps & { decayMs?: number }) {
    this.#random = deps.random;
    this.#clock = deps.clock;
    this.#decayMs = deps.decayMs ?? DEFAULT_EWMA_DECAY_MS;
    this.#cost = (t) => peakEwmaCost(t, this.#clock.monotonic(), this.#decayMs);
  }

  /** Compiles the weight table for `targets` (a no-op for the array it already has). */
  prepare(targets: readonly TargetState[]): void {
    this.#weights.of(targets);
  }

  *candidates(targets: readonly TargetState[], _key: string): Generator<TargetState, void, undefined> {
    if (targets.length === 0) return;
    yield* twoChoices(targets, this.#weights.of(targets), this.#random, this.#pair, this.#cost);
  }
}

/** A fresh peak-EWMA selector; `decayMs` defaults to 10s. */
export function newPeakEwmaSelector(deps: SelectorDeps & { decayMs?: number }): Selector {
  return new PeakEwmaSelector(deps);
}
