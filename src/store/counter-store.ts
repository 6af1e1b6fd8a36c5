/**
 * Where rate-limit buckets and quota counters live (SPEC §2 `store`). One interface:
 * memory (this process), cluster (the node:cluster primary's memory), redis (shared),
 * failover (redis, with local counting while it is down).
 *
 * Decisions may come back synchronously (memory) or as a Promise (redis, IPC): the hot
 * path awaits only when it is handed a Promise.
 */
import type { BucketParams } from './token-bucket.js';
import type { QuotaWindow } from './quota-window.js';

/** The answer of a token bucket. */
export interface BucketDecision {
  allowed: boolean;
  /** Whole tokens left. */
  remaining: number;
  /** Milliseconds until one more token; 0 when one is available. */
  retryAfterMs: number;
  /** Set when refused because the limit's key table is full (a new key; memory store only). */
  tableFull?: true;
}

/** The answer of a quota counter. */
export interface QuotaDecision {
  allowed: boolean;
  /** Requests left in this window. */
  remaining: number;
  /** Milliseconds until the window ends. */
  resetMs: number;
  /** Set when refused because the limit's key table is full (a new key; memory store only). */
  tableFull?: true;
}

/**
 * A place to count. Keys are `<route>:<r|q>:<hash>:<client key>` (policy/rate-limit.ts): the
 * memory store bounds each `<route>:<r|q>:<hash>:` limit in its own table; other stores treat
 * keys as opaque. Callers keep bucket and quota keys apart.
 */
export interface CounterStore {
  /** Refills the bucket at `key` up to `nowMs` and takes one token when there is one. */
  takeToken(key: string, params: BucketParams, nowMs: number): BucketDecision | Promise<BucketDecision>;
  /** Counts one request in `window` for `key` and says whether it is within `limit`. */
  countQuota(key: string, limit: number, window: QuotaWindow, nowMs: number): QuotaDecision | Promise<QuotaDecision>;
  /**
   * Requests counted for `key` in `window`, without counting one (0 when none): the admin API's
   * `GET /quotas`. The memory store caps its count at limit + 1. Optional so test doubles can leave it out.
   */
  peekQuota?(key: string, window: QuotaWindow, nowMs: number): number | Promise<number>;
  /** Releases sockets and timers; decisions after close are undefined. */
  close(): Promise<void>;
}

/**
 * The store could not answer in time (down, disconnected, timed out). The only error a
 * shared store lets out; the foreign cause is kept in `cause` for the log.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'StoreUnavailableError';
  }
}

/** True for a thenable: lets the hot path stay synchronous when the store is. */
export function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown }).then === 'function';
}
