/**
 * /metrics and /status of a `workers > 1` group (control/cluster.ts): every worker reports its
 * registry (as prom-client JSON, after the scrape-time refresh) and its own /status; the admin worker
 * combines them here.
 *
 * Metrics, through prom-client's `AggregatorRegistry.aggregate`, each by its `aggregator`:
 * - counters and histograms (requests, upstream attempts, rejections, reloads, …): summed;
 * - gauges of a shared state: `tollgate_upstream_target_healthy` min (1 only when every worker sees
 *   the target healthy and not ejected), `tollgate_certificate_expiry_timestamp_seconds` min,
 *   `tollgate_config_reload_pending_restart`, `tollgate_store_state` and `tollgate_overloaded` max
 *   (1 when any worker is so); other gauges summed (e.g. limit keys held);
 * - the process metrics (`tollgate_process_*`, `tollgate_nodejs_*`: heap, CPU, event-loop lag, GC)
 *   are not combined: each worker's series carry a `worker` label;
 * - `tollgate_cluster_workers{state="reporting"|"missing"}`: how many workers are in the sums.
 */
import { AggregatorRegistry, Gauge, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { GatewayView, ReportWorker, WorkerReport } from '../runtime/view.js';
import { buildStatus } from './status.js';

type Obj = Record<string, unknown>;
type MetricJson = MetricObjectWithValues<MetricValue<string>>;

const PER_PROCESS = /^tollgate_(process|nodejs)_/;

/** Sets the gauges read at scrape time: target health (ejections end by time) and certificate expiry. */
export function refreshScrapeGauges(gw: GatewayView, clock: Clock): void {
  const now = clock.monotonic(); // ejections are on the monotonic clock
  for (const [name, pr] of gw.holder.current.pools) {
    for (const t of [...pr.pool.primaries, ...pr.pool.backups]) {
      gw.metrics.upstreamHealthy.labels(name, t.url).set(t.healthy && t.ejectedUntil <= now ? 1 : 0);
    }
  }
  for (const [name, c] of Object.entries(gw.tls.certificates())) {
    if (c?.notAfter) gw.metrics.certificateExpiry.labels(name).set(Math.floor(Date.parse(c.notAfter) / 1000));
  }
}

/** One worker's report: its metrics and its /status (what control/cluster.ts sends to the admin worker). */
export const workerReport: ReportWorker = async (gw, clock) => {
  refreshScrapeGauges(gw, clock);
  return { metrics: await gw.metrics.registry.getMetricsAsJSON(), status: buildStatus(gw, clock) };
};

/** The group's Prometheus text and its content type. */
export async function clusterMetrics(reports: readonly WorkerReport[], missing: readonly number[]): Promise<{ contentType: string; text: string }> {
  const perWorker = reports.map((r) =>
    (r.metrics as MetricJson[]).map((m): MetricJson =>
      PER_PROCESS.test(m.name)
        ? // Distinct labels per worker, so "sum" leaves every value as it is (and nothing is omitted).
          { ...m, aggregator: 'sum', values: m.values.map((v) => ({ ...v, labels: { ...v.labels, worker: String(r.index) } })) }
        : m,
    ),
  );
  const registry = AggregatorRegistry.aggregate(perWorker);
  const workers = new Gauge({ name: 'tollgate_cluster_workers', help: 'Cluster workers whose metrics are in these sums (reporting) and not (missing).', labelNames: ['state'] as const, registers: [registry] });
  workers.labels('reporting').set(reports.length);
  workers.labels('missing').set(missing.length);
  return { contentType: registry.contentType, text: await registry.metrics() };
}

const obj = (x: unknown): Obj => (typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Obj) : {});
const num = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) ? x : 0);
const sum = (xs: readonly unknown[]): number => xs.reduce<number>((a, x) => a + num(x), 0);

/** Adds up `byKey` maps of numbers. */
function sumMaps(maps: readonly unknown[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of maps) for (const [k, v] of Object.entries(obj(m))) out[k] = (out[k] ?? 0) + num(v);
  return out;
}

/**
 * The group's /status: the admin worker's document, with what adds up summed over the workers
 * (requests, in-flight, circuit-breaker counts, retry budgets) and, where a sum makes no sense, the
 * combination or each worker's value (target health, serving tier, config hash, last reload) under
 * `perWorker`. `cluster` says who reported.
 */
export function clusterStatus(reports: readonly WorkerReport[], missing: readonly number[], workers: number): Obj {
  const statuses = reports.map((r) => r.status);
  const base = structuredClone(statuses[0] ?? {});
  const requests = statuses.map((s) => obj(s.requests));
  base.requests = { total: sum(requests.map((r) => r.total)), byRoute: sumMaps(requests.map((r) => r.byRoute)), byStatus: sumMaps(requests.map((r) => r.byStatus)) };

  const upstreams = obj(base.upstreams);
  for (const [name, poolValue] of Object.entries(upstreams)) {
    const pool = obj(poolValue);
    const mine = reports.map((r) => ({ worker: r.index, pool: obj(obj(r.status.upstreams)[name]) }));
    const targets = Array.isArray(pool.targets) ? (pool.targets as unknown[]).map(obj) : [];
    pool.targets = targets.map((t) => {
      const each = mine.map((m) => ({ worker: m.worker, t: (Array.isArray(m.pool.targets) ? (m.pool.targets as unknown[]).map(obj) : []).find((x) => x.url === t.url) })).filter((e) => e.t !== undefined) as { worker: number; t: Obj }[];
      const ejected = each.map((e) => e.t.ejectedUntil).filter((x): x is string => typeof x === 'string').sort();
      return {
        ...t,
        healthy: each.every((e) => e.t.healthy === true),
        available: each.every((e) => e.t.available === true),
        ejectedUntil: ejected.at(-1) ?? null,
        inFlight: sum(each.map((e) => e.t.inFlight)),
        ewmaMs: each.length === 0 ? 0 : Math.round((sum(each.map((e) => e.t.ewmaMs)) / each.length) * 10) / 10,
        perWorker: each.map((e) => ({ worker: e.worker, healthy: e.t.healthy, available: e.t.available, ejectedUntil: e.t.ejectedUntil, inFlight: e.t.inFlight, ewmaMs: e.t.ewmaMs })),
      };
    });
    const breakers = mine.map((m) => obj(m.pool.circuitBreaker));
    // The limits are per worker (each has its own breaker); the counts add up.
    pool.circuitBreaker = { ...obj(pool.circuitBreaker), active: sum(breakers.map((b) => b.active)), pending: sum(breakers.map((b) => b.pending)), rejected: sum(breakers.map((b) => b.rejected)) };
    pool.retryBudget = { ...obj(pool.retryBudget), available: sum(mine.map((m) => obj(m.pool.retryBudget).available)) };
    pool.perWorker = mine.map((m) => ({ worker: m.worker, activeTier: m.pool.activeTier, circuitBreaker: m.pool.circuitBreaker, retryBudget: m.pool.retryBudget }));
    upstreams[name] = pool;
  }

  const hashes = new Set(statuses.map((s) => s.configHash));
  base.cluster = {
    workers,
    reporting: reports.map((r) => r.index),
    missing: [...missing],
    // False while the workers run different configs (a reload that failed on some of them).
    consistent: hashes.size <= 1,
    perWorker: reports.map((r) => ({
      worker: r.index,
      pid: r.pid,
      configHash: r.status.configHash,
      generation: r.status.generation,
      loadedAt: r.status.loadedAt,
      draining: r.status.draining,
      lastReload: r.status.lastReload,
      requests: obj(r.status.requests).total ?? 0,
    })),
  };
  return base;
}
