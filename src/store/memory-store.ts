/**
 * The in-process counter store: one bounded table of keys per limit.
 *
 * - A limit is a key prefix `<route>:<r|q>:<hash>:` (policy/rate-limit.ts builds them; route
 *   names cannot hold ':'). Each limit gets its own table of at most `maxKeysPerLimit` keys, so
 *   a client that chooses its keys (`by: header:X`, IPv6 sources) fills only the table of the
 *   limit it floods, and never pushes out another route's or kind's entries. Keys without such a
 *   prefix share one table per kind.
 * - Nothing live is ever evicted. Only provably dead entries are reclaimed: a bucket that has
 *   refilled to full (equivalent to no entry) and a quota counter whose calendar window ended.
 * - A full table refuses NEW keys: the decision is `allowed: false` with `tableFull: true`
 *   (the gateway answers 429 of the limit's kind); keys already held keep counting exactly.
 * - Buckets run on the monotonic clock (`clock.monotonic()`) when a clock is given, so a
 *   backward wall-clock step cannot stall refills; quota windows are UTC calendar windows on
 *   the wall time the caller passes (`nowMs`).
 * Expiry is lazy (a look at the oldest few entries every few calls, and at most one full sweep of a
 * full table per second); no timers.
 */
import type { Clock } from '../core/clock.js';
import { msUntilFull, takeToken, type BucketParams } from './token-bucket.js';
import type { QuotaWindow } from './quota-window.js';
import type { BucketDecision, CounterStore, QuotaDecision } from './counter-store.js';

interface BucketEntry {
  readonly kind: 'bucket';
  tokens: number;
  updatedMs: number;
  /** On the bucket clock (monotonic when a clock is given). */
  expiresMs: number;
}

interface QuotaEntry {
  readonly kind: 'quota';
  count: number;
  startMs: number;
  /** Wall time: the end of the calendar window. */
  expiresMs: number;
}

type Entry = BucketEntry | QuotaEntry;

/** Which kind of limit a table holds: the `kind` label of the key metrics. */
export type TableKind = 'rate' | 'quota';

interface Table {
  /** The key prefix of the limit (`<route>:<r|q>:<hash>:`), or `\0<kind>` for keys without one. */
  readonly id: string;
  readonly route: string;
  readonly kind: TableKind;
  readonly entries: Map<string, Entry>;
  /** Bucket-clock time of the last O(n) sweep (full tables only). */
  lastFullSweepMs: number;
  /** The key inserted last: it is already the newest, so taking it again need not move it. */
  newest: string | undefined;
  /** Calls since this table's oldest entries were last looked at. */
  calls: number;
  /** False once dropped from the store (the table caches must not hand it out again). */
  live: boolean;
}

/** Keys held by one limit's table (for the `tollgate_limit_keys` gauge). */
export interface TableUsage {
  readonly route: string;
  readonly kind: TableKind;
  readonly keys: number;
}

/** Options of `createMemoryStore`. */
export interface MemoryStoreOptions {
  /** Most keys per limit table (per route and kind). Default 100,000. */
  maxKeysPerLimit?: number;
  /** Buckets refill on `clock.monotonic()`; without a clock, on the `nowMs` passed in. */
  clock?: Clock;
  /** Called when a full table refuses a new key. */
  onKeyRejected?: (route: string, kind: TableKind) => void;
}

/**
 * Expiry looks at the oldest SWEEP_PER_CALL entries per call on average: every SWEEP_EVERY-th call it
 * looks at SWEEP_EVERY × SWEEP_PER_CALL of them (one Map iterator per batch instead of per call).
 */
const SWEEP_PER_CALL = 2;
const SWEEP_EVERY = 8;
/** How many more a full table inspects before refusing. */
const SWEEP_WHEN_FULL = 16;
/** At most one O(n) sweep of a full table per this many ms. */
const FULL_SWEEP_INTERVAL_MS = 1000;

const LIMIT_PREFIX = /^([A-Za-z0-9_.-]+):([rq]):[0-9a-f]+:/;
const OTHER_ROUTE = '-';

/** A synchronous CounterStore for one process, bounded per limit. */
export class MemoryStore implements CounterStore {
  readonly #tables = new Map<string, Table>();
  readonly #max: number;
  readonly #clock: Clock | undefined;
  readonly #onKeyRejected: ((route: string, kind: TableKind) => void) | undefined;
  /** Walks the tables one per call, so tables nobody asks any more (a reload changed the limit) empty out. */
  #cursor: Iterator<[string, Table]> | undefined;
  /** Calls since #sweepAnother last ran. */
  #calls = 0;
  /** The table of the last prefixed key, per kind of call: a route's limit asks for its table on every request. */
  #lastRate: Table | undefined;
  #lastQuota: Table | undefined;

  constructor(opts: MemoryStoreOptions = {}) {
    const max = opts.maxKeysPerLimit ?? 100_000;
    if (!Number.isInteger(max) || max < 1) throw new RangeError('maxKeysPerLimit must be a positive integer');
    this.#max = max;
    this.#clock = opts.clock;
    this.#onKeyRejected = opts.onKeyRejected;
  }

  /** Entries held now, over all tables (for tests). */
  get size(): number {
    let n = 0;
    for (const t of this.#tables.values()) n += t.entries.size;
    return n;
  }

  /** Keys held per limit table. */
  usage(): TableUsage[] {
    return [...this.#tables.values()].map((t) => ({ route: t.route, kind: t.kind, keys: t.entries.size }));
  }

  takeToken(key: string, params: BucketParams, nowMs: number): BucketDecision {
    const t = this.#bucketNow(nowMs);
    this.#sweepAnother(t, nowMs);
    const table = this.#tableOf(key, 'rate');
    const found = this.#take(table, key, t);
    const prior = found?.kind === 'bucket' ? found : undefined;
    if (found !== undefined && prior === undefined) this.#remove(table, key);
    if (prior === undefined && !this.#roomFor(table, t)) {
      // A full bucket cost nothing to hold; a refused key waits for the first bucket to refill.
      return { allowed: false, remaining: 0, retryAfterMs: 1000, tableFull: true };
    }
    const r = takeToken(prior, t, params);
    const expiresMs = r.state.updatedMs + msUntilFull(r.state.tokens, params);
    if (prior !== undefined) {
      prior.tokens = r.state.tokens;
      prior.updatedMs = r.state.updatedMs;
      prior.expiresMs = expiresMs;
      this.#put(table, key, prior);
    } else {
      this.#put(table, key, { kind: 'bucket', tokens: r.state.tokens, updatedMs: r.state.updatedMs, expiresMs });
    }
    return { allowed: r.allowed, remaining: r.remaining, retryAfterMs: r.retryAfterMs };
  }

  countQuota(key: string, limit: number, window: QuotaWindow, nowMs: number): QuotaDecision {
    this.#sweepAnother(undefined, nowMs);
    const table = this.#tableOf(key, 'quota');
    const found = this.#take(table, key, nowMs);
    // A wall clock stepped back into an earlier window keeps counting in the later one it has
    // (never a fresh counter: that would hand out a second quota).
    let entry = found?.kind === 'quota' && found.startMs >= window.startMs ? found : undefined;
    if (entry === undefined) {
      if (found !== undefined) this.#remove(table, key);
      if (!this.#roomFor(table, nowMs)) {
        return { allowed: false, remaining: 0, resetMs: Math.max(0, window.endMs - nowMs), tableFull: true };
      }
      entry = { kind: 'quota', count: 0, startMs: window.startMs, expiresMs: window.endMs };
    }
    this.#put(table, key, entry);
    // Capped so a flood past the limit cannot grow the number without bound.
    if (entry.count <= limit) entry.count += 1;
    return {
      allowed: entry.count <= limit,
      remaining: Math.max(0, limit - entry.count),
      resetMs: Math.max(0, entry.expiresMs - nowMs),
    };
  }

  peekQuota(key: string, window: QuotaWindow, nowMs: number): number {
    const m = LIMIT_PREFIX.exec(key);
    const table = this.#tables.get(m === null ? '\0quota' : (m[0] as string));
    // A plain get: looking must neither count nor move the key in the table's age order.
    const entry = table?.entries.get(key);
    if (entry?.kind !== 'quota' || nowMs >= entry.expiresMs || entry.startMs < window.startMs) return 0;
    return entry.count;
  }

  /**
   * Drops every dead entry now: O(n), for an occasional timer or a test. `nowMs` is wall time
   * (quota tables); buckets use the monotonic clock when the store has one, else `nowMs`.
   */
  sweep(nowMs: number): void {
    const bucketNow = this.#bucketNow(nowMs);
    for (const [id, table] of this.#tables) {
      const t = table.kind === 'rate' ? bucketNow : nowMs;
      for (const [key, entry] of table.entries) if (t >= entry.expiresMs) table.entries.delete(key);
      table.newest = undefined;
      if (table.entries.size === 0) this.#drop(id, table);
    }
  }

  /** Forgets everything. */
  clear(): void {
    for (const table of this.#tables.values()) table.live = false;
    this.#tables.clear();
    this.#cursor = undefined;
  }

  async close(): Promise<void> {
    this.clear();
  }

  #drop(id: string, table: Table): void {
    table.live = false;
    this.#tables.delete(id);
  }

  /** Looks at the oldest entries of the next table in turn and drops the table once empty. */
  // `bucketNow` undefined: read the bucket clock only if a rate table is swept (a quota call has no use for it).
  #sweepAnother(bucketNow: number | undefined, wallNow: number): void {
    if (++this.#calls < SWEEP_EVERY) return;
    this.#calls = 0;
    let next = this.#cursor?.next();
    if (next === undefined || next.done === true) {
      this.#cursor = this.#tables.entries();
      next = this.#cursor.next();
      if (next.done === true) return;
    }
    const [id, table] = next.value;
    this.#sweepOldest(table, table.kind === 'rate' ? (bucketNow ?? this.#bucketNow(wallNow)) : wallNow, SWEEP_EVERY * SWEEP_PER_CALL);
    // Deleting the entry the iterator stands on is safe for a Map iterator.
    if (table.entries.size === 0) this.#drop(id, table);
  }

  #bucketNow(nowMs: number): number {
    return this.#clock === undefined ? nowMs : this.#clock.monotonic();
  }

  #tableOf(key: string, opKind: TableKind): Table {
    // A key that starts with a table's prefix matches LIMIT_PREFIX with exactly that prefix (a route
    // name holds no ':' and the hash ends at the first ':'), so the regex is needed only on a miss.
    const last = opKind === 'rate' ? this.#lastRate : this.#lastQuota;
    if (last !== undefined && last.live && key.startsWith(last.id)) return last;
    const m = LIMIT_PREFIX.exec(key);
    const id = m === null ? `\0${opKind}` : (m[0] as string);
    let table = this.#tables.get(id);
    if (table === undefined) {
      const route = m === null ? OTHER_ROUTE : (m[1] as string);
      const kind: TableKind = m === null ? opKind : m[2] === 'r' ? 'rate' : 'quota';
      table = { id, route, kind, entries: new Map(), lastFullSweepMs: Number.NEGATIVE_INFINITY, newest: undefined, calls: 0, live: true };
      this.#tables.set(id, table);
    }
    if (m !== null) {
      if (opKind === 'rate') this.#lastRate = table;
      else this.#lastQuota = table;
    }
    return table;
  }

  /** Removes `key` (to be re-inserted as the newest) and returns it unless expired. */
  // (The table may have just been dropped as empty by #sweepAnother: #tableOf runs after it.)
  // The caller re-inserts it with `#put`; the newest key is left in place (it would go back where it is).
  #take(table: Table, key: string, t: number): Entry | undefined {
    if (++table.calls >= SWEEP_EVERY) {
      table.calls = 0;
      this.#sweepOldest(table, t, SWEEP_EVERY * SWEEP_PER_CALL);
    }
    const entry = table.entries.get(key);
    if (entry === undefined) return undefined;
    if (t >= entry.expiresMs) {
      this.#remove(table, key);
      return undefined;
    }
    if (key !== table.newest) table.entries.delete(key);
    return entry;
  }

  #remove(table: Table, key: string): void {
    table.entries.delete(key);
    if (key === table.newest) table.newest = undefined;
  }

  /** Stores `entry` at `key` as the newest entry of `table`. */
  #put(table: Table, key: string, entry: Entry): void {
    table.entries.set(key, entry);
    table.newest = key;
  }

  /** True when `table` can take one more key, after reclaiming what is provably dead. */
  #roomFor(table: Table, t: number): boolean {
    if (table.entries.size < this.#max) return true;
    this.#sweepOldest(table, t, SWEEP_WHEN_FULL);
    if (table.entries.size < this.#max) return true;
    // Touch order is not expiry order (buckets of different fill); look at all, but rarely, so a
    // flood against a full table costs O(1) per request.
    if (t - table.lastFullSweepMs >= FULL_SWEEP_INTERVAL_MS || t < table.lastFullSweepMs) {
      table.lastFullSweepMs = t;
      for (const [key, entry] of table.entries) if (t >= entry.expiresMs) table.entries.delete(key);
      if (table.newest !== undefined && !table.entries.has(table.newest)) table.newest = undefined;
      if (table.entries.size < this.#max) return true;
    }
    this.#onKeyRejected?.(table.route, table.kind);
    return false;
  }

  #sweepOldest(table: Table, t: number, n: number): void {
    let i = 0;
    for (const [key, entry] of table.entries) {
      if (i++ >= n || t < entry.expiresMs) return;
      this.#remove(table, key);
    }
  }
}

/** Creates a memory store with at most `maxKeysPerLimit` keys per limit table. */
export function createMemoryStore(opts: MemoryStoreOptions = {}): MemoryStore {
  return new MemoryStore(opts);
}
