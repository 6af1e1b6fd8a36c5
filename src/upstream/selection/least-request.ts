import type { Random } from '../../core/random.js';
import type { TargetState } from '../target-state.js';
import { scanFrom, type Selector, type SelectorDeps } from './selector.js';
import { compileWeights, drawTwo, type WeightTable } from './weights.js';

/**
 * Least request by power of two choices (Envoy's LEAST_REQUEST): draw two targets, prefer the one with
 * fewer requests in flight per unit of weight. Draws are weighted and ties keep the first draw, so an
 * idle pool is shared in proportion to weight and a busy one by in-flight load per weight.
 * Then the other draw, then a plain scan.
 */
export class LeastRequestSelector implements Selector {
  readonly name = 'least-request';
  readonly #random: Random;
  readonly #pair = new Int32Array(2);
  #targets: readonly TargetState[] | undefined;
  #weights: WeightTable = compileWeights([]);

  constructor(deps: Pick<SelectorDeps, 'random'>) {
    this.#random = deps.random;
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
    if (load(targets[second] as TargetState) < load(targets[first] as TargetState)) {
      const swap = first;
      first = second;
      second = swap;
    }
    yield targets[first] as TargetState;
    if (second !== first) yield targets[second] as TargetState;
    yield* scanFrom(targets, first);
  }
}

function load(t: TargetState): number {
  return t.inFlight / Math.max(t.weight, 1e-9);
}

/** A fresh power-of-two-choices least-request selector. */
export function newLeastRequestSelector(deps: Pick<SelectorDeps, 'random'>): Selector {
  return new LeastRequestSelector(deps);
}
