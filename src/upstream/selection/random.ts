import type { Random } from '../../core/random.js';
import type { TargetState } from '../target-state.js';
import { scanFrom, type Selector, type SelectorDeps } from './selector.js';
import { drawWeighted, WeightCache } from './weights.js';

/**
 * Weighted random: each candidate is an independent draw proportional to weight (so a rejected target's
 * share spreads proportionally), `n` draws, then a plain scan so every target appears.
 */
export class RandomSelector implements Selector {
  readonly name = 'random';
  readonly #random: Random;
  readonly #weights = new WeightCache();

  constructor(deps: Pick<SelectorDeps, 'random'>) {
    this.#random = deps.random;
  }

  /** Compiles the weight table for `targets` (a no-op for the array it already has). */
  prepare(targets: readonly TargetState[]): void {
    this.#weights.of(targets);
  }

  *candidates(targets: readonly TargetState[], _key: string): Generator<TargetState, void, undefined> {
    const n = targets.length;
    if (n === 0) return;
    const table = this.#weights.of(targets);
    let last = 0;
    for (let i = 0; i < n; i++) {
      last = drawWeighted(table, this.#random);
      yield targets[last] as TargetState;
    }
    yield* scanFrom(targets, last);
  }
}

/** A fresh weighted random selector. */
export function newRandomSelector(deps: Pick<SelectorDeps, 'random'>): Selector {
  return new RandomSelector(deps);
}
