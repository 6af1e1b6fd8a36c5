/**
 * The in-process counter store: one Map, bounded in memory.
 *
 * - Idle keys expire: a bucket untouched until it would be full again equals no entry, and a
 *   quota counter of a past window equals none, so both are dropped.
 * - Hard cap: at `maxKeys` entries the least recently used one is evicted (Map order is
 *   insertion order; every touch re-inserts). An evicted bucket comes back full: that is
 *   the price of the bound, paid by the quietest client.
 * Expiry is lazy and O(1) per call (a look at the few oldest entries); no timers.
 */
import { msUntilFull, takeToken, type BucketParams } from '../policy/token-bucket.js';
import type { QuotaWindow } from '../policy/quota-window.js';
import type { BucketDecision, CounterStore, QuotaDecision } from './counter-store.js';

interface BucketEntry {
  readonly kind: 'bucket';
  tokens: number;
  updatedMs: number;
  expiresMs: number;
}

interface QuotaEntry {
  readonly kind: 'quota';
  count: number;
  startMs: number;
  expiresMs: number;
}

type Entry = BucketEntry | QuotaEntry;

/** Options of `createMemoryStore`. */
export interface MemoryStoreOptions {
  /** Most entries kept at once (buckets and quota counters together). Default 100,000. */
  maxKeys?: number;
}

/** How many of the oldest entries each call inspects for expiry. */
const SWEEP_PER_CALL = 2;

/** A synchronous, bounded CounterStore for one process. */
export class MemoryStore implements CounterStore {
  readonly #entries = new Map<string, Entry>();
  readonly #maxKeys: number;

  constructor(opts: MemoryStoreOptions = {}) {
    const maxKeys = opts.maxKeys ?? 100_000;
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError('maxKeys must be a positive integer');
    this.#maxKeys = maxKeys;
  }

  /** Entries held now (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  takeToken(key: string, params: BucketParams, nowMs: number): BucketDecision {
    const found = this.#take(key, nowMs);
    const prior = found?.kind === 'bucket' ? found : undefined;
    const r = takeToken(prior, nowMs, params);
    const expiresMs = r.state.updatedMs + msUntilFull(r.state.tokens, params);
    if (prior !== undefined) {
      prior.tokens = r.state.tokens;
      prior.updatedMs = r.state.updatedMs;
      prior.expiresMs = expiresMs;
      this.#entries.set(key, prior);
    } else {
      this.#put(key, { kind: 'bucket', tokens: r.state.tokens, updatedMs: r.state.updatedMs, expiresMs });
    }
    return { allowed: r.allowed, remaining: r.remaining, retryAfterMs: r.retryAfterMs };
  }

  countQuota(key: string, limit: number, window: QuotaWindow, nowMs: number): QuotaDecision {
    const found = this.#take(key, nowMs);
    let entry = found?.kind === 'quota' && found.startMs === window.startMs ? found : undefined;
    if (entry === undefined) {
      entry = { kind: 'quota', count: 0, startMs: window.startMs, expiresMs: window.endMs };
      this.#put(key, entry);
    } else {
      this.#entries.set(key, entry);
    }
    // Capped so a flood past the limit cannot grow the number without bound.
    if (entry.count <= limit) entry.count += 1;
    return {
      allowed: entry.count <= limit,
      remaining: Math.max(0, limit - entry.count),
      resetMs: Math.max(0, window.endMs - nowMs),
    };
  }

  /** Drops every expired entry now: O(n), for an occasional timer or a test. */
  sweep(nowMs: number): void {
    for (const [key, entry] of this.#entries) if (nowMs >= entry.expiresMs) this.#entries.delete(key);
  }

  /** Forgets everything. */
  clear(): void {
    this.#entries.clear();
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }

  /** Removes `key` (to be re-inserted as the newest) and returns it unless expired. */
  #take(key: string, nowMs: number): Entry | undefined {
    this.#sweepOldest(nowMs);
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    return nowMs >= entry.expiresMs ? undefined : entry;
  }

  #put(key: string, entry: Entry): void {
    if (this.#entries.size >= this.#maxKeys) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, entry);
  }

  #sweepOldest(nowMs: number): void {
    for (let i = 0; i < SWEEP_PER_CALL; i++) {
      const first = this.#entries.entries().next();
      if (first.done === true || nowMs < first.value[1].expiresMs) return;
      this.#entries.delete(first.value[0]);
    }
  }
}

/** Creates a memory store with at most `maxKeys` entries. */
export function createMemoryStore(opts: MemoryStoreOptions = {}): MemoryStore {
  return new MemoryStore(opts);
}
