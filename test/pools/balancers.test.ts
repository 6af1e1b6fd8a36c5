/**
 * Every balancer through the real gateway (their exact distributions are unit-tested next to them in
 * src/upstream/selection), and weighted route splits across pools.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { delay, ok, startUpstream, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent } from '../support/clients.js';
import { burst, countBodies, metricSum, upstreamStatus } from './support.js';

describe('pools: balancers and route splits through the gateway', () => {
  const ups: TestUpstream[] = [];
  let t: TestGateway;
  let agent: Agent;

  const start = async (name: string, script: Parameters<typeof startUpstream>[1] = () => ok()): Promise<TestUpstream> => {
    const u = await startUpstream(name, script);
    ups.push(u);
    return u;
  };
  const url = (u: TestUpstream, weight = 1): { url: string; weight: number } => ({ url: u.url, weight });

  beforeAll(async () => {
    const [a, b, c, fast, fast2] = await Promise.all(['a', 'b', 'c', 'fast', 'fast2'].map((n) => start(n)));
    const slow = await start('slow', () => delay(300));
    const [v1, v2] = await Promise.all(['v1', 'v2'].map((n) => start(n)));
    t = await startTestGateway({
      routes: [
        { name: 'rr', match: { pathPrefix: '/rr' }, upstream: 'rr' },
        { name: 'random', match: { pathPrefix: '/random' }, upstream: 'random' },
        { name: 'lr', match: { pathPrefix: '/lr' }, upstream: 'lr' },
        { name: 'hash', match: { pathPrefix: '/hash' }, upstream: 'hash' },
        { name: 'ewma', match: { pathPrefix: '/ewma' }, upstream: 'ewma' },
        { name: 'canary', match: { pathPrefix: '/canary' }, upstreams: [{ name: 'stable', weight: 90 }, { name: 'next', weight: 10 }] },
      ],
      upstreams: {
        rr: { balance: 'round-robin', targets: [url(a!, 3), url(b!)] },
        random: { balance: 'random', targets: [url(a!, 3), url(b!)] },
        lr: { balance: 'least-request', targets: [url(fast!), url(slow)] },
        hash: { balance: 'consistent-hash', hashBy: 'header:x-user-id', targets: [url(a!), url(b!), url(c!)] },
        ewma: { balance: 'peak-ewma', targets: [url(fast2!), url(slow)] },
        stable: { targets: [url(v1!)] },
        next: { targets: [url(v2!)] },
      },
    });
    agent = h1Agent({ ca: t.rootPem }, { connections: 32 });
  });

  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await Promise.all(ups.map((u) => u.close()));
  });

  it('ok/round-robin is smooth: weights 3:1 give a a b a', async () => {
    const order: string[] = [];
    for (let i = 0; i < 8; i++) order.push((await h1(agent, `${t.url}/rr/x`)).body);
    expect(order.join(' ')).toBe('a a b a a a b a');
    expect((await upstreamStatus(t, 'rr')).balance).toBe('round-robin');
  });

  it('ok/random honours weights 3:1', async () => {
    const counts = countBodies(await burst(agent, `${t.url}/random/x`, 300, 16));
    expect(counts.a! + counts.b!).toBe(300);
    expect(counts.a! / 300).toBeGreaterThan(0.65);
    expect(counts.a! / 300).toBeLessThan(0.85);
  });

  it('ok/least-request sends most traffic to the target with fewer requests in flight', async () => {
    const counts = countBodies(await burst(agent, `${t.url}/lr/x`, 60, 8));
    expect(counts.fast).toBeGreaterThan(3 * (counts.slow ?? 0));
  });

  it('ok/consistent-hash by header is sticky per key and spreads keys', async () => {
    const homes = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 30; i++) {
        const body = (await h1(agent, `${t.url}/hash/x`, { headers: { 'x-user-id': `user-${i}` } })).body;
        const home = homes.get(`user-${i}`);
        if (home === undefined) homes.set(`user-${i}`, body);
        else expect(body).toBe(home);
      }
    }
    expect(new Set(homes.values()).size).toBe(3);
  });

  it('ok/peak-ewma steers traffic away from the slow target', async () => {
    const res = await burst(agent, `${t.url}/ewma/x`, 40, 2);
    const counts = countBodies(res);
    expect(counts.fast2).toBeGreaterThanOrEqual(34);
    const s = await upstreamStatus(t, 'ewma');
    expect(s.targets[1]!.ewmaMs).toBeGreaterThan(250);
    expect(s.targets[0]!.ewmaMs).toBeLessThan(s.targets[1]!.ewmaMs);
  });

  it('ok/a weighted route split roughly honours the weights and is counted per upstream', async () => {
    const n = 500;
    const counts = countBodies(await burst(agent, `${t.url}/canary/x`, n, 16));
    expect(counts.v1! + counts.v2!).toBe(n);
    console.log(`[pools] split 90/10: v1 ${counts.v1}, v2 ${counts.v2}`);
    expect(counts.v2! / n).toBeGreaterThan(0.05);
    expect(counts.v2! / n).toBeLessThan(0.16);
    expect(await metricSum(t, 'tollgate_upstream_requests_total', { upstream: 'next', outcome: 'ok' })).toBe(counts.v2);
    expect(await metricSum(t, 'tollgate_upstream_requests_total', { upstream: 'stable', outcome: 'ok' })).toBe(counts.v1);
  });

  it('ok/a reload that drops a pool drops its target_healthy series; unchanged pools keep theirs', async () => {
    const healthySeries = async (upstream: string): Promise<number> => {
      const text = await (await fetch(`${t.adminUrl}/metrics`)).text();
      return text.split('\n').filter((l) => l.startsWith(`tollgate_upstream_target_healthy{upstream="${upstream}"`)).length;
    };
    expect(await healthySeries('rr')).toBe(2);
    const ewmaBefore = (await upstreamStatus(t, 'ewma')).targets[1]!.ewmaMs;
    const spec = t.gw.spec as unknown as { routes: { name: string }[]; upstreams: Record<string, unknown> };
    const { rr: _dropped, ...upstreams } = spec.upstreams;
    await t.writeConfig({ routes: spec.routes.filter((r) => r.name !== 'rr'), upstreams });
    expect((await t.gw.reload()).result).toBe('success');
    expect(await healthySeries('rr')).toBe(0);
    expect(await healthySeries('ewma')).toBe(2);
    // Unchanged definition: the same running pool, latency history included.
    expect((await upstreamStatus(t, 'ewma')).targets[1]!.ewmaMs).toBe(ewmaBefore);
  });
});
