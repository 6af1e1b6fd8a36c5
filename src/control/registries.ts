/**
 * State that outlives a config snapshot, keyed by definition: upstream pools (targets' health,
 * connections, health checkers). A reload asks for every pool it needs; an unchanged definition gets
 * the running pool back, a new one is built, and `retire` closes the ones no longer asked for.
 */
import { createHash } from 'node:crypto';
import { Pool, buildConnector, type Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import type { Random } from '../core/random.js';
import type { DnsSpec, UpstreamSpec } from '../spec/schema.js';
import type { PoolRuntime } from '../runtime/snapshot.js';
import { createPool } from '../upstream/pool.js';
import { isAvailable, newTargetState } from '../upstream/target-state.js';
import { createHealthChecker, probeTimeoutMs } from './health-checker.js';
import { isDynamicPool } from '../upstream/resolved-targets.js';
import type { Scheduler } from '../core/scheduler.js';
import type { DnsClient } from './dns-resolver.js';
import { createResolvedPool } from './resolved-pool.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

/** TLS material for `https://` targets with `tls.identity: workload`. */
export interface UpstreamTlsSource {
  /** Current workload credentials and the roots to verify upstreams with. */
  current(): { certPem: string; keyPem: string; caPem: string } | undefined;
}

/** How long dialling a target may take before it counts as a connect failure. */
const CONNECT_TIMEOUT_MS = 5_000;

/** Streams per HTTP/2 session to a target (Node's and undici's default max concurrent streams). */
const H2_STREAMS = 100;

/**
 * The socket factory for one pool's targets. With `tls` (upstream mTLS) every new connection presents the
 * workload certificate current at dial time and verifies the target against the built-in root only, so a
 * rotated workload certificate is used without rebuilding the pool; without credentials yet, it still
 * verifies (against the system roots), which a mesh upstream fails: closed, not open. `h2` offers h2 by
 * ALPN on https:// and speaks h2c with prior knowledge on http://.
 */
function upstreamConnector(opts: { timeoutMs: number; h2: boolean; tls: UpstreamTlsSource | undefined }): buildConnector.connector {
  // useH2c is read by buildConnector (undici 7) but missing from its BuildOptions type.
  const base = { timeout: opts.timeoutMs, allowH2: opts.h2, ...(opts.h2 ? { useH2c: true } : {}) } as buildConnector.BuildOptions;
  const tls = opts.tls;
  if (tls === undefined) return buildConnector(base);
  let builtFor: string | undefined;
  let connector = buildConnector({ ...base, rejectUnauthorized: true });
  return (connectOpts, callback) => {
    const creds = tls.current();
    if (creds !== undefined && creds.certPem !== builtFor) {
      builtFor = creds.certPem;
      connector = buildConnector({ ...base, ca: creds.caPem, cert: creds.certPem, key: creds.keyPem, rejectUnauthorized: true });
    }
    connector(connectOpts, callback);
  };
}

interface PoolEntry {
  readonly key: string;
  readonly runtime: PoolRuntime;
  readonly close: () => Promise<void>;
  /** Pools with DNS targets: settles when the first resolution has finished. */
  readonly ready?: Promise<void>;
}

/** The undici connection pool of one target origin. */
function newDispatcher(origin: string, spec: UpstreamSpec, connect: buildConnector.connector, idleTimeoutMs: number): Dispatcher {
  const h2 = spec.protocol === 'h2';
  return new Pool(origin, {
    connections: spec.circuitBreaker.maxConnections,
    // HTTP/1.1: one request per connection at a time. h2: without `pipelining` undici sends one
    // stream per session; with it, up to H2_STREAMS bodiless idempotent requests share a session
    // (undici 7 never multiplexes a request with a streamed body or a non-idempotent method, so
    // each gRPC call has a session of its own). Should ALPN pick http/1.1, GETs are pipelined.
    ...(h2 ? { allowH2: true, pipelining: H2_STREAMS } : { pipelining: 1 }),
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    headersTimeout: 0,
    bodyTimeout: idleTimeoutMs,
    connect,
  });
}

export interface PoolRegistryDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly idleTimeoutMs: number;
  readonly upstreamTls: UpstreamTlsSource;
  /** Timers of the DNS resolver loops (tests); default: real timers. */
  readonly scheduler?: Scheduler;
  /** Replaces the DNS client built from `dns` (tests). */
  readonly dnsClient?: (dns: DnsSpec) => DnsClient;
  /** Operator overrides (control/overrides.ts), put on every pool built, so they survive a rebuild. */
  readonly overrides?: { applyTo(runtime: PoolRuntime): void };
}

/** Holds running pools across reloads. */
export class PoolRegistry {
  #entries = new Map<string, PoolEntry>();
  readonly #deps: PoolRegistryDeps;

  readonly #stopScrapeHook: () => void;

  constructor(deps: PoolRegistryDeps) {
    this.#deps = deps;
    // upstream_target_healthy is "healthy and not ejected"; ejections end by time, so it is read at scrape.
    this.#stopScrapeHook = deps.metrics.onScrapeUpstreamHealth(() => this.#refreshHealthGauge());
  }

  /**
   * The running pool for this name and definition, created when new. `dns` (the config's `dns`) is part
   * of the definition of pools whose targets name hosts or SRV records.
   */
  obtain(name: string, spec: UpstreamSpec, dns?: DnsSpec): PoolRuntime {
    const dynamic = dns !== undefined && isDynamicPool(spec);
    const key = `${name}\0${createHash('sha256').update(JSON.stringify(dynamic ? { spec, dns } : spec)).digest('hex')}`;
    const existing = this.#entries.get(key);
    if (existing) return existing.runtime;
    const entry = dynamic ? this.#createResolved(key, name, spec, dns) : this.#create(key, name, spec);
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

  /**
   * Settles when every pool held has finished its first DNS resolution (at once for the others), so a
   * new pool serves from its resolved targets from its first request; each resolution is bounded by
   * `dns.timeout`.
   */
  async resolved(): Promise<void> {
    await Promise.all([...this.#entries.values()].map((e) => e.ready));
  }

  /** Closes every pool (shutdown). */
  async closeAll(): Promise<void> {
    this.#stopScrapeHook();
    await this.retire(new Set());
  }

  #refreshHealthGauge(): void {
    const now = this.#deps.clock.monotonic(); // ejections are on the monotonic clock
    const gauge = this.#deps.metrics.upstreamHealthy;
    for (const { runtime } of this.#entries.values()) {
      for (const t of [...runtime.pool.primaries, ...runtime.pool.backups]) gauge.labels(runtime.name, t.url).set(isAvailable(t, now) ? 1 : 0);
    }
  }

  /** Every pool held (running, or built for a reload not yet swapped in). */
  *runtimes(): IterableIterator<PoolRuntime> {
    for (const entry of this.#entries.values()) yield entry.runtime;
  }

  /** How many pools are held (running, or built for a reload not yet swapped in). */
  get size(): number {
    return this.#entries.size;
  }

  /** A pool with targets from DNS (control/resolved-pool.ts): its target set changes in place. */
  #createResolved(key: string, name: string, spec: UpstreamSpec, dns: DnsSpec): PoolEntry {
    const deps = this.#deps;
    const h2 = spec.protocol === 'h2';
    const tls = spec.tls?.identity === 'workload' ? deps.upstreamTls : undefined;
    const resolved = createResolvedPool({
      name,
      spec,
      dns,
      clock: deps.clock,
      random: deps.random,
      logger: deps.logger,
      metrics: deps.metrics,
      scheduler: deps.scheduler,
      dnsClient: deps.dnsClient?.(dns),
      newDispatcher: (origin, connect) => newDispatcher(origin, spec, connect, deps.idleTimeoutMs),
      dataConnect: upstreamConnector({ timeoutMs: CONNECT_TIMEOUT_MS, h2, tls }),
      probeConnect: (timeoutMs) => upstreamConnector({ timeoutMs, h2, tls }),
    });
    return { key, runtime: resolved.runtime, close: () => resolved.close(), ready: resolved.ready };
  }

  #create(key: string, name: string, spec: UpstreamSpec): PoolEntry {
    const deps = this.#deps;
    const primaries = spec.targets.map((t) => newTargetState(t.url, t.weight, 'primary'));
    const backups = spec.backups.map((t) => newTargetState(t.url, t.weight, 'backup'));
    const pool = createPool(name, spec, { primaries, backups }, { clock: deps.clock, random: deps.random });
    const h2 = spec.protocol === 'h2';
    const tls = spec.tls?.identity === 'workload' ? deps.upstreamTls : undefined;
    const connect = upstreamConnector({ timeoutMs: CONNECT_TIMEOUT_MS, h2, tls });
    const dispatchers = new Map<string, Dispatcher>();
    for (const t of [...primaries, ...backups]) {
      if (dispatchers.has(t.origin)) continue;
      dispatchers.set(t.origin, newDispatcher(t.origin, spec, connect, deps.idleTimeoutMs));
    }
    for (const t of [...primaries, ...backups]) deps.metrics.upstreamHealthy.labels(name, t.url).set(1);
    let checker: { close(): void } | undefined;
    if (spec.healthCheck) {
      checker = createHealthChecker({
        pool,
        spec: spec.healthCheck,
        clock: deps.clock,
        random: deps.random,
        connect: upstreamConnector({ timeoutMs: probeTimeoutMs(spec.healthCheck), h2, tls }),
        onChange: (target, healthy) => {
          deps.metrics.upstreamHealthy.labels(name, target.url).set(healthy ? 1 : 0);
          deps.logger.warn({ msg: healthy ? 'target healthy' : 'target unhealthy', upstream: name, target: target.url, tier: target.tier });
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
    deps.overrides?.applyTo(runtime);
    return {
      key,
      runtime,
      close: async () => {
        checker?.close();
        // The scrape hook re-adds the label sets a replacing pool still uses.
        for (const t of [...primaries, ...backups]) deps.metrics.upstreamHealthy.remove(name, t.url);
        // close() lets requests in flight finish, then closes the connections.
        await Promise.all([...dispatchers.values()].map((d) => d.close().catch(() => undefined)));
      },
    };
  }
}
