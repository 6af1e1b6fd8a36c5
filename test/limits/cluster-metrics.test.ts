/**
 * `workers: 2` as a user runs it: the admin port (worker 0) reports the whole group. Requests on
 * fresh connections are handed to the workers in turn; /metrics sums every worker's counters and
 * histograms, labels the per-process metrics by worker, and /status agrees with it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { spawnCli } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';
import { freshGet, metricValue } from './support.js';

/** The sum of every sample of `name` whose labels include `labels`. */
function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (!Object.entries(labels).every(([k, v]) => rest.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

const A = 13;
const B = 7;
const N = A + B;

describe('workers: 2 — cluster-wide /metrics and /status', () => {
  let dir: string;
  let up: TestUpstream;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-cluster-metrics-'));
    up = await startUpstream('up');
  });
  afterAll(async () => {
    await up?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ok/N requests spread over both workers: /metrics totals are N, per-process metrics carry a worker label, /status agrees', async () => {
    const configPath = join(dir, 'gateway.yaml');
    await writeFile(
      configPath,
      stringify({
        workers: 2,
        listen: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        ca: { dir: './ca' },
        routes: [
          { name: 'a', match: { pathPrefix: '/a' }, upstream: 'up' },
          { name: 'b', match: { pathPrefix: '/b' }, upstream: 'up' },
        ],
        upstreams: { up: { targets: [{ url: up.url }] } },
      }),
    );
    const { child, lines, stderr } = spawnCli(['start', '--config', configPath]);
    try {
      const ready = await waitFor(() => lines.find((l) => l.msg === 'cluster ready'), { timeoutMs: 60_000, what: `cluster ready (${stderr()})` });
      const listening = await waitFor(() => {
        const found = lines.filter((l) => l.msg === 'listening');
        return found.length === 2 ? found : undefined;
      }, { timeoutMs: 20_000, what: 'both workers listening' });
      const admin = String(listening.map((l) => l.admin).find((a) => a !== null));
      const url = `https://127.0.0.1:${String(ready.publicPort)}`;
      const rootPem = await readFile(join(dir, 'ca', 'root.crt'), 'utf8');

      // Sequential fresh connections: node:cluster hands them to the workers in turn.
      for (let i = 0; i < N; i++) {
        const res = await freshGet(`${url}/${i < 2 * B && i % 2 === 1 ? 'b' : 'a'}/${i}`, rootPem);
        expect(res.status).toBe(200);
      }
      expect(up.seen.filter((s) => s.url.startsWith('/b/'))).toHaveLength(B);
      const served = await waitFor(() => {
        const byWorker = new Map<unknown, number>();
        for (const l of lines.filter((x) => x.msg === 'request')) byWorker.set(l.worker, (byWorker.get(l.worker) ?? 0) + 1);
        return [...byWorker.values()].reduce((a, b) => a + b, 0) === N ? byWorker : undefined;
      }, { timeoutMs: 20_000, what: 'an access line per request' });
      // Both workers served some: a worker-0-only answer could not add up to N.
      expect([...served.keys()].sort()).toEqual([0, 1]);
      expect(Math.min(...served.values())).toBeGreaterThan(0);

      const metrics = await waitFor(async () => {
        const text = await (await fetch(`${admin}/metrics`)).text();
        return metricSum(text, 'tollgate_requests_total') === N ? text : undefined;
      }, { timeoutMs: 30_000, what: `tollgate_requests_total = ${N}` });
      expect(metricSum(metrics, 'tollgate_requests_total', { route: 'a', code: '200' })).toBe(A);
      expect(metricSum(metrics, 'tollgate_requests_total', { route: 'b', code: '200' })).toBe(B);
      expect(metricValue(metrics, 'tollgate_request_duration_seconds_count', { route: 'a' })).toBe(A);
      expect(metricValue(metrics, 'tollgate_request_duration_seconds_bucket', { route: 'b', le: '+Inf' })).toBe(B);
      expect(metricSum(metrics, 'tollgate_upstream_requests_total')).toBe(N);
      expect(metricValue(metrics, 'tollgate_cluster_workers', { state: 'reporting' })).toBe(2);
      expect(metricValue(metrics, 'tollgate_cluster_workers', { state: 'missing' })).toBe(0);
      // A state both workers share is combined, not doubled.
      expect(metricValue(metrics, 'tollgate_upstream_target_healthy', { upstream: 'up' })).toBe(1);
      // Per-process metrics: one series per worker, with its own pid's values.
      for (const w of ['0', '1']) {
        expect(metricValue(metrics, 'tollgate_process_resident_memory_bytes', { worker: w })).toBeGreaterThan(0);
        expect(metricValue(metrics, 'tollgate_nodejs_heap_size_used_bytes', { worker: w })).toBeGreaterThan(0);
        expect(metricValue(metrics, 'tollgate_process_start_time_seconds', { worker: w })).toBeGreaterThan(0);
      }
      // Exactly one TYPE line per metric: the sums are one family.
      expect(metrics.match(/^# TYPE tollgate_requests_total /gm)).toHaveLength(1);

      const status = (await (await fetch(`${admin}/status`)).json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      expect(status.requests).toEqual({ total: N, byRoute: { a: A, b: B }, byStatus: { 200: N } });
      expect(status.cluster).toMatchObject({ workers: 2, reporting: [0, 1], missing: [], consistent: true });
      const perWorker = status.cluster.perWorker as { worker: number; requests: number; pid: number }[];
      expect(perWorker.map((w) => w.requests).sort()).toEqual([...served.values()].sort());
      expect(new Set(perWorker.map((w) => w.pid)).size).toBe(2);
      const target = status.upstreams.up.targets[0];
      expect(target).toMatchObject({ healthy: true, available: true, inFlight: 0 });
      expect(target.perWorker).toHaveLength(2);
      expect(status.upstreams.up.perWorker).toHaveLength(2);

      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 150_000);
});
