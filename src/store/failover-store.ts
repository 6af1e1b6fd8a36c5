/**
 * Shared counting with a fallback (SPEC §2 `store.onStoreFailure`).
 *
 * While the shared store (Redis) answers, every decision is made there. On the first
 * StoreUnavailableError the store turns 'local' and stops asking Redis on the request path
 * (a hung Redis would otherwise cost every request the full command timeout):
 * - `local`: decide in-process at this replica's fair share, capacity and rate (or quota
 *   limit) divided by N, the number of live replicas last seen;
 * - `deny`: refuse with STORE_UNAVAILABLE (503, retry-after: 1).
 * A heartbeat every second both announces this replica (which is how the others learn N)
 * and probes Redis; the first one that succeeds turns the store 'shared' again and forgets
 * the local counts. The store starts 'local' and turns 'shared' on the first heartbeat that
 * answers (await `ready()` before serving), so a slow connect at start-up is not an outage.
 */
import type { Clock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import type { BucketParams } from './token-bucket.js';
import type { QuotaWindow } from './quota-window.js';
import {
  isPromiseLike,
  StoreUnavailableError,
  type BucketDecision,
  type CounterStore,
  type QuotaDecision,
} from './counter-store.js';
import { MemoryStore } from './memory-store.js';

/** 'shared': Redis decides. 'local': Redis is unreachable; decisions are local (or refused, with `deny`). */
export type FailoverState = 'shared' | 'local';

/** What the failover store needs from the shared store beyond counting (RedisStore has it). */
export interface SharedCounterStore extends CounterStore {
  /** Announces replica `id` for `ttlMs`; resolves to the number of live replicas. */
  heartbeat(id: string, ttlMs: number, nowMs: number): Promise<number>;
  /** Withdraws replica `id` (best effort, on close). */
  leave?(id: string): Promise<void>;
  /** Resolves once connected; rejects after `timeoutMs`. Awaited before the first heartbeat. */
  ready?(timeoutMs: number): Promise<void>;
}

/** Options of `createFailoverStore`. */
export interface FailoverStoreOptions {
  shared: SharedCounterStore;
  onStoreFailure: 'local' | 'deny';
  /** This replica's id in the heartbeat set; unique per process (e.g. host:pid:random). */
  replicaId: string;
  clock: Clock;
  /** Heartbeat and recovery probe period. Default 1000 ms. */
  heartbeatIntervalMs?: number;
  /** How long one heartbeat keeps a replica counted. Default 3 × the interval. */
  heartbeatTtlMs?: number;
  /** Called on every change of state, with the error that caused a switch to 'local'. */
  onStateChange?: (state: FailoverState, cause?: unknown) => void;
  /** Bound of the local store. Default 100,000. */
  maxLocalKeys?: number;
  /** How long the first heartbeat waits for the shared store to connect. Default 2000 ms. */
  connectTimeoutMs?: number;
}

/** A CounterStore that counts in the shared store and falls back per `onStoreFailure`. */
export class FailoverStore implements CounterStore {
  readonly #shared: SharedCounterStore;
  readonly #deny: boolean;
  readonly #id: string;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #onStateChange: ((state: FailoverState, cause?: unknown) => void) | undefined;
  readonly #local: MemoryStore;
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #state: FailoverState = 'local';
  /** The last state told to onStateChange; undefined until the first heartbeat settles. */
  #reported: FailoverState | undefined;
  /** Bumped on every switch to 'local': a heartbeat only ends the outage it started in. */
  #outage = 0;
  #replicas = 1;
  #beating: Promise<void> | undefined;
  readonly #firstBeat: Promise<void>;
  #closed = false;

  constructor(opts: FailoverStoreOptions) {
    this.#shared = opts.shared;
    this.#deny = opts.onStoreFailure === 'deny';
    this.#id = opts.replicaId;
    this.#clock = opts.clock;
    this.#intervalMs = opts.heartbeatIntervalMs ?? 1000;
    this.#ttlMs = opts.heartbeatTtlMs ?? this.#intervalMs * 3;
    this.#onStateChange = opts.onStateChange;
    this.#local = new MemoryStore({ maxKeysPerLimit: opts.maxLocalKeys ?? 100_000, clock: opts.clock });
    // The periodic beat starts after the first one, so it cannot race the initial connect.
    const connecting = this.#shared.ready?.(opts.connectTimeoutMs ?? 2000).catch(() => undefined);
    this.#firstBeat = Promise.resolve(connecting)
      .then(() => this.heartbeat())
      .then(() => {
        if (this.#closed) return;
        this.#timer = setInterval(() => void this.heartbeat(), this.#intervalMs);
        this.#timer.unref();
      });
  }

  /** Resolves once the first heartbeat has settled, either way ('shared' or 'local'). */
  ready(): Promise<void> {
    return this.#firstBeat;
  }

  /** Where decisions are made now. */
  get state(): FailoverState {
    return this.#state;
  }

  /** Live replicas as last seen in the heartbeat set (at least 1). */
  get replicas(): number {
    return this.#replicas;
  }

  takeToken(key: string, params: BucketParams, nowMs: number): BucketDecision | Promise<BucketDecision> {
    if (this.#state === 'local') return this.#localToken(key, params, nowMs);
    const fallback = (err: unknown): BucketDecision => {
      this.#fail(err);
      return this.#localToken(key, params, nowMs);
    };
    try {
      const d = this.#shared.takeToken(key, params, nowMs);
      return isPromiseLike(d) ? d.then(undefined, fallback) : d;
    } catch (err) {
      return fallback(err);
    }
  }

  countQuota(key: string, limit: number, window: QuotaWindow, nowMs: number): QuotaDecision | Promise<QuotaDecision> {
    if (this.#state === 'local') return this.#localQuota(key, limit, window, nowMs);
    const fallback = (err: unknown): QuotaDecision => {
      this.#fail(err);
      return this.#localQuota(key, limit, window, nowMs);
    };
    try {
      const d = this.#shared.countQuota(key, limit, window, nowMs);
      return isPromiseLike(d) ? d.then(undefined, fallback) : d;
    } catch (err) {
      return fallback(err);
    }
  }

  peekQuota(key: string, window: QuotaWindow, nowMs: number): number | Promise<number> {
    const local = (): number => {
      if (this.#deny) this.#refuse();
      return this.#local.peekQuota(key, window, nowMs);
    };
    if (this.#state === 'local' || this.#shared.peekQuota === undefined) return local();
    try {
      const n = this.#shared.peekQuota(key, window, nowMs);
      // A look that fails does not switch counting to local (the next decision will, when it fails too).
      return isPromiseLike(n) ? n.then(undefined, local) : n;
    } catch {
      return local();
    }
  }

  /**
   * One heartbeat: announce, learn N, and turn 'shared' again if Redis answers. Runs on the
   * timer; callable directly (tests, or right after startup). Never rejects.
   */
  heartbeat(): Promise<void> {
    if (this.#beating !== undefined) return this.#beating;
    this.#beating = this.#beat().finally(() => {
      this.#beating = undefined;
    });
    return this.#beating;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#firstBeat;
    clearInterval(this.#timer);
    await this.#beating;
    if (this.#state === 'shared') await this.#shared.leave?.(this.#id).catch(() => undefined);
    await this.#shared.close();
    await this.#local.close();
  }

  async #beat(): Promise<void> {
    if (this.#closed) return;
    const outage = this.#outage;
    const wasLocal = this.#state === 'local';
    try {
      const n = await this.#shared.heartbeat(this.#id, this.#ttlMs, this.#clock.now());
      this.#replicas = Math.max(1, n);
      // A heartbeat sent before a failure was seen says nothing about the failure.
      if (wasLocal && this.#state === 'local' && this.#outage === outage && !this.#closed) {
        // The next outage starts from fresh fair shares, not from counts of the last one.
        this.#local.clear();
        this.#set('shared');
      }
    } catch (err) {
      if (err instanceof StoreUnavailableError) this.#markDown(err);
      // Anything else is a bug in the shared store; it surfaces on the request path.
    }
  }

  #fail(err: unknown): void {
    if (!(err instanceof StoreUnavailableError)) throw err;
    this.#markDown(err);
  }

  #markDown(cause: unknown): void {
    if (this.#state === 'local' && this.#reported !== undefined) return;
    this.#outage += 1;
    this.#set('local', cause);
  }

  #set(state: FailoverState, cause?: unknown): void {
    this.#state = state;
    if (this.#reported === state) return;
    this.#reported = state;
    this.#onStateChange?.(state, cause);
  }

  #refuse(): never {
    throw new GatewayError('STORE_UNAVAILABLE', 'Rate limit store unavailable', { headers: { 'retry-after': '1' } });
  }

  #localToken(key: string, params: BucketParams, nowMs: number): BucketDecision {
    if (this.#deny) this.#refuse();
    const n = this.#replicas;
    const share = n === 1 ? params : { capacity: Math.max(1, params.capacity / n), refillPerMs: params.refillPerMs / n };
    return this.#local.takeToken(key, share, nowMs);
  }

  #localQuota(key: string, limit: number, window: QuotaWindow, nowMs: number): QuotaDecision {
    if (this.#deny) this.#refuse();
    // Rounded down so N replicas together never exceed the limit (one request at least).
    return this.#local.countQuota(key, Math.max(1, Math.floor(limit / this.#replicas)), window, nowMs);
  }
}

/** Creates a failover store and starts its heartbeat (an unref'd timer; stopped by close()). */
export function createFailoverStore(opts: FailoverStoreOptions): FailoverStore {
  return new FailoverStore(opts);
}
