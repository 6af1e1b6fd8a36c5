/**
 * Quota keys at or above 80 % of their limit, per route, for the `tollgate_quota_keys_over_80_percent`
 * gauge. The request path only hands over keys already near their limit (policy/rate-limit.ts sets
 * `quotaNear`), one Map set each; counting and forgetting keys whose window ended happen at scrape.
 * Per process: with a shared store each replica counts the keys it served (take max(), not sum()).
 * Bounded: past `maxKeysPerRoute` keys of one route, new ones are not tracked (the gauge is then a
 * lower bound and `dropped` grows).
 */
export class QuotaWatch {
  /** route → store key → wall ms its window ends. */
  readonly #routes = new Map<string, Map<string, number>>();
  #dropped = 0;

  constructor(readonly maxKeysPerRoute = 10_000) {}

  /** A request left `key` of `route` near its quota; its window ends at `windowEndMs` (wall ms). */
  observe(route: string, key: string, windowEndMs: number): void {
    let keys = this.#routes.get(route);
    if (keys === undefined) this.#routes.set(route, (keys = new Map()));
    if (keys.size >= this.maxKeysPerRoute && !keys.has(key)) {
      this.#dropped++;
      return;
    }
    keys.set(key, windowEndMs);
  }

  /** Keys near their quota per route at `nowMs` (routes seen before and now at 0 included); forgets ended windows. */
  counts(nowMs: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const [route, keys] of this.#routes) {
      for (const [key, end] of keys) if (end <= nowMs) keys.delete(key);
      out.set(route, keys.size);
    }
    return out;
  }

  /** Keys not tracked because their route's table was full. */
  get dropped(): number {
    return this.#dropped;
  }
}
