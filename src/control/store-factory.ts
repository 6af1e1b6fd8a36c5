/** Builds the counter store that `store` in the config asks for. */
import { hostname } from 'node:os';
import type { Clock } from '../core/clock.js';
import { systemRandom } from '../core/random.js';
import type { StoreSpec } from '../spec/schema.js';
import type { CounterStore } from '../store/counter-store.js';
import { createMemoryStore } from '../store/memory-store.js';
import { createRedisStore, redisStoreOptions } from '../store/redis-store.js';
import { createFailoverStore } from '../store/failover-store.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

export interface ManagedStore {
  readonly store: CounterStore;
  close(): Promise<void>;
}

export interface StoreFactoryDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** For `workers > 1` with the memory store: the store that the cluster primary serves. */
  readonly clusterStore?: () => CounterStore;
}

/** memory → this process (or the cluster primary's); redis → shared, falling back per `onStoreFailure`. */
export async function createStoreFor(spec: StoreSpec, deps: StoreFactoryDeps): Promise<ManagedStore> {
  if (spec.type === 'memory') {
    const store = deps.clusterStore?.() ?? createMemoryStore();
    return { store, close: () => store.close() };
  }
  const shared = createRedisStore({
    ...redisStoreOptions(spec.redis),
    onError: (err) => {
      deps.metrics.storeErrors.labels('redis').inc();
      deps.logger.debug({ msg: 'redis connection error', err: err.message });
    },
  });
  const store = createFailoverStore({
    shared,
    onStoreFailure: spec.onStoreFailure,
    replicaId: `${hostname()}:${process.pid}:${systemRandom.hex(4)}`,
    clock: deps.clock,
    onStateChange: (state, cause) => {
      deps.metrics.storeState.labels('shared').set(state === 'shared' ? 1 : 0);
      deps.metrics.storeState.labels('local').set(state === 'local' ? 1 : 0);
      if (state === 'local') {
        deps.logger.error({ msg: 'counter store unreachable; counting locally', mode: spec.onStoreFailure, err: cause instanceof Error ? cause.message : undefined });
      } else {
        deps.logger.warn({ msg: 'counter store back; shared counting resumed' });
      }
    },
  });
  deps.metrics.storeState.labels('shared').set(1);
  return { store, close: () => store.close() };
}
