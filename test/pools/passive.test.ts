/**
 * Passive protection through the real gateway: outlier ejection and its cap, the circuit breaker's fast
 * 503s, retries around a target that resets connections (never the same target twice in a row), and the
 * retry budget holding a full outage to ~1.2× the offered load.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { deadPort, delay, hangup, ok, startUpstream, status, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent } from '../support/clients.js';
import { waitFor } from '../support/wait.js';
import { burst, countBodies, metric, metricSum, traffic, upstreamStatus } from './support.js';

describe('pools: outlier ejection, circuit breaker, retries, retry budget', () => {
  const ups: TestUpstream[] = [];
  /** `name:request-id` in arrival order, across the targets of the 'twice' pool. */
  const arrivals: string[] = [];
  let o: TestUpstream[];
  let bad: TestUpstream;
  let good: TestUpstream;
  let slow: TestUpstream;
  let hang: TestUpstream;
  let r1: TestUpstream;
  let r2: TestUpstream;
  let t: TestGateway;
  let agent: Agent;

  const start = async (name: string, script: Parameters<typeof startUpstream>[1]): Promise<TestUpstream> => {
    const u = await startUpstream(name, script);
    ups.push(u);
    return u;
  };

  beforeAll(async () => {
    o = await Promise.all(['o1', 'o2', 'o3', 'o4'].map((n) => start(n, () => (n === 'o4' ? ok() : status(500)))));
    bad = await start('bad', () => status(502));
    good = await start('good', () => ok());
    slow = await start('slow', () => delay(1000));
    hang = await start('hang', () => hangup);
    r1 = await start('r1', () => ok());
    r2 = await start('r2', () => ok());
    const [x, y] = await Promise.all(
      ['x', 'y'].map((n) =>
        start(n, (req) => {
          arrivals.push(`${n}:${String(req.headers['x-request-id'])}`);
          return hangup;
        }),
      ),
    );
    const dead = await Promise.all([deadPort(), deadPort()]);
    t = await startTestGateway({
      routes: [
        { name: 'od', match: { pathPrefix: '/od' }, upstream: 'od' },
        { name: 'regrow', match: { pathPrefix: '/regrow' }, upstream: 'regrow' },
        { name: 'cb', match: { pathPrefix: '/cb' }, upstream: 'cb' },
        { name: 'warm', match: { pathPrefix: '/warm' }, upstream: 'warm' },
        { name: 'rh', match: { pathPrefix: '/rh' }, upstream: 'rh', retries: { attempts: 2, on: ['connect-failure', 'reset'] } },
        { name: 'twice', match: { pathPrefix: '/twice' }, upstream: 'twice', retries: { attempts: 3, on: ['reset'] } },
        { name: 'outage', match: { pathPrefix: '/outage' }, upstream: 'outage', retries: { attempts: 3, on: ['connect-failure'] } },
      ],
      upstreams: {
        od: { targets: o.map((u) => ({ url: u.url })), outlierDetection: { consecutiveFailures: 2, ejectionTime: '10s', maxEjectionPercent: 50 } },
        regrow: { targets: [{ url: bad.url }, { url: good.url }], outlierDetection: { consecutiveFailures: 2, ejectionTime: '300ms', maxEjectionPercent: 50 } },
        cb: { targets: [{ url: slow.url }], circuitBreaker: { maxConnections: 1, maxPendingRequests: 1 } },
        warm: { targets: [{ url: good.url }] },
        rh: { targets: [{ url: hang.url }, { url: r1.url }, { url: r2.url }] },
        twice: { targets: [{ url: x!.url }, { url: y!.url }] },
        outage: { targets: dead.map((p) => ({ url: `http://127.0.0.1:${p}` })) },
      },
    });
    agent = h1Agent({ ca: t.rootPem }, { connections: 32 });
  });

  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await Promise.all(ups.map((u) => u.close()));
  });

  it('ok/consecutive failures eject targets, never more than maxEjectionPercent of the pool', async () => {
    // Sequential, so each failing target sees its 2 failures in a row: o1 and o2 go, o3 stays (50 % of 4).
    for (let i = 0; i < 16; i++) await h1(agent, `${t.url}/od/x`);
    const s = await upstreamStatus(t, 'od');
    const ejected = s.targets.filter((x) => x.ejectedUntil !== null);
    expect(ejected).toHaveLength(2);
    for (const e of ejected) {
      expect(e.healthy).toBe(true); // active health untouched: ejection is passive
      expect(e.available).toBe(false);
      expect(Date.parse(e.ejectedUntil!)).toBeGreaterThan(Date.now() + 8_000);
    }
    expect(s.targets.find((x) => x.url === o[3]!.url)!.ejectedUntil).toBeNull();
    for (const e of ejected) expect(await metric(t, 'tollgate_upstream_target_healthy', { upstream: 'od', target: e.url })).toBe(0);
    expect(await metric(t, 'tollgate_upstream_target_healthy', { upstream: 'od', target: o[3]!.url })).toBe(1);
    // Traffic now only reaches the two targets still in.
    const before = o.map((u) => traffic(u).length);
    await burst(agent, `${t.url}/od/x`, 10, 1);
    const got = o.map((u, i) => traffic(u).length - before[i]!);
    const ejectedIdx = o.map((u, i) => (ejected.some((e) => e.url === u.url) ? i : -1)).filter((i) => i >= 0);
    for (const i of ejectedIdx) expect(got[i]).toBe(0);
    expect(got.reduce((a, b) => a + b, 0)).toBe(10);
  });

  it('ok/an ejected target comes back after ejectionTime and a repeat ejection lasts longer', async () => {
    const ejectedUntil = async (): Promise<number | undefined> => {
      const e = (await upstreamStatus(t, 'regrow')).targets[0]!.ejectedUntil;
      return e === null ? undefined : Date.parse(e);
    };
    /** Sends requests until the bad target is ejected; the window of the request that ejected it. */
    const untilEjected = async (): Promise<{ sentAt: number; doneAt: number; until: number }> => {
      for (let i = 0; i < 8; i++) {
        const sentAt = Date.now();
        await h1(agent, `${t.url}/regrow/x`);
        const doneAt = Date.now();
        const until = await ejectedUntil();
        if (until !== undefined && until >= sentAt + 300) return { sentAt, doneAt, until };
      }
      throw new Error('bad target never ejected');
    };
    const first = await untilEjected();
    expect(first.until).toBeGreaterThanOrEqual(first.sentAt + 300);
    expect(first.until).toBeLessThanOrEqual(first.doneAt + 300);
    await waitFor(async () => (await ejectedUntil() ?? 0) <= Date.now(), { timeoutMs: 3000, what: 'ejection over' });
    // Back in service; failing again ejects it for 2 × ejectionTime.
    const second = await untilEjected();
    expect(second.until).toBeGreaterThanOrEqual(second.sentAt + 600);
    expect(second.until).toBeLessThanOrEqual(second.doneAt + 600);
  });

  it('error/over maxConnections + maxPendingRequests the breaker answers 503 at once, counted', async () => {
    // Six client connections open beforehand, so the six requests reach the gateway together.
    await Promise.all(Array.from({ length: 6 }, () => h1(agent, `${t.url}/warm/x`)));
    const started = Date.now();
    const timed = Array.from({ length: 6 }, async () => {
      const res = await h1(agent, `${t.url}/cb/x`);
      return { status: res.status, code: res.status === 503 ? (JSON.parse(res.body) as { error: { code: string } }).error.code : '', ms: Date.now() - started };
    });
    const results = await Promise.all(timed);
    const admitted = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 503);
    expect(admitted).toHaveLength(2);
    expect(refused).toHaveLength(4);
    for (const r of refused) {
      expect(r.code).toBe('NO_HEALTHY_UPSTREAM');
      // Answered at once: before the first admitted one (a 1 s upstream) finished.
      expect(r.ms).toBeLessThan(Math.min(...admitted.map((a) => a.ms)));
      expect(r.ms).toBeLessThan(1000);
    }
    expect(traffic(slow)).toHaveLength(2);
    const s = await upstreamStatus(t, 'cb');
    expect(s.circuitBreaker).toMatchObject({ maxConnections: 1, maxPendingRequests: 1, active: 0, pending: 0, rejected: 4 });
    expect(await metric(t, 'tollgate_requests_total', { route: 'cb', code: '503' })).toBe(4);
    expect(t.logs.find({ msg: 'request', route: 'cb', code: 'NO_HEALTHY_UPSTREAM' })).toHaveLength(4);
  });

  it('ok/retries succeed around a target that resets connections', async () => {
    const res = await burst(agent, `${t.url}/rh/x`, 30, 3);
    expect(res.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(countBodies(res)).toEqual({ r1: expect.any(Number), r2: expect.any(Number) });
    const resets = traffic(hang).length;
    expect(resets).toBeGreaterThan(0);
    expect(await metric(t, 'tollgate_upstream_requests_total', { upstream: 'rh', target: hang.url, outcome: 'reset' })).toBe(resets);
    expect(await metricSum(t, 'tollgate_upstream_requests_total', { upstream: 'rh', outcome: 'ok' })).toBe(30);
    const lines = t.logs.find({ msg: 'request', route: 'rh' });
    expect(lines).toHaveLength(30);
    expect(lines.filter((l) => l.attempts === 2)).toHaveLength(resets);
    expect(lines.every((l) => l.status === 200 && l.target !== hang.url)).toBe(true);
  });

  it('ok/a retry never goes to the target that just failed when another exists', async () => {
    for (let i = 0; i < 6; i++) {
      const res = await h1(agent, `${t.url}/twice/x`, { headers: { 'x-request-id': `twice-${i}` } });
      expect(res.status).toBe(502);
      expect(JSON.parse(res.body).error.code).toBe('UPSTREAM_UNAVAILABLE');
    }
    for (let i = 0; i < 6; i++) {
      const order = arrivals.filter((a) => a.endsWith(`:twice-${i}`)).map((a) => a.split(':')[0]);
      expect(order).toHaveLength(4); // first try + attempts: 3
      for (let k = 1; k < order.length; k++) expect(order[k]).not.toBe(order[k - 1]);
    }
  });

  it('ok/the retry budget caps retries during a full outage', async () => {
    const requests = 200;
    const res = await burst(agent, `${t.url}/outage/x`, requests, 10);
    expect(res.every((r) => r.status === 502)).toBe(true);
    const sent = await metricSum(t, 'tollgate_upstream_requests_total', { upstream: 'outage' });
    const logged = t.logs.find({ msg: 'request', route: 'outage' }).reduce((n, l) => n + (l.attempts as number), 0);
    console.log(`[pools] full outage: ${requests} requests → ${sent} upstream attempts (attempts: 3 would allow ${requests * 4})`);
    expect(logged).toBe(sent);
    // Budget: 20 % of requests plus a reserve of 3/s over the 10 s window.
    expect(sent).toBeLessThanOrEqual(requests * 1.2 + 30);
    expect(sent).toBeGreaterThan(requests + 20);
    expect((await upstreamStatus(t, 'outage')).retryBudget.available).toBe(0);
  });
});
