import { hash32 } from '../hash.js';
import type { TargetState } from '../target-state.js';
import { scanFrom, type Selector } from './selector.js';

/** Maglev table size: prime, and ≫ the number of targets so each one's share is even (Envoy's default). */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;

/** A compiled Maglev lookup table: slot → index into the target array it was built for. */
export interface MaglevTable {
  readonly size: number;
  readonly slots: Uint16Array | Uint32Array;
}

/**
 * Builds a weighted Maglev table (Eisenbud et al., NSDI '16; weighting as in Envoy's maglev_lb.cc).
 * Each target's permutation comes from its URL alone and targets are filled in URL order, so the same
 * set gives the same table whatever order the config lists it in, and adding or removing one of N
 * targets moves about 1/N of the keys.
 */
export function compileMaglev(targets: readonly TargetState[], size = DEFAULT_MAGLEV_TABLE_SIZE): MaglevTable {
  const n = targets.length;
  const slots = n < 0xffff ? new Uint16Array(size) : new Uint32Array(size);
  if (n === 0) return { size, slots };
  const order = targets.map((_, i) => i).sort((a, b) => compare((targets[a] as TargetState).url, (targets[b] as TargetState).url));
  // pos[k] walks target k's permutation offset, offset + skip, offset + 2·skip, … (mod size).
  const pos = new Uint32Array(n);
  const skip = new Uint32Array(n);
  const weight = new Float64Array(n);
  const credit = new Float64Array(n);
  let maxWeight = 0;
  for (const t of targets) maxWeight = Math.max(maxWeight, t.weight);
  for (let k = 0; k < n; k++) {
    const t = targets[order[k] as number] as TargetState;
    pos[k] = hash32(t.url, 0x9747b28c) % size;
    skip[k] = (hash32(t.url, 0x1b873593) % (size - 1)) + 1;
    weight[k] = maxWeight > 0 ? Math.max(0, t.weight) / maxWeight : 1;
  }
  const empty = 0xffffffff;
  const filled = new Uint32Array(size).fill(empty);
  let count = 0;
  for (let round = 1; count < size; round++) {
    for (let k = 0; k < n && count < size; k++) {
      const w = weight[k] as number;
      // A target of weight w (normalised to the heaviest) takes a slot in a fraction w of the rounds.
      if (w === 0 || round * w < (credit[k] as number)) continue;
      credit[k] = (credit[k] as number) + 1;
      const step = skip[k] as number;
      let c = pos[k] as number;
      while (filled[c] !== empty) {
        c += step;
        if (c >= size) c -= size;
      }
      filled[c] = order[k] as number;
      c += step;
      if (c >= size) c -= size;
      pos[k] = c;
      count++;
    }
  }
  slots.set(filled);
  return { size, slots };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Consistent hashing by Maglev: O(1) lookup of `hash(key) mod size`. When the first choice is rejected
 * the following slots give a fallback that is itself stable per key and spread by weight; after a bounded
 * walk, a plain scan. The table is rebuilt only when the target array changes.
 */
export class ConsistentHashSelector implements Selector {
  readonly name = 'consistent-hash';
  readonly #size: number;
  #targets: readonly TargetState[] | undefined;
  #table: MaglevTable | undefined;

  constructor(opts: { tableSize?: number } = {}) {
    this.#size = opts.tableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
  }

  /** Builds the table ahead of the first request (createPool calls this). */
  prepare(targets: readonly TargetState[]): void {
    if (targets === this.#targets) return;
    this.#targets = targets;
    this.#table = compileMaglev(targets, this.#size);
  }

  *candidates(targets: readonly TargetState[], key: string): Generator<TargetState, void, undefined> {
    const n = targets.length;
    if (n === 0) return;
    this.prepare(targets);
    const { slots, size } = this.#table as MaglevTable;
    const start = hash32(key) % size;
    const first = slots[start] as number;
    yield targets[first] as TargetState;
    if (n === 1) return;
    // Only reached when the first choice was rejected: allocation is fine here.
    const seen = new Uint8Array(n);
    seen[first] = 1;
    let distinct = 1;
    const maxWalk = Math.min(size, 64 * n);
    for (let step = 1; step < maxWalk && distinct < n; step++) {
      const i = slots[(start + step) % size] as number;
      if (seen[i] === 1) continue;
      seen[i] = 1;
      distinct++;
      yield targets[i] as TargetState;
    }
    if (distinct < n) yield* scanFrom(targets, first);
  }
}

/** A fresh Maglev consistent-hash selector. */
export function newConsistentHashSelector(opts: { tableSize?: number } = {}): Selector {
  return new ConsistentHashSelector(opts);
}
