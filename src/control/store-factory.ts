/**
 * Builds the counter store that `store` in the config asks for (SPEC §2), with its metrics:
 *
 * - memory, one process: a MemoryStore; decisions are synchronous.
 * - memory, `workers > 1`: the cluster primary's MemoryStore over IPC (control/cluster.ts), behind
 *   the same failover as Redis: if the primary stops answering, `onStoreFailure` applies, with
 *   N = the number of workers.
 * - redis: a RedisStore behind a FailoverStore (local fair share or deny while Redis is down).
 *
 * Remote decisions are timed (`tollgate_store_decision_seconds{store}`) and failed ones counted
 * (`tollgate_store_errors_total{store}`), heartbeats included.
 */
import { hostname } from 'node:os';
import type { Clock } from '../core/clock.js';
import { systemRandom } from '../core/random.js';
import type { StoreSpec } from '../spec/schema.js';
import type { BucketParams } from '../store/token-bucket.js';
import type { QuotaWindow } from '../store/quota-window.js';
import type { BucketDecision, CounterStore, QuotaDecision } from '../store/counter-store.js';
import { createMemoryStore } from '../store/memory-store.js';
import { createRedisStore, redisStoreOptions } from '../store/redis-store.js';
import { createFailoverStore, type FailoverState, type SharedCounterStore } from '../store/failover-store.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

/** A counter store and its lifecycle, as the gateway holds it. */
export interface ManagedStore {
  readonly store: CounterStore;
  /**
   * Resolves once the store decides as configured: at once for memory; for a shared store once
   * its first heartbeat settled (connected and counting shared, or known unreachable and counting
   * per `onStoreFailure`). Never rejects. Await it before listening.
   */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** The cluster primary's store, as a worker reaches it. */
export interface ClusterStoreLink {
  /** A store whose decisions the primary makes (createClusterWorkerStore). */
  create(): CounterStore;
  /** Workers in the group: the N of the fair share while the primary does not answer. */
  readonly workers: number;
}

/** What `createStoreFor` needs from the gateway. */
export interface StoreFactoryDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** For `workers > 1` with the memory store: the store that the cluster primary serves. */
  readonly cluster?: ClusterStoreLink;
}

/** memory → this process (or the cluster primary's); redis → shared, falling back per `onStoreFailure`. */
export async function createStoreFor(spec: StoreSpec, deps: StoreFactoryDeps): Promise<ManagedStore> {
  if (spec.type === 'memory' && deps.cluster === undefined) {
    const store = createMemoryStore({
      maxKeysPerLimit: spec.memory.maxKeysPerLimit,
      clock: deps.clock,
      onKeyRejected: (route, kind) => deps.metrics.limitKeysRejected.labels(route, kind).inc(),
    });
    const stopGauge = deps.metrics.onScrapeLimitKeys(() => {
      deps.metrics.limitKeys.reset();
      for (const u of store.usage()) deps.metrics.limitKeys.labels(u.route, u.kind).set(u.keys);
    });
    return {
      store,
      ready: () => Promise.resolve(),
      close: () => {
        stopGauge();
        return store.close();
      },
    };
  }
  let label: 'redis' | 'cluster';
  let shared: SharedCounterStore;
  if (spec.type === 'memory' && deps.cluster !== undefined) {
    label = 'cluster';
    shared = clusterAsShared(deps.cluster, deps.metrics);
  } else {
    label = 'redis';
    shared = createRedisStore({
      ...redisStoreOptions(spec.redis),
      // Connection errors repeat on every reconnect attempt; failed decisions are what we count.
      onError: (err) => deps.logger.debug({ msg: 'redis connection error', err: err.message }),
    });
  }
  const timed = new TimedSharedStore(shared, label, deps);
  let sharedBefore = false;
  const store = createFailoverStore({
    shared: timed,
    onStoreFailure: spec.onStoreFailure,
    replicaId: `${hostname()}:${process.pid}:${systemRandom.hex(4)}`,
    clock: deps.clock,
    onStateChange: (state: FailoverState, cause?: unknown) => {
      deps.metrics.storeState.labels('shared').set(state === 'shared' ? 1 : 0);
      deps.metrics.storeState.labels('local').set(state === 'local' ? 1 : 0);
      const err = cause instanceof Error ? cause.message : undefined;
      if (state === 'local') {
        deps.logger.error({ msg: 'counter store unreachable; counting locally', store: label, mode: spec.onStoreFailure, err });
      } else if (sharedBefore) {
        deps.logger.warn({ msg: 'counter store back; shared counting resumed', store: label });
      } else {
        // The first heartbeat that answers is the start, not a recovery.
        deps.logger.info({ msg: 'counter store connected', store: label });
      }
      if (state === 'shared') sharedBefore = true;
    },
  });
  return { store, ready: () => store.ready(), close: () => store.close() };
}

/**
 * The primary's store as a SharedCounterStore: its heartbeat is a decision on a private key
 * (the cheapest proof the primary answers), and the replica count is the number of workers.
 */
function clusterAsShared(link: ClusterStoreLink, metrics: Metrics): SharedCounterStore {
  const inner = link.create();
  const probe: BucketParams = { capacity: 1, refillPerMs: 1 };
  // The primary's tables refuse; the worker that asked counts it, so the metric reaches /metrics.
  const counted = <D extends { tableFull?: true }>(key: string, kind: 'rate' | 'quota', d: D): D => {
    if (d.tableFull === true) metrics.limitKeysRejected.labels(key.slice(0, Math.max(0, key.indexOf(':'))) || '-', kind).inc();
    return d;
  };
  return {
    takeToken: async (key, params, nowMs) => counted(key, 'rate', await inner.takeToken(key, params, nowMs)),
    countQuota: async (key, limit, window, nowMs) => counted(key, 'quota', await inner.countQuota(key, limit, window, nowMs)),
    peekQuota: async (key, window, nowMs) => (await inner.peekQuota?.(key, window, nowMs)) ?? 0,
    heartbeat: async (id, _ttlMs, nowMs) => {
      await inner.takeToken(`\0heartbeat:${id}`, probe, nowMs);
      return link.workers;
    },
    close: () => inner.close(),
  };
}

/** Times every remote call and counts the failed ones; otherwise passes through. */
class TimedSharedStore implements SharedCounterStore {
  readonly #inner: SharedCounterStore;
  readonly #clock: Clock;
  readonly #latency: { observe(v: number): void };
  readonly #errors: { inc(): void };

  constructor(inner: SharedCounterStore, label: string, deps: StoreFactoryDeps) {
    this.#inner = inner;
    this.#clock = deps.clock;
    this.#latency = deps.metrics.storeLatency.labels(label);
    this.#errors = deps.metrics.storeErrors.labels(label);
  }

  takeToken(key: string, params: BucketParams, nowMs: number): Promise<BucketDecision> {
    return this.#time(() => this.#inner.takeToken(key, params, nowMs));
  }

  countQuota(key: string, limit: number, window: QuotaWindow, nowMs: number): Promise<QuotaDecision> {
    return this.#time(() => this.#inner.countQuota(key, limit, window, nowMs));
  }

  peekQuota(key: string, window: QuotaWindow, nowMs: number): Promise<number> {
    return this.#time(() => this.#inner.peekQuota?.(key, window, nowMs) ?? 0);
  }

  heartbeat(id: string, ttlMs: number, nowMs: number): Promise<number> {
    return this.#inner.heartbeat(id, ttlMs, nowMs).catch((err: unknown) => {
      this.#errors.inc();
      throw err;
    });
  }

  leave(id: string): Promise<void> {
    return this.#inner.leave?.(id) ?? Promise.resolve();
  }

  ready(timeoutMs: number): Promise<void> {
    return this.#inner.ready?.(timeoutMs) ?? Promise.resolve();
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  async #time<T>(call: () => T | Promise<T>): Promise<T> {
    const start = this.#clock.monotonic();
    try {
      return await call();
    } catch (err) {
      this.#errors.inc();
      throw err;
    } finally {
      this.#latency.observe((this.#clock.monotonic() - start) / 1000);
    }
  }
}
