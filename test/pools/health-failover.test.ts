/**
 * Active health through the real gateway: a failing probe moves traffic within interval × threshold,
 * backups take over only while no primary is healthy, traffic comes back on recovery, and /status and
 * /metrics say so. Targets keep answering traffic while their probes fail, so only the health state can
 * be what moves the traffic.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { delay, ok, startUpstream, status, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent } from '../support/clients.js';
import { waitFor } from '../support/wait.js';
import { burst, countBodies, metric, upstreamStatus } from './support.js';

const INTERVAL_MS = 50;
const THRESHOLD = 2;
/** Timers on a loaded 2-core machine run late; the bound is interval × threshold (+10 % jitter) plus this. */
const SLACK_MS = 600;

describe('pools: active health and failover', () => {
  const down = new Set<string>();
  let p1: TestUpstream;
  let p2: TestUpstream;
  let b1: TestUpstream;
  let n1: TestUpstream;
  let n2: TestUpstream;
  let slow: TestUpstream;
  let t: TestGateway;
  let agent: Agent;

  /** Probes fail while the target's name is in `down`; traffic is always answered. */
  const probed = (name: string) => (req: { url?: string }) => (req.url === '/healthz' && down.has(name) ? status(503) : ok());

  beforeAll(async () => {
    [p1, p2, b1, n1, n2] = (await Promise.all(['p1', 'p2', 'b1', 'n1', 'n2'].map((n) => startUpstream(n, probed(n))))) as [
      TestUpstream,
      TestUpstream,
      TestUpstream,
      TestUpstream,
      TestUpstream,
    ];
    slow = await startUpstream('slow', (req) => (req.url === '/healthz' ? ok() : delay(1000)));
    down.add('n1').add('n2');
    // Failing probes here are prompt 503s, so the timeout only has to spare live targets: a tight one fails
    // them too when the machine is loaded (seen with 200 ms under the full suite).
    const healthCheck = { path: '/healthz', interval: `${INTERVAL_MS}ms`, timeout: '2s', healthyThreshold: THRESHOLD, unhealthyThreshold: THRESHOLD };
    t = await startTestGateway({
      routes: [
        { name: 'hc', match: { pathPrefix: '/hc' }, upstream: 'hc' },
        { name: 'none', match: { pathPrefix: '/none' }, upstream: 'none' },
        { name: 'slow', match: { pathPrefix: '/slow' }, upstream: 'slow' },
      ],
      upstreams: {
        hc: { targets: [{ url: p1.url }, { url: p2.url }], backups: [{ url: b1.url }], healthCheck },
        none: { targets: [{ url: n1.url }], backups: [{ url: n2.url }], healthCheck },
        slow: { targets: [{ url: slow.url }] },
      },
    });
    agent = h1Agent({ ca: t.rootPem });
  });

  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await Promise.all([p1, p2, b1, n1, n2, slow].map((u) => u?.close()));
  });

  it('ok/healthy primaries share the traffic and the backup gets none', async () => {
    const counts = countBodies(await burst(agent, `${t.url}/hc/x`, 20, 4));
    expect(counts).toEqual({ p1: 10, p2: 10 });
    const s = await upstreamStatus(t, 'hc');
    expect(s.activeTier).toBe('primary');
    expect(s.targets.map((x) => [x.url, x.tier, x.healthy, x.ejectedUntil])).toEqual([
      [p1.url, 'primary', true, null],
      [p2.url, 'primary', true, null],
      [b1.url, 'backup', true, null],
    ]);
    expect(s.targets[0]!.ewmaMs).toBeGreaterThan(0);
    expect(s.targets[2]!.ewmaMs).toBe(0);
  });

  it('ok/a failing health check moves traffic off the target within interval × threshold', async () => {
    const started = Date.now();
    down.add('p1');
    await waitFor(async () => !(await upstreamStatus(t, 'hc')).targets[0]!.healthy, { timeoutMs: 3000, intervalMs: 5, what: 'p1 unhealthy' });
    const flipMs = Date.now() - started;
    console.log(`[pools] health flip after ${flipMs} ms (interval ${INTERVAL_MS} ms × threshold ${THRESHOLD})`);
    expect(flipMs).toBeLessThan(INTERVAL_MS * THRESHOLD * 1.1 + SLACK_MS);
    expect(countBodies(await burst(agent, `${t.url}/hc/x`, 10, 2))).toEqual({ p2: 10 });
    expect(await metric(t, 'tollgate_upstream_target_healthy', { upstream: 'hc', target: p1.url })).toBe(0);
    expect(await metric(t, 'tollgate_upstream_target_healthy', { upstream: 'hc', target: p2.url })).toBe(1);
    expect(t.logs.find({ msg: 'target unhealthy', upstream: 'hc', target: p1.url })).toHaveLength(1);
  });

  it('ok/with every primary down the backup takes the traffic', async () => {
    down.add('p2');
    await waitFor(async () => (await upstreamStatus(t, 'hc')).activeTier === 'backup', { timeoutMs: 3000, what: 'backup tier' });
    expect(countBodies(await burst(agent, `${t.url}/hc/x`, 10, 2))).toEqual({ b1: 10 });
    const s = await upstreamStatus(t, 'hc');
    expect(s.targets.map((x) => x.healthy)).toEqual([false, false, true]);
    expect(await metric(t, 'tollgate_upstream_target_healthy', { upstream: 'hc', target: b1.url })).toBe(1);
  });

  it('ok/when a primary recovers traffic returns to it and leaves the backup', async () => {
    const started = Date.now();
    down.delete('p1');
    await waitFor(async () => (await upstreamStatus(t, 'hc')).activeTier === 'primary', { timeoutMs: 3000, intervalMs: 5, what: 'primary tier' });
    const backMs = Date.now() - started;
    console.log(`[pools] back to primaries after ${backMs} ms`);
    expect(backMs).toBeLessThan(INTERVAL_MS * THRESHOLD * 1.1 + SLACK_MS);
    expect(countBodies(await burst(agent, `${t.url}/hc/x`, 10, 2))).toEqual({ p1: 10 });
    expect(t.logs.find({ msg: 'target healthy', upstream: 'hc', target: p1.url })).toHaveLength(1);
    down.delete('p2');
    await waitFor(async () => (await upstreamStatus(t, 'hc')).targets[1]!.healthy, { timeoutMs: 3000, what: 'p2 healthy' });
    expect(countBodies(await burst(agent, `${t.url}/hc/x`, 10, 2))).toEqual({ p1: 5, p2: 5 });
  });

  it('error/no healthy target in primaries or backups is a 503 NO_HEALTHY_UPSTREAM', async () => {
    await waitFor(async () => (await upstreamStatus(t, 'none')).activeTier === 'none', { timeoutMs: 3000, what: 'no tier' });
    const before = n1.seen.length + n2.seen.length;
    const res = await h1(agent, `${t.url}/none/x`);
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body).error.code).toBe('NO_HEALTHY_UPSTREAM');
    // Only probes reached the targets, no request.
    expect([...n1.seen, ...n2.seen].slice(before).every((s) => s.url === '/healthz')).toBe(true);
    expect(t.logs.find({ msg: 'request', route: 'none', code: 'NO_HEALTHY_UPSTREAM' }).length).toBeGreaterThan(0);
  });

  it('ok/status shows requests in flight per target', async () => {
    const pending = h1(agent, `${t.url}/slow/x`);
    await waitFor(async () => (await upstreamStatus(t, 'slow')).targets[0]!.inFlight === 1, { timeoutMs: 5000, what: 'inFlight 1' });
    expect((await pending).status).toBe(200);
    const s = await upstreamStatus(t, 'slow');
    expect(s.targets[0]!.inFlight).toBe(0);
    expect(s.targets[0]!.ewmaMs).toBeGreaterThanOrEqual(950);
  });
});
