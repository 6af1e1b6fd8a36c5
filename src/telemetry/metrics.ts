/** prom-client handles with the metric names of SPEC §5. One registry per gateway process. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FastCounter, FastHistogram } from './fast-metrics.js';
import { IdentityTally } from './identity-tally.js';
import { QuotaWatch } from './quota-watch.js';
import { systemClock } from '../core/clock.js';

export interface Metrics {
  readonly registry: Registry;
  readonly requests: FastCounter;
  readonly requestDuration: FastHistogram;
  readonly upstreamRequests: FastCounter;
  readonly upstreamHealthy: Gauge<'upstream' | 'target'>;
  /** Runs `refresh` before every scrape of upstreamHealthy (passive ejections expire by time); returns a remover. */
  onScrapeUpstreamHealth(refresh: () => void): () => void;
  readonly rateLimitRejections: Counter<'route' | 'kind'>;
  readonly configReloads: Counter<'result'>;
  /** 1 per restart-only config key (YAML path) a reload changed: in the file, not yet in force. */
  readonly reloadPendingRestart: Gauge<'key'>;
  readonly certificateExpiry: Gauge<'cert'>;
  readonly caIssued: Counter;
  readonly identityRejections: Counter<'reason'>;
  readonly storeErrors: Counter<'store'>;
  readonly storeState: Gauge<'state'>;
  /** Time of one decision in a remote counter store (redis, or the cluster primary over IPC). */
  readonly storeLatency: Histogram<'store'>;
  /** Connections and CA API calls refused by the edge guard (`kind`: handshake | ca). */
  readonly edgeGuardRejections: Counter<'kind'>;
  /** New connections closed at accept by a connection cap (`reason`: max_connections | max_connections_per_ip). */
  readonly connectionsRejected: Counter<'reason'>;
  /** Work shed by the overload manager (`kind`: connection | request). */
  readonly overloadShed: Counter<'kind'>;
  /** 1 while the overload manager sheds. */
  readonly overloaded: Gauge;
  /** Requests or connections cut by a body bound (`kind`: body_timeout | unread_body). */
  readonly bodyCuts: Counter<'kind'>;
  /** New limit keys refused because the limit's memory-store table is full. */
  readonly limitKeysRejected: Counter<'route' | 'kind'>;
  /** Keys held per limit table of the memory store, refreshed at scrape time. */
  readonly limitKeys: Gauge<'route' | 'kind'>;
  /** Runs `refresh` before every scrape of limitKeys; returns a remover. */
  onScrapeLimitKeys(refresh: () => void): () => void;
  /** Requests and quota use by identity (bounded), for the admin console. Not exported to Prometheus: identities are unbounded label values. */
  readonly identities: IdentityTally;
  /** DNS resolutions of upstream target names (`name`: the configured URL), by result (success | failure). */
  readonly dnsResolutions: Counter<'upstream' | 'name' | 'result'>;
  /** Quota keys near their limit (fed from the request path, counted at scrape into quotaKeysNear). */
  readonly quotaWatch: QuotaWatch;
  /** `tollgate_quota_keys_over_80_percent{route}`: keys at or above 80 % of their quota in the current window. */
  readonly quotaKeysNear: Gauge<'route'>;
  /** Per-request fast path: a cached child for (route, status). */
  countRequest(route: string, status: number, seconds: number): void;
  /** Per-attempt fast path: a cached child for (upstream, target, outcome). */
  countUpstream(upstream: string, target: string, outcome: string): void;
}

/** Creates the registry and every metric; `defaults` adds process metrics (off in tests). */
export function createMetrics(opts: { defaults?: boolean; now?: () => number } = {}): Metrics {
  const registry = new Registry();
  const now = opts.now ?? ((): number => systemClock.now());
  const quotaWatch = new QuotaWatch();
  if (opts.defaults) collectDefaultMetrics({ register: registry, prefix: 'tollgate_' });
  const requests = new FastCounter('tollgate_requests_total', 'Requests answered, by route and status code.', ['route', 'code'], registry);
  const requestDuration = new FastHistogram(
    'tollgate_request_duration_seconds',
    'Time from request arrival to the end of the response.',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registry,
  );
  const upstreamRequests = new FastCounter('tollgate_upstream_requests_total', 'Attempts sent to upstream targets, by outcome.', ['upstream', 'target', 'outcome'], registry);
  const healthRefreshers = new Set<() => void>();
  const keyRefreshers = new Set<() => void>();
  return {
    registry,
    requests,
    requestDuration,
    upstreamRequests,
    identities: new IdentityTally(),
    quotaWatch,
    quotaKeysNear: new Gauge({
      name: 'tollgate_quota_keys_over_80_percent',
      help: 'Quota keys at or above 80 % of their limit in the current window, by route (this process\'s view; counted at scrape).',
      labelNames: ['route'] as const,
      registers: [registry],
      collect() {
        for (const [route, n] of quotaWatch.counts(now())) this.labels(route).set(n);
      },
    }),
    upstreamHealthy: new Gauge({
      name: 'tollgate_upstream_target_healthy',
      help: '1 when the target is healthy and not ejected.',
      labelNames: ['upstream', 'target'] as const,
      registers: [registry],
      // Across cluster workers (admin/cluster-report.ts): 1 only when every worker sees it healthy.
      aggregator: 'min',
      collect() {
        for (const refresh of healthRefreshers) refresh();
      },
    }),
    onScrapeUpstreamHealth(refresh: () => void): () => void {
      healthRefreshers.add(refresh);
      return () => healthRefreshers.delete(refresh);
    },
    rateLimitRejections: new Counter({ name: 'tollgate_ratelimit_rejections_total', help: 'Requests refused by a rate limit or quota.', labelNames: ['route', 'kind'] as const, registers: [registry] }),
    configReloads: new Counter({ name: 'tollgate_config_reloads_total', help: 'Config reloads, by result.', labelNames: ['result'] as const, registers: [registry] }),
    reloadPendingRestart: new Gauge({
      name: 'tollgate_config_reload_pending_restart',
      help: 'Config keys (YAML paths) changed by a reload that take effect only at the next restart.',
      labelNames: ['key'] as const,
      registers: [registry],
      aggregator: 'max',
    }),
    certificateExpiry: new Gauge({ name: 'tollgate_certificate_expiry_timestamp_seconds', help: 'notAfter of the certificates the gateway holds.', labelNames: ['cert'] as const, registers: [registry], aggregator: 'min' }),
    caIssued: new Counter({ name: 'tollgate_ca_certificates_issued_total', help: 'Certificates issued by the built-in CA.', registers: [registry] }),
    identityRejections: new Counter({
      name: 'tollgate_identity_rejections_total',
      help: 'Verified client certificates refused an identity, by reason (trust-domain, no-anchor, revoked-open).',
      labelNames: ['reason'],
      registers: [registry],
    }),
    storeErrors: new Counter({ name: 'tollgate_store_errors_total', help: 'Counter store operations that failed.', labelNames: ['store'] as const, registers: [registry] }),
    storeState: new Gauge({ name: 'tollgate_store_state', help: '1 for the counting mode in force (shared or local).', labelNames: ['state'] as const, registers: [registry], aggregator: 'max' }),
    storeLatency: new Histogram({
      name: 'tollgate_store_decision_seconds',
      help: 'Time of one rate-limit or quota decision in a remote counter store.',
      labelNames: ['store'] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [registry],
    }),
    limitKeysRejected: new Counter({ name: 'tollgate_limit_keys_rejected_total', help: 'New rate-limit or quota keys refused because the limit\'s key table is full.', labelNames: ['route', 'kind'] as const, registers: [registry] }),
    limitKeys: new Gauge({
      name: 'tollgate_limit_keys',
      help: 'Keys held per limit table of the memory store.',
      labelNames: ['route', 'kind'] as const,
      registers: [registry],
      collect() {
        for (const refresh of keyRefreshers) refresh();
      },
    }),
    onScrapeLimitKeys(refresh: () => void): () => void {
      keyRefreshers.add(refresh);
      return () => keyRefreshers.delete(refresh);
    },
    edgeGuardRejections: new Counter({ name: 'tollgate_edge_guard_rejections_total', help: 'TLS connections and CA API calls refused by the per-IP edge guard.', labelNames: ['kind'] as const, registers: [registry] }),
    connectionsRejected: new Counter({ name: 'tollgate_connections_rejected_total', help: 'New client connections closed at accept by a connection cap or the PROXY protocol front (reason proxy_protocol_*).', labelNames: ['reason'] as const, registers: [registry] }),
    overloadShed: new Counter({ name: 'tollgate_overload_shed_total', help: 'Connections and requests shed by the overload manager.', labelNames: ['kind'] as const, registers: [registry] }),
    overloaded: new Gauge({ name: 'tollgate_overloaded', help: '1 while the overload manager sheds new connections and requests.', registers: [registry], aggregator: 'max' }),
    dnsResolutions: new Counter({ name: 'tollgate_dns_resolutions_total', help: 'DNS resolutions of upstream target names, by result; a failure keeps the last known addresses.', labelNames: ['upstream', 'name', 'result'] as const, registers: [registry] }),
    bodyCuts: new Counter({ name: 'tollgate_request_body_cuts_total', help: 'Requests whose body was cut: too slow (body_timeout) or left unread after a gateway answer (unread_body).', labelNames: ['kind'] as const, registers: [registry] }),
    countRequest(route: string, status: number, seconds: number): void {
      requests.inc(route, status);
      if (!requestDuration.observe(route, seconds)) {
        requestDuration.define(route, { route });
        requestDuration.observe(route, seconds);
      }
    },
    countUpstream(upstream: string, target: string, outcome: string): void {
      upstreamRequests.inc(upstream, target, outcome);
    },
  };
}
