import type { Random } from '../../core/random.js';
import type { TargetState } from '../target-state.js';
import { scanFrom } from './selector.js';

/** Cumulative weights of one target array, for weighted random draws in O(log n). */
export interface WeightTable {
  readonly cumulative: Float64Array;
  readonly total: number;
}

/** Compiles the cumulative weights of `targets` (weights below zero count as zero). */
export function compileWeights(targets: readonly TargetState[]): WeightTable {
  const cumulative = new Float64Array(targets.length);
  let total = 0;
  for (let i = 0; i < targets.length; i++) {
    total += Math.max(0, (targets[i] as TargetState).weight);
    cumulative[i] = total;
  }
  return { cumulative, total };
}

/** Index of a target drawn with probability proportional to its weight (uniform when all weigh zero). */
export function drawWeighted(table: WeightTable, random: Random): number {
  const n = table.cumulative.length;
  if (table.total <= 0) return Math.min(n - 1, Math.floor(random.next() * n));
  const r = random.next() * table.total;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((table.cumulative[mid] as number) > r) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Two weighted draws for power-of-two-choices; the second differs from the first whenever there are two
 * or more targets (redrawn a few times, then the next index, so it never loops).
 */
export function drawTwo(table: WeightTable, random: Random, out: Int32Array): void {
  const n = table.cumulative.length;
  const a = drawWeighted(table, random);
  let b = a;
  for (let tries = 0; b === a && n > 1 && tries < 4; tries++) b = drawWeighted(table, random);
  if (b === a && n > 1) b = (a + 1) % n;
  out[0] = a;
  out[1] = b;
}

/** The weight table of the last target array seen; recompiled only when a different array comes. */
export class WeightCache {
  #targets: readonly TargetState[] | undefined;
  #table: WeightTable = compileWeights([]);

  /** The table for `targets` (pools hand the same array until their target set changes). */
  of(targets: readonly TargetState[]): WeightTable {
    if (targets !== this.#targets) {
      this.#targets = targets;
      this.#table = compileWeights(targets);
    }
    return this.#table;
  }
}

/**
 * Power of two choices over a non-empty `targets`: two weighted draws, the one with the lower `cost`
 * first (ties keep the first draw), then the other, then a plain scan so every target appears.
 */
export function* twoChoices(
  targets: readonly TargetState[],
  table: WeightTable,
  random: Random,
  pair: Int32Array,
  cost: (t: TargetState) => number,
): Generator<TargetState, void, undefined> {
  drawTwo(table, random, pair);
  let first = pair[0] as number;
  let second = pair[1] as number;
  if (second !== first && cost(targets[second] as TargetState) < cost(targets[first] as TargetState)) {
    const swap = first;
    first = second;
    second = swap;
  }
  yield targets[first] as TargetState;
  if (second !== first) yield targets[second] as TargetState;
  yield* scanFrom(targets, first);
}
