/**
 * A running pool whose targets come (partly) from DNS: its resolver loop (control/dns-resolver.ts)
 * hands over target lists, and each change is applied in place, without a reload: kept addresses keep
 * their TargetState (health, ejections, latency), new ones start healthy with a connection pool of
 * their own, removed ones take no new request and their connection pool closes once the requests on it
 * finished (undici `close()`), then they are dropped. The data path only ever reads `runtime.pool`,
 * which is swapped in one assignment.
 */
import type { Dispatcher, buildConnector } from 'undici';
import type { Clock } from '../core/clock.js';
import { durationMs } from '../core/duration.js';
import type { Random } from '../core/random.js';
import type { Scheduler } from '../core/scheduler.js';
import type { PoolRuntime } from '../runtime/snapshot.js';
import type { DnsSpec, UpstreamSpec } from '../spec/schema.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { createPool, type UpstreamPool } from '../upstream/pool.js';
import {
  diffChanges,
  diffTargets,
  mergeDesired,
  parseTargetSource,
  setWeight,
  withTargets,
  type DesiredTarget,
  type ResolutionStatus,
  type Tier,
} from '../upstream/resolved-targets.js';
import { newTargetState, type TargetState } from '../upstream/target-state.js';
import { createDnsClient, createPoolResolver, type DnsClient, type ResolvedEntry } from './dns-resolver.js';
import { createHealthChecker, probeTimeoutMs, type HealthChecker } from './health-checker.js';

/** A connector that dials with TLS server name `servername` (the resolved name, not the address). */
export function withServername(connect: buildConnector.connector, servername: string | undefined): buildConnector.connector {
  if (servername === undefined) return connect;
  return (opts, callback) => connect({ ...opts, servername }, callback);
}

export interface ResolvedPoolOptions {
  readonly name: string;
  readonly spec: UpstreamSpec;
  readonly dns: DnsSpec;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly scheduler?: Scheduler | undefined;
  /** Replaces the DNS client of `dns` (tests). */
  readonly dnsClient?: DnsClient | undefined;
  /** The connection pool of one target origin, dialling with `connect`. */
  newDispatcher(origin: string, connect: buildConnector.connector): Dispatcher;
  /** The data path's connector (upstream mTLS, h2) before the server name is set per target. */
  readonly dataConnect: buildConnector.connector;
  /** The health probes' connector (when `healthCheck` is set). */
  readonly probeConnect: (timeoutMs: number) => buildConnector.connector;
}

export interface ResolvedPool {
  readonly runtime: PoolRuntime;
  /** Settles when the first resolution round has finished. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

function isState(x: TargetState | DesiredTarget): x is TargetState {
  return 'inFlight' in x;
}

/** Builds the pool with its literal targets, starts resolving the names and applies every answer. */
export function createResolvedPool(o: ResolvedPoolOptions): ResolvedPool {
  const { name, spec, clock, random, logger, metrics } = o;
  const entries: ResolvedEntry[] = [];
  const statics: DesiredTarget[] = [];
  const tiers: [Tier, UpstreamSpec['targets']][] = [
    ['primary', spec.targets],
    ['backup', spec.backups],
  ];
  for (const [tier, list] of tiers) {
    for (const t of list) {
      const source = parseTargetSource(t.url);
      if (source.kind === 'static') statics.push({ url: t.url, weight: t.weight, tier, source: undefined, servername: undefined });
      else entries.push({ source, tier, weight: t.weight });
    }
  }

  const dispatchers = new Map<string, Dispatcher>();
  const servernames = new Map<string, string>();
  const draining = new Set<TargetState>();
  const closing = new Set<Promise<void>>();

  const make = (d: DesiredTarget): TargetState => {
    const t = newTargetState(d.url, d.weight, d.tier);
    const state: TargetState = d.source === undefined ? t : { ...t, source: d.source };
    if (!dispatchers.has(state.origin)) {
      if (d.servername !== undefined) servernames.set(state.origin, d.servername);
      dispatchers.set(state.origin, o.newDispatcher(state.origin, withServername(o.dataConnect, d.servername)));
    }
    metrics.upstreamHealthy.labels(name, state.url).set(1);
    return state;
  };

  const initial = mergeDesired([statics]);
  let pool: UpstreamPool = createPool(
    name,
    spec,
    { primaries: initial.filter((d) => d.tier === 'primary').map(make), backups: initial.filter((d) => d.tier === 'backup').map(make) },
    { clock, random },
  );
  const current = (): TargetState[] => [...pool.primaries, ...pool.backups];

  let checker: HealthChecker | undefined;
  if (spec.healthCheck) {
    const probe = o.probeConnect(probeTimeoutMs(spec.healthCheck));
    checker = createHealthChecker({
      pool,
      spec: spec.healthCheck,
      clock,
      random,
      ...(o.scheduler ? { scheduler: o.scheduler } : {}),
      // Probes dial the address with the name it was resolved from, like the data path.
      connect: (opts, callback) => {
        const host = opts.hostname.includes(':') && !opts.hostname.startsWith('[') ? `[${opts.hostname}]` : opts.hostname;
        const servername = servernames.size === 0 ? undefined : servernames.get(new URL(`${opts.protocol}//${host}:${opts.port}`).origin);
        probe(servername === undefined ? opts : { ...opts, servername }, callback);
      },
      onChange: (target, healthy) => {
        metrics.upstreamHealthy.labels(name, target.url).set(healthy ? 1 : 0);
        logger.warn({ msg: healthy ? 'target healthy' : 'target unhealthy', upstream: name, target: target.url, tier: target.tier });
      },
    });
  }

  /** A removed target: out of the pool already; its connections close when their requests finished. */
  const drain = (t: TargetState): void => {
    if (current().some((c) => c.origin === t.origin)) return; // the address is still in use (other tier)
    const d = dispatchers.get(t.origin);
    dispatchers.delete(t.origin);
    servernames.delete(t.origin);
    draining.add(t);
    const done: Promise<void> = (d?.close() ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => {
        draining.delete(t);
        closing.delete(done);
        if (!current().some((c) => c.url === t.url)) metrics.upstreamHealthy.remove(name, t.url);
      });
    closing.add(done);
  };

  const apply = (desired: DesiredTarget[]): void => {
    const dp = diffTargets(pool.primaries, desired.filter((d) => d.tier === 'primary'));
    const db = diffTargets(pool.backups, desired.filter((d) => d.tier === 'backup'));
    if (!diffChanges(dp) && !diffChanges(db)) return;
    for (const r of [...dp.reweighed, ...db.reweighed]) setWeight(r.target, r.weight);
    const primaries = dp.next.map((x) => (isState(x) ? x : make(x)));
    const backups = db.next.map((x) => (isState(x) ? x : make(x)));
    // The swap: requests from now on pick from the new set; a request holding a removed target finishes on it.
    pool = withTargets(pool, primaries, backups, { clock, random });
    checker?.track([...primaries, ...backups]);
    const removed = [...dp.removed, ...db.removed];
    for (const t of removed) drain(t);
    logger.info({
      msg: 'upstream targets changed',
      upstream: name,
      added: [...dp.added, ...db.added].map((d) => d.url),
      removed: removed.map((t) => t.url),
      reweighed: [...dp.reweighed, ...db.reweighed].map((r) => `${r.target.url}=${r.weight}`),
      targets: primaries.length + backups.length,
    });
  };

  const dns = o.dns;
  const resolver = createPoolResolver({
    entries,
    statics,
    client: o.dnsClient ?? createDnsClient(dns),
    clock,
    ...(o.scheduler ? { scheduler: o.scheduler } : {}),
    family: dns.family,
    intervalMs: spec.resolveInterval === undefined ? undefined : durationMs(spec.resolveInterval),
    minIntervalMs: durationMs(dns.minInterval),
    maxIntervalMs: durationMs(dns.maxInterval),
    noTtlIntervalMs: durationMs(dns.noTtlInterval),
    onTargets: apply,
    onResult: (source, ok, error) => {
      metrics.dnsResolutions.labels(name, source, ok ? 'success' : 'failure').inc();
      if (!ok) logger.warn({ msg: 'DNS resolution failed; keeping the last known targets', upstream: name, name: source, err: error });
    },
  });

  const runtime: PoolRuntime = {
    name,
    get pool() {
      return pool;
    },
    dispatchers,
    hashBy: spec.balance === 'consistent-hash' ? (spec.hashBy ?? 'ip') : undefined,
    retryBudget: pool.retryBudget,
    resolution: (): ResolutionStatus => ({ names: resolver.status(), draining: [...draining].map((t) => t.url) }),
  };

  return {
    runtime,
    ready: resolver.ready,
    close: async () => {
      resolver.close();
      checker?.close();
      for (const t of current()) metrics.upstreamHealthy.remove(name, t.url);
      // close() lets requests in flight finish, then closes the connections.
      await Promise.all([...[...dispatchers.values()].map((d) => d.close().catch(() => undefined)), ...closing]);
    },
  };
}
