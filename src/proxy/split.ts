/** Weighted choice between pools of a route split (canaries). Pure. */
import type { Random } from '../core/random.js';

/** Picks an entry with probability weight / total; `total` is precomputed at compile time. */
export function pickWeighted<T extends { readonly weight: number }>(entries: readonly T[], total: number, random: Random): T {
  if (entries.length === 1) return entries[0] as T;
  let r = random.next() * total;
  for (const e of entries) {
    r -= e.weight;
    if (r < 0) return e;
  }
  return entries[entries.length - 1] as T;
}
