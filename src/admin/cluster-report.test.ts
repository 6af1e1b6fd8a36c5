import { describe, expect, it } from 'vitest';
import { createMetrics } from '../telemetry/metrics.js';
import type { WorkerReport } from '../runtime/view.js';
import { clusterMetrics, clusterStatus } from './cluster-report.js';

async function report(index: number, fill: (m: ReturnType<typeof createMetrics>) => void, status: Record<string, unknown> = {}): Promise<WorkerReport> {
  const m = createMetrics();
  fill(m);
  return { index, pid: 1000 + index, metrics: await m.registry.getMetricsAsJSON(), status };
}

describe('cluster report', () => {
  it('ok/counters and histograms add up; shared-state gauges take min or max, not the sum', async () => {
    const w0 = await report(0, (m) => {
      m.countRequest('a', 200, 0.003);
      m.countRequest('a', 200, 0.2);
      m.upstreamHealthy.labels('up', 'http://t1').set(1);
      m.upstreamHealthy.labels('up', 'http://t2').set(1);
      m.certificateExpiry.labels('serving').set(2000);
      m.overloaded.set(0);
      m.configReloads.labels('success').inc();
    });
    const w1 = await report(1, (m) => {
      m.countRequest('a', 200, 0.004);
      m.countRequest('b', 503, 1);
      m.upstreamHealthy.labels('up', 'http://t1').set(1);
      m.upstreamHealthy.labels('up', 'http://t2').set(0); // ejected by this worker only
      m.certificateExpiry.labels('serving').set(1000);
      m.overloaded.set(1);
      m.configReloads.labels('success').inc();
    });
    const { text, contentType } = await clusterMetrics([w0, w1], []);
    expect(contentType).toContain('text/plain');
    expect(text).toContain('tollgate_requests_total{route="a",code="200"} 3');
    expect(text).toContain('tollgate_requests_total{route="b",code="503"} 1');
    expect(text).toContain('tollgate_request_duration_seconds_bucket{le="0.005",route="a"} 2');
    expect(text).toContain('tollgate_request_duration_seconds_bucket{le="+Inf",route="a"} 3');
    expect(text).toContain('tollgate_request_duration_seconds_count{route="a"} 3');
    expect(text).toContain('tollgate_upstream_target_healthy{upstream="up",target="http://t1"} 1');
    expect(text).toContain('tollgate_upstream_target_healthy{upstream="up",target="http://t2"} 0');
    expect(text).toContain('tollgate_certificate_expiry_timestamp_seconds{cert="serving"} 1000');
    expect(text).toContain('tollgate_overloaded 1');
    expect(text).toContain('tollgate_config_reloads_total{result="success"} 2');
    expect(text).toContain('tollgate_cluster_workers{state="reporting"} 2');
  });

  it('ok/status sums what adds up and keeps each worker\'s health', () => {
    const target = (healthy: boolean, inFlight: number): Record<string, unknown> => ({ url: 'http://t1', tier: 'primary', healthy, available: healthy, ejectedUntil: null, inFlight, ewmaMs: 4 });
    const status = (configHash: string, total: number, t: Record<string, unknown>): Record<string, unknown> => ({
      configHash,
      requests: { total, byRoute: { a: total }, byStatus: { 200: total } },
      upstreams: { up: { activeTier: 'primary', targets: [t], circuitBreaker: { maxConnections: 10, active: 1, pending: 0, rejected: 2 }, retryBudget: { available: 5 } } },
    });
    const s = clusterStatus(
      [
        { index: 0, pid: 1, metrics: [], status: status('h1', 3, target(true, 1)) },
        { index: 1, pid: 2, metrics: [], status: status('h2', 4, target(false, 2)) },
      ],
      [2],
      3,
    );
    expect(s.requests).toEqual({ total: 7, byRoute: { a: 7 }, byStatus: { 200: 7 } });
    const up = (s.upstreams as Record<string, Record<string, any>>).up!; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(up.targets[0]).toMatchObject({ healthy: false, available: false, inFlight: 3, perWorker: [{ worker: 0, healthy: true }, { worker: 1, healthy: false }] });
    expect(up.circuitBreaker).toEqual({ maxConnections: 10, active: 2, pending: 0, rejected: 4 });
    expect(up.retryBudget).toEqual({ available: 10 });
    expect(s.cluster).toMatchObject({ workers: 3, reporting: [0, 1], missing: [2], consistent: false });
    expect(s.configHash).toBe('h1');
  });
});
