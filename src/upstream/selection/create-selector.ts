import type { BalanceName } from '../../core/types.js';
import { newConsistentHashSelector } from './consistent-hash.js';
import { newLeastRequestSelector } from './least-request.js';
import { newPeakEwmaSelector } from './peak-ewma.js';
import { newRandomSelector } from './random.js';
import { newRoundRobinSelector } from './round-robin.js';
import type { Selector, SelectorDeps } from './selector.js';

/** Options some algorithms take; the rest ignore them. */
export interface SelectorOptions {
  /** peak-ewma: how fast latency evidence fades, ms. */
  readonly ewmaDecayMs?: number;
  /** consistent-hash: Maglev table size (a prime ≫ targets). */
  readonly tableSize?: number;
}

/** A fresh selector for a `balance` name of the config (SPEC §2). */
export function createSelector(balance: BalanceName, deps: SelectorDeps, opts: SelectorOptions = {}): Selector {
  switch (balance) {
    case 'round-robin':
      return newRoundRobinSelector();
    case 'random':
      return newRandomSelector(deps);
    case 'least-request':
      return newLeastRequestSelector(deps);
    case 'consistent-hash':
      return newConsistentHashSelector(opts.tableSize === undefined ? {} : { tableSize: opts.tableSize });
    case 'peak-ewma':
      return newPeakEwmaSelector(opts.ewmaDecayMs === undefined ? deps : { ...deps, decayMs: opts.ewmaDecayMs });
  }
}
