import type { TargetState } from '../target-state.js';
import { scanFrom, type Selector } from './selector.js';

/**
 * nginx's smooth weighted round-robin (ngx_http_upstream_get_peer): every turn each target gains its
 * weight, the richest wins and pays the total. Weights 3:1 give A A B A, never A A A B.
 * Rejected candidates cost further turns, so traffic meant for a down target spreads over the others in
 * proportion to their weights; after `n` turns the iteration falls back to a plain scan.
 */
export class RoundRobinSelector implements Selector {
  readonly name = 'round-robin';
  #targets: readonly TargetState[] | undefined;
  #current = new Float64Array(0);
  #total = 0;

  *candidates(targets: readonly TargetState[], _key: string): Generator<TargetState, void, undefined> {
    const n = targets.length;
    if (n === 0) return;
    this.prepare(targets);
    let last = 0;
    for (let turn = 0; turn < n; turn++) {
      last = this.#turn(targets);
      yield targets[last] as TargetState;
    }
    yield* scanFrom(targets, last);
  }

  /** Resets the turn state for `targets` (a no-op for the array it already has). */
  prepare(targets: readonly TargetState[]): void {
    if (targets === this.#targets) return;
    this.#targets = targets;
    this.#current = new Float64Array(targets.length);
    this.#total = 0;
    for (const t of targets) this.#total += Math.max(0, t.weight);
  }

  #turn(targets: readonly TargetState[]): number {
    const current = this.#current;
    let best = 0;
    let bestWeight = -Infinity;
    for (let i = 0; i < targets.length; i++) {
      const w = (current[i] as number) + Math.max(0, (targets[i] as TargetState).weight);
      current[i] = w;
      // Strictly greater: ties go to the earlier target, as in nginx.
      if (w > bestWeight) {
        bestWeight = w;
        best = i;
      }
    }
    current[best] = (current[best] as number) - this.#total;
    return best;
  }
}

/** A fresh smooth weighted round-robin selector. */
export function newRoundRobinSelector(): Selector {
  return new RoundRobinSelector();
}
