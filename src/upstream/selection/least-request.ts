import type { Random } from '../../core/random.js';
import type { TargetState } from '../target-state.js';
import type { Selector, SelectorDeps } from './selector.js';
import { twoChoices, WeightCache } from './weights.js';

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
  readonly #weights = new WeightCache();

  constructor(deps: Pick<SelectorDeps, 'random'>) {
    this.#random = deps.random;
  }

  /** Compiles the weight table for `targets` (a no-op for the array it already has). */
  prepare(targets: readonly TargetState[]): void {
    this.#weights.of(targets);
  }

  *candidates(targets: readonly TargetState[], _key: string): Generator<TargetState, void, undefined> {
    if (targets.length === 0) return;
    yield* twoChoices(targets, this.#weights.of(targets), this.#random, this.#pair, load);
  }
}

function load(t: TargetState): number {
  return t.inFlight / Math.max(t.weight, 1e-9);
}

/** A fresh power-of-two-choices least-request selector. */
export function newLeastRequestSelector(deps: Pick<SelectorDeps, 'random'>): Selector {
  return new LeastRequestSelector(deps);
}
