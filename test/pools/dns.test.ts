/**
 * Upstreams that move (issue 11): targets naming a host or an SRV record, resolved through a real
 * dnsmasq on a loopback port whose records the test changes. Upstream "hosts" are loopback addresses
 * (127.0.0.2, 127.0.0.3, …). Proves: an address added to the record becomes a target that takes
 * traffic; a removed one takes no new request while its request in flight finishes, then is dropped;
 * a DNS outage keeps the last known targets; a name that never resolved gives 503; each resolved
 * target has its own health; SRV ports, weights and priorities are followed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { hold, ok, startUpstream, status, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent } from '../support/clients.js';
import { startDnsmasq, type Dnsmasq } from '../support/dnsmasq.js';
import { waitFor } from '../support/wait.js';
import { burst, countBodies, metricSum, traffic, upstreamStatus, type TargetStatus, type UpstreamStatus } from './support.js';

type Resolved = Omit<UpstreamStatus, 'targets'> & {
  targets: (TargetStatus & { source?: string; weight: number })[];
  resolution?: { names: { source: string; targets: string[]; lastError: string | null; resolvedAt: string | null }[]; draining: string[] };
};

const status_ = async (t: TestGateway, name: string): Promise<Resolved> => (await upstreamStatus(t, name)) as Resolved;
const urls = (s: Resolved): string[] => s.targets.map((x) => x.url).sort();

/** Starts one upstream per host on the same port (a host name's addresses share the target's port). */
async function onHosts(names: readonly string[], hosts: readonly string[], script: Parameters<typeof startUpstream>[1]): Promise<TestUpstream[]> {
  for (let attempt = 0; ; attempt++) {
    const first = await startUpstream(names[0] as string, script, { host: hosts[0] as string });
    const rest: TestUpstream[] = [];
    try {
      for (let i = 1; i < hosts.length; i++) rest.push(await startUpstream(names[i] as string, script, { host: hosts[i] as string, port: first.port }));
      return [first, ...rest];
    } catch (err) {
      await Promise.all([first, ...rest].map((u) => u.close()));
      if (attempt >= 5) throw err; // the port was taken on another loopback address: pick another
    }
  }
}

describe('pools: targets from DNS (dnsmasq)', () => {
  let dir: string;
  let dns: Dnsmasq;
  let a: TestUpstream;
  let b: TestUpstream;
  let ha: TestUpstream;
  let hb: TestUpstream;
  let sa: TestUpstream;
  let sb: TestUpstream;
  let sb2: TestUpstream;
  let sc: TestUpstream;
  let t: TestGateway;
  let agent: Agent;
  let hosts: Record<string, string[]>;
  let config: Record<string, unknown> & { upstreams: Record<string, Record<string, unknown>> };

  // /orders/slow is held in flight until the test lets it go.
  let release: () => void = () => undefined;
  const released = new Promise<void>((r) => (release = r));
  const slowOrOk = (req: { url?: string }) => (req.url === '/orders/slow' ? hold(released) : ok());
  const srvRecords = (bTarget: TestUpstream, weights: [number, number]) => ({
    '_http._tcp.svc.test': [
      { target: 'a.svc.test', port: sa.port, priority: 0, weight: weights[0] },
      { target: 'b.svc.test', port: bTarget.port, priority: 0, weight: weights[1] },
      { target: 'c.svc.test', port: sc.port, priority: 10, weight: 5 },
    ],
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-dns-'));
    dns = await startDnsmasq(dir);
    [a, b] = (await onHosts(['a', 'b'], ['127.0.0.2', '127.0.0.3'], slowOrOk)) as [TestUpstream, TestUpstream];
    // hb fails its probes (traffic would be answered): only health can keep traffic off it.
    const hcScript = (name: string) => (req: { url?: string }) => (req.url === '/healthz' && name === 'hb' ? status(503) : ok());
    ha = await startUpstream('ha', hcScript('ha'), { host: '127.0.0.2' });
    hb = await startUpstream('hb', hcScript('hb'), { host: '127.0.0.3', port: ha.port });
    sa = await startUpstream('sa', () => ok(), { host: '127.0.0.2' });
    sb = await startUpstream('sb', () => ok(), { host: '127.0.0.3' });
    sb2 = await startUpstream('sb2', () => ok(), { host: '127.0.0.3' });
    sc = await startUpstream('sc', () => ok(), { host: '127.0.0.4' });
    hosts = {
      'orders.test': ['127.0.0.2'],
      'hc.test': ['127.0.0.2', '127.0.0.3'],
      'a.svc.test': ['127.0.0.2'],
      'b.svc.test': ['127.0.0.3'],
      'c.svc.test': ['127.0.0.4'],
    };
    await dns.setHosts(hosts);
    await dns.setSrv(srvRecords(sb, [1, 3]));
    config = {
      // A generous timeout: on a loaded machine a 500 ms query can time out and leave a name unresolved.
      dns: { servers: [dns.server], minInterval: '200ms', timeout: '2s' },
      routes: [
        { name: 'orders', match: { pathPrefix: '/orders' }, upstream: 'orders' },
        { name: 'hc', match: { pathPrefix: '/hc' }, upstream: 'hc' },
        { name: 'srv', match: { pathPrefix: '/srv' }, upstream: 'srv' },
        { name: 'ghost', match: { pathPrefix: '/ghost' }, upstream: 'ghost' },
      ],
      upstreams: {
        orders: { targets: [{ url: `http://orders.test:${a.port}` }] },
        hc: {
          targets: [{ url: `http://hc.test:${ha.port}` }],
          healthCheck: { path: '/healthz', interval: '100ms', timeout: '2s', healthyThreshold: 1, unhealthyThreshold: 2 },
        },
        srv: { targets: [{ url: 'dns+srv://_http._tcp.svc.test' }] },
        ghost: { targets: [{ url: `http://nowhere.test:${a.port}` }] },
      },
    };
    t = await startTestGateway(config);
    agent = h1Agent({ ca: t.rootPem });
  });

  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await dns?.stop();
    await Promise.all([a, b, ha, hb, sa, sb, sb2, sc].map((u) => u?.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('serves a host name from its address, and /status shows the resolved target with its source', async () => {
    // The first answer was awaited at start; should it have timed out on a loaded machine, the retry follows.
    await waitFor(async () => urls(await status_(t, 'orders')).length === 1, { timeoutMs: 10_000, intervalMs: 50, what: 'the first answer' });
    const res = await burst(agent, `${t.url}/orders/x`, 10, 2);
    expect(countBodies(res)).toEqual({ a: 10 });
    const s = await status_(t, 'orders');
    expect(s.targets.map((x) => ({ url: x.url, source: x.source, healthy: x.healthy }))).toEqual([
      { url: `http://127.0.0.2:${a.port}`, source: `http://orders.test:${a.port}`, healthy: true },
    ]);
    expect(s.resolution?.names).toEqual([expect.objectContaining({ source: `http://orders.test:${a.port}`, targets: [`http://127.0.0.2:${a.port}`], lastError: null })]);
  });

  it('an address added to the record becomes a target that takes traffic, without a reload', async () => {
    const generation = t.gw.holder.current.generation;
    hosts = { ...hosts, 'orders.test': ['127.0.0.2', '127.0.0.3'] };
    await dns.setHosts(hosts);
    const answered = performance.now();
    await waitFor(async () => urls(await status_(t, 'orders')).length === 2, { timeoutMs: 10_000, intervalMs: 50, what: 'the second address as a target' });
    console.log(`[dns] a new address was a target ${Math.round(performance.now() - answered)} ms after dnsmasq answered it (TTL 0, minInterval 200 ms)`);
    expect(urls(await status_(t, 'orders'))).toEqual([`http://127.0.0.2:${a.port}`, `http://127.0.0.3:${a.port}`]);
    const before = traffic(b).length;
    const res = await burst(agent, `${t.url}/orders/x`, 20, 1);
    expect(countBodies(res)).toEqual({ a: 10, b: 10 });
    expect(traffic(b).length - before).toBe(10);
    expect(t.gw.holder.current.generation).toBe(generation);
    expect(t.logs.find({ msg: 'upstream targets changed', upstream: 'orders' }).at(-1)).toMatchObject({ added: [`http://127.0.0.3:${a.port}`], removed: [] });
  });

  it('a removed address takes no new request, its request in flight finishes, then it is dropped', async () => {
    // Two slow requests: round-robin gives one to each address.
    const slow = [h1(agent, `${t.url}/orders/slow`), h1(agent, `${t.url}/orders/slow`)];
    await waitFor(() => traffic(a).some((r) => r.url === '/orders/slow') && traffic(b).some((r) => r.url === '/orders/slow'), { timeoutMs: 10_000, what: 'a slow request at each address' });
    hosts = { ...hosts, 'orders.test': ['127.0.0.3'] };
    await dns.setHosts(hosts);
    const gone = `http://127.0.0.2:${a.port}`;
    const draining = await waitFor(
      async () => {
        const s = await status_(t, 'orders');
        return urls(s).join() === `http://127.0.0.3:${a.port}` ? s : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50, what: 'the removed address out of the pool' },
    );
    // Still finishing its request: drained, not cut.
    expect(draining.resolution?.draining).toEqual([gone]);
    const atA = traffic(a).length;
    const res = await burst(agent, `${t.url}/orders/x`, 20, 4);
    expect(countBodies(res)).toEqual({ b: 20 });
    expect(traffic(a).length).toBe(atA);
    expect((await status_(t, 'orders')).resolution?.draining).toEqual([gone]);
    release();
    const done = await Promise.all(slow);
    expect(done.map((r) => [r.status, r.body]).sort()).toEqual([
      [200, 'a'],
      [200, 'b'],
    ]);
    // Once its request finished its connections close and it leaves the draining list.
    await waitFor(async () => (await status_(t, 'orders')).resolution?.draining.length === 0, { timeoutMs: 10_000, what: 'the drain to end' });
    await waitFor(() => a.openSockets() === 0, { timeoutMs: 10_000, what: "the removed address's connections to close" });
  });

  it('a DNS outage keeps the last known targets (logged, counted); the answers resume after it', async () => {
    const failuresBefore = await metricSum(t, 'tollgate_dns_resolutions_total', { upstream: 'orders', result: 'failure' });
    await dns.stop();
    await waitFor(async () => (await metricSum(t, 'tollgate_dns_resolutions_total', { upstream: 'orders', result: 'failure' })) > failuresBefore, {
      timeoutMs: 15_000,
      intervalMs: 100,
      what: 'a failed resolution',
    });
    const s = await status_(t, 'orders');
    expect(urls(s)).toEqual([`http://127.0.0.3:${a.port}`]);
    expect(s.resolution?.names[0]?.lastError).toEqual(expect.any(String));
    expect((await status_(t, 'srv')).targets.length).toBe(3);
    expect(countBodies(await burst(agent, `${t.url}/orders/x`, 10, 2))).toEqual({ b: 10 });
    expect(t.logs.find({ msg: 'DNS resolution failed; keeping the last known targets', upstream: 'orders' }).length).toBeGreaterThan(0);
    await dns.start();
    await waitFor(async () => (await status_(t, 'orders')).resolution?.names[0]?.lastError === null, { timeoutMs: 15_000, intervalMs: 100, what: 'resolution to resume' });
    expect(urls(await status_(t, 'orders'))).toEqual([`http://127.0.0.3:${a.port}`]);
  });

  it('a name that never resolved leaves the pool without targets: 503 NO_HEALTHY_UPSTREAM', async () => {
    const res = await h1(agent, `${t.url}/ghost/x`);
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'NO_HEALTHY_UPSTREAM' } });
    const s = await status_(t, 'ghost');
    expect(s.targets).toEqual([]);
    expect(s.activeTier).toBe('none');
    expect(s.resolution?.names[0]).toMatchObject({ resolvedAt: null, lastError: expect.any(String) });
  });

  it('every resolved address has its own active health', async () => {
    await waitFor(
      async () => {
        const s = await status_(t, 'hc');
        const down = s.targets.find((x) => x.url === `http://127.0.0.3:${ha.port}`);
        return down !== undefined && !down.healthy && s.targets.length === 2;
      },
      { timeoutMs: 10_000, intervalMs: 50, what: 'the failing address marked down' },
    );
    const up = (await status_(t, 'hc')).targets.find((x) => x.url === `http://127.0.0.2:${ha.port}`);
    expect(up?.healthy).toBe(true);
    expect(countBodies(await burst(agent, `${t.url}/hc/x`, 10, 2))).toEqual({ ha: 10 });
  });

  it('SRV records give the targets, their ports and weights; a higher priority is a backup', async () => {
    const s = await status_(t, 'srv');
    expect(s.targets.map((x) => [x.url, x.tier, x.weight, x.source])).toEqual([
      [`http://127.0.0.2:${sa.port}`, 'primary', 1, 'dns+srv://_http._tcp.svc.test'],
      [`http://127.0.0.3:${sb.port}`, 'primary', 3, 'dns+srv://_http._tcp.svc.test'],
      [`http://127.0.0.4:${sc.port}`, 'backup', 5, 'dns+srv://_http._tcp.svc.test'],
    ]);
    // Smooth weighted round-robin over 1:3, one request at a time: exactly 10 and 30.
    expect(countBodies(await burst(agent, `${t.url}/srv/x`, 40, 1))).toEqual({ sa: 10, sb: 30 });

    // b moves to another port with an equal weight.
    await dns.setSrv(srvRecords(sb2, [2, 2]));
    await waitFor(async () => urls(await status_(t, 'srv')).includes(`http://127.0.0.3:${sb2.port}`) && !urls(await status_(t, 'srv')).includes(`http://127.0.0.3:${sb.port}`), {
      timeoutMs: 15_000,
      intervalMs: 50,
      what: 'the SRV change followed',
    });
    const moved = await status_(t, 'srv');
    expect(moved.targets.map((x) => [x.url, x.tier, x.weight])).toEqual([
      [`http://127.0.0.2:${sa.port}`, 'primary', 2],
      [`http://127.0.0.3:${sb2.port}`, 'primary', 2],
      [`http://127.0.0.4:${sc.port}`, 'backup', 5],
    ]);
    const atSb = traffic(sb).length;
    expect(countBodies(await burst(agent, `${t.url}/srv/x`, 40, 1))).toEqual({ sa: 20, sb2: 20 });
    expect(traffic(sb).length).toBe(atSb);
    expect(traffic(sc).length).toBe(0);
  });
  it('a reload keeps an unchanged DNS pool as it is; a changed one is resolved before it takes traffic', async () => {
    const running = t.gw.holder.current.pools.get('orders');
    const kept = await (await fetch(`${t.adminUrl}/reload`, { method: 'POST' })).json();
    expect(kept).toMatchObject({ result: 'success' });
    expect(t.gw.holder.current.pools.get('orders')).toBe(running);
    // A changed definition builds a new pool: the reload answers once its names were asked, so the
    // first request after it already has a target (no 503 window).
    config.upstreams.orders = { ...config.upstreams.orders, resolveInterval: '1s' };
    await t.writeConfig(config);
    expect(await (await fetch(`${t.adminUrl}/reload`, { method: 'POST' })).json()).toMatchObject({ result: 'success' });
    expect(t.gw.holder.current.pools.get('orders')).not.toBe(running);
    const res = await h1(agent, `${t.url}/orders/x`);
    expect([res.status, res.body]).toEqual([200, 'b']);
    expect(urls(await status_(t, 'orders'))).toEqual([`http://127.0.0.3:${a.port}`]);
  });
});
