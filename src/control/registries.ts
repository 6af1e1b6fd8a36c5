/**
 * State that outlives a config snapshot, keyed by definition: upstream pools (targets' health,
 * connections, health checkers). A reload asks for every pool it needs; an unchanged definition gets
 * the running pool back, a new one is built, and `retire` closes the ones no longer asked for.
 */
import { createHash } from 'node:crypto';
import { Pool, type Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import type { Random } from '../core/random.js';
import type { UpstreamSpec } from '../spec/schema.js';
import type { PoolRuntime } from '../runtime/snapshot.js';
import { createPool } from '../upstream/pool.js';
import { newTargetState } from '../upstream/target-state.js';
import { createHealthChecker } from './health-checker.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

/** TLS material for `https://` targets with `tls.identity: workload`. */
export interface UpstreamTlsSource {
  /** Current workload credentials and the roots to verify upstreams with. */
  current(): { certPem: string; keyPem: string; caPem: string } | undefined;
}

interface PoolEntry {
  readonly key: string;
  readonly runtime: PoolRuntime;
  readonly close: () => Promise<void>;
}

export interface PoolRegistryDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly idleTimeoutMs: number;
  readonly upstreamTls: UpstreamTlsSource;
}

/** Holds running pools across reloads. */
export class PoolRegistry {
  #entries = new Map<string, PoolEntry>();
  readonly #deps: PoolRegistryDeps;

  constructor(deps: PoolRegistryDeps) {
    this.#deps = deps;
  }

  /** The running pool for this name and definition, created when new. */
  obtain(name: string, spec: UpstreamSpec): PoolRuntime {
    const key = `${name}\0${createHash('sha256').update(JSON.stringify(spec)).digest('hex')}`;
    const existing = this.#entries.get(key);
    if (existing) return existing.runtime;
    const entry = this.#create(key, name, spec);
    this.#entries.set(key, entry);
    return entry.runtime;
  }

  /** Closes every pool not in `keep` (after a successful reload). In-flight requests finish first. */
  async retire(keep: ReadonlySet<PoolRuntime>): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [key, entry] of this.#entries) {
      if (keep.has(entry.runtime)) continue;
      this.#entries.delete(key);
      closing.push(entry.close());
    }
    await Promise.all(closing);
  }

  /** Forgets pools built for a config that was then refused (nothing else refers to them). */
  async discardExcept(keep: ReadonlySet<PoolRuntime>, running: ReadonlySet<PoolRuntime>): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [key, entry] of this.#entries) {
      if (keep.has(entry.runtime) || running.has(entry.runtime)) continue;
      this.#entries.delete(key);
      closing.push(entry.close());
    }
    await Promise.all(closing);
  }

  async closeAll(): Promise<void> {
    await this.retire(new Set());
  }

  get size(): number {
    return this.#entries.size;
  }

  #create(key: string, name: string, spec: UpstreamSpec): PoolEntry {
    const deps = this.#deps;
    const primaries = spec.targets.map((t) => newTargetState(t.url, t.weight, 'primary'));
    const backups = spec.backups.map((t) => newTargetState(t.url, t.weight, 'backup'));
    const pool = createPool(name, spec, { primaries, backups }, { clock: deps.clock, random: deps.random });
    const dispatchers = new Map<string, Dispatcher>();
    const useWorkloadTls = spec.tls?.identity === 'workload';
    for (const t of [...primaries, ...backups]) {
      if (dispatchers.has(t.origin)) continue;
      const tlsCreds = useWorkloadTls && t.origin.startsWith('https:') ? deps.upstreamTls.current() : undefined;
      dispatchers.set(
        t.origin,
        new Pool(t.origin, {
          connections: spec.circuitBreaker.maxConnections,
          pipelining: 1,
          keepAliveTimeout: 30_000,
          keepAliveMaxTimeout: 600_000,
          headersTimeout: 0,
          bodyTimeout: deps.idleTimeoutMs,
          connect: tlsCreds
            ? { ca: tlsCreds.caPem, cert: tlsCreds.certPem, key: tlsCreds.keyPem, rejectUnauthorized: true, timeout: 5_000 }
            : { timeout: 5_000 },
        }),
      );
      deps.metrics.upstreamHealthy.labels(name, t.url).set(1);
    }
    let checker: { close(): void } | undefined;
    if (spec.healthCheck) {
      const hcTls = useWorkloadTls ? deps.upstreamTls.current() : undefined;
      checker = createHealthChecker({
        pool,
        spec: spec.healthCheck,
        clock: deps.clock,
        random: deps.random,
        tls: hcTls ? { ca: hcTls.caPem, cert: hcTls.certPem, key: hcTls.keyPem } : undefined,
        onChange: (target, healthy) => {
          deps.metrics.upstreamHealthy.labels(name, target.url).set(healthy ? 1 : 0);
          deps.logger.warn({ msg: healthy ? 'target healthy' : 'target unhealthy', upstream: name, target: target.url });
        },
      });
    }
    const runtime: PoolRuntime = {
      name,
      pool,
      dispatchers,
      hashBy: spec.balance === 'consistent-hash' ? (spec.hashBy ?? 'ip') : undefined,
      retryBudget: pool.retryBudget,
    };
    return {
      key,
      runtime,
      close: async () => {
        checker?.close();
        // close() lets requests in flight finish, then closes the connections.
        await Promise.all([...dispatchers.values()].map((d) => d.close().catch(() => undefined)));
      },
    };
  }
}
