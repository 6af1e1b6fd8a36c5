import type { Clock } from '../../core/clock.js';
import type { Random } from '../../core/random.js';
import type { TargetState } from '../target-state.js';

/**
 * A load-balancing algorithm. `candidates` yields targets in order of preference: the first is the
 * first choice, and the caller keeps iterating while a candidate cannot be used (unhealthy, ejected,
 * already tried). Every target of `targets` appears at least once before the iteration ends, so a
 * caller that walks to the end has seen them all. Selection never looks at health: the pool decides.
 *
 * A selector compiles its tables for one target array and keeps them while it is called with that same
 * array (identity); a different array makes it recompile, so give each tier its own selector.
 */
export interface Selector {
  readonly name: string;
  candidates(targets: readonly TargetState[], key: string): Iterable<TargetState>;
  /** Compiles the tables for `targets` now rather than on the first request (createPool calls it). */
  prepare?(targets: readonly TargetState[]): void;
}

/** What selectors may depend on: time (peak-ewma decay) and randomness (random, P2C draws). */
export interface SelectorDeps {
  readonly clock: Clock;
  readonly random: Random;
}

/** Builds a fresh selector with its own state. */
export type NewSelector = (deps: SelectorDeps) => Selector;

/**
 * Yields every target once, starting after `from` and wrapping: the tail of every selector's iteration,
 * which guarantees the "every target appears" promise however the algorithm's own choices went.
 */
export function* scanFrom(targets: readonly TargetState[], from: number): Generator<TargetState, void, undefined> {
  const n = targets.length;
  for (let i = 1; i <= n; i++) yield targets[(from + i) % n] as TargetState;
}
