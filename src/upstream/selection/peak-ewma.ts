import type { Clock } from '../../core/clock.js';
import type { Random } from '../../core/random.js';
import type { TargetState } from '../target-state.js';
import { scanFrom, type Selector, type SelectorDeps } from './selector.js';
import { compileWeights, drawTwo, type WeightTable } from './weights.js';

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
  #targets: readonly TargetState[] | undefined;
  #weights: WeightTable = compileWeights([]);

  constructor(deps: SelectorDeps & { decayMs?: number }) {
    this.#random = deps.random;
    this.#clock = deps.clock;
    this.#decayMs = deps.decayMs ?? DEFAULT_EWMA_DECAY_MS;
  }

  /** Compiles the weight table for `targets` (a no-op for the array it already has). */
  prepare(targets: readonly TargetState[]): void {
    if (targets === this.#targets) return;
    this.#targets = targets;
    this.#weights = compileWeights(targets);
  }

  *candidates(targets: readonly TargetState[], _key: string): Generator<TargetState, void, undefined> {
    const n = targets.length;
    if (n === 0) return;
    this.prepare(targets);
    drawTwo(this.#weights, this.#random, this.#pair);
    let first = this.#pair[0] as number;
    let second = this.#pair[1] as number;
    if (second !== first) {
      const now = this.#clock.monotonic();
      if (peakEwmaCost(targets[second] as TargetState, now, this.#decayMs) < peakEwmaCost(targets[first] as TargetState, now, this.#decayMs)) {
        const swap = first;
        first = second;
        second = swap;
      }
    }
    yield targets[first] as TargetState;
    if (second !== first) yield targets[second] as TargetState;
    yield* scanFrom(targets, first);
  }
}

/** A fresh peak-EWMA selector; `decayMs` defaults to 10s. */
export function newPeakEwmaSelector(deps: SelectorDeps & { decayMs?: number }): Selector {
  return new PeakEwmaSelector(deps);
}
