/**
 * Limits across `workers > 1` with the memory store (SPEC §2): the node:cluster primary holds
 * the one MemoryStore and answers its workers over the IPC channel. Each decision is one
 * message each way (`process.send`, matched by id); no batching.
 *
 * A primary that does not answer within `timeoutMs` gives StoreUnavailableError, so a
 * FailoverStore can wrap the worker store exactly as it wraps Redis.
 */
import cluster, { type Worker } from 'node:cluster';
import type { BucketParams } from './token-bucket.js';
import type { QuotaWindow } from './quota-window.js';
import { StoreUnavailableError, type BucketDecision, type CounterStore, type QuotaDecision } from './counter-store.js';
import { MemoryStore } from './memory-store.js';
import { systemClock } from '../core/clock.js';

const REQUEST = 'tollgate:store:req';
const REPLY = 'tollgate:store:res';

type StoreRequest =
  | { t: typeof REQUEST; id: number; op: 'token'; key: string; params: BucketParams; now: number }
  | { t: typeof REQUEST; id: number; op: 'quota'; key: string; limit: number; window: QuotaWindow; now: number }
  | { t: typeof REQUEST; id: number; op: 'peek'; key: string; window: QuotaWindow; now: number };

type StoreReply =
  | { t: typeof REPLY; id: number; ok: true; result: BucketDecision | QuotaDecision | number }
  | { t: typeof REPLY; id: number; ok: false; error: string };

function isRequest(msg: unknown): msg is StoreRequest {
  return typeof msg === 'object' && msg !== null && (msg as { t?: unknown }).t === REQUEST;
}

function isReply(msg: unknown): msg is StoreReply {
  return typeof msg === 'object' && msg !== null && (msg as { t?: unknown }).t === REPLY;
}

/** The primary's side; `close()` stops answering. */
export interface ClusterStoreServer {
  readonly store: MemoryStore;
  close(): void;
}

/** What `serveClusterStore` listens on: node:cluster by default. */
export interface ClusterLike {
  on(event: 'message', listener: (worker: Worker, message: unknown) => void): unknown;
  off(event: 'message', listener: (worker: Worker, message: unknown) => void): unknown;
}

/**
 * In the primary: answers every worker's store requests from one MemoryStore
 * (`cluster.on('message')`). Other messages are left alone.
 */
export function serveClusterStore(opts: { store?: MemoryStore; cluster?: ClusterLike } = {}): ClusterStoreServer {
  // Bounded per limit like the one-process store (memory-store.ts); buckets on the primary's clock.
  const store = opts.store ?? new MemoryStore({ clock: systemClock });
  const source: ClusterLike = opts.cluster ?? cluster;
  const onMessage = (worker: Worker, msg: unknown): void => {
    if (!isRequest(msg)) return;
    let reply: StoreReply;
    try {
      const result =
        msg.op === 'token'
          ? store.takeToken(msg.key, msg.params, msg.now)
          : msg.op === 'quota'
            ? store.countQuota(msg.key, msg.limit, msg.window, msg.now)
            : store.peekQuota(msg.key, msg.window, msg.now);
      reply = { t: REPLY, id: msg.id, ok: true, result };
    } catch (err) {
      reply = { t: REPLY, id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    // A worker that exited meanwhile gets no answer; its store rejects its own pending calls.
    if (!worker.isConnected()) return;
    worker.send(reply, undefined, () => undefined);
  };
  source.on('message', onMessage);
  return { store, close: () => void source.off('message', onMessage) };
}

/** The IPC channel a worker store talks over: `process` in a cluster worker. */
export interface IpcChannel {
  send?(message: unknown, sendHandle?: undefined, options?: undefined, callback?: (error: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/** Options of `createClusterWorkerStore`. */
export interface ClusterWorkerStoreOptions {
  /** Longest wait for the primary's answer. Default 1000 ms. */
  timeoutMs?: number;
  channel?: IpcChannel;
}

interface Pending {
  resolve(value: BucketDecision | QuotaDecision | number): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

class ClusterWorkerStore implements CounterStore {
  readonly #channel: IpcChannel;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;
  readonly #onMessage = (msg: unknown): void => {
    if (!isReply(msg)) return;
    const p = this.#pending.get(msg.id);
    if (p === undefined) return; // timed out already
    this.#pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new StoreUnavailableError(`cluster store: ${msg.error}`));
  };

  constructor(channel: IpcChannel, timeoutMs: number) {
    this.#channel = channel;
    this.#timeoutMs = timeoutMs;
    channel.on('message', this.#onMessage);
  }

  takeToken(key: string, params: BucketParams, nowMs: number): Promise<BucketDecision> {
    return this.#ask({ t: REQUEST, id: 0, op: 'token', key, params, now: nowMs }) as Promise<BucketDecision>;
  }

  countQuota(key: string, limit: number, window: QuotaWindow, nowMs: number): Promise<QuotaDecision> {
    return this.#ask({ t: REQUEST, id: 0, op: 'quota', key, limit, window, now: nowMs }) as Promise<QuotaDecision>;
  }

  peekQuota(key: string, window: QuotaWindow, nowMs: number): Promise<number> {
    return this.#ask({ t: REQUEST, id: 0, op: 'peek', key, window, now: nowMs }) as Promise<number>;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#channel.off('message', this.#onMessage);
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new StoreUnavailableError('cluster store closed'));
      this.#pending.delete(id);
    }
  }

  #ask(req: StoreRequest): Promise<BucketDecision | QuotaDecision | number> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError('cluster store closed'));
    const id = this.#nextId++;
    req.id = id;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new StoreUnavailableError(`cluster store: no answer from the primary within ${this.#timeoutMs}ms`));
      }, this.#timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      const fail = (err: Error | null): void => {
        if (err === null || !this.#pending.has(id)) return;
        this.#pending.delete(id);
        clearTimeout(timer);
        reject(new StoreUnavailableError(`cluster store: ${err.message}`, { cause: err }));
      };
      try {
        this.#channel.send?.(req, undefined, undefined, fail);
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }
}

/**
 * In a cluster worker: a CounterStore whose every decision is made by the primary's
 * `serveClusterStore`. Throws when this process has no IPC channel.
 */
export function createClusterWorkerStore(opts: ClusterWorkerStoreOptions = {}): CounterStore {
  const channel = opts.channel ?? (process as unknown as IpcChannel);
  if (typeof channel.send !== 'function') throw new Error('createClusterWorkerStore needs an IPC channel (run it in a cluster worker)');
  return new ClusterWorkerStore(channel, opts.timeoutMs ?? 1000);
}
