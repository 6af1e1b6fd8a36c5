/**
 * GET /quotas over the real admin listener: the numbers after N requests, from the counter store,
 * without counting; and the tollgate_quota_keys_over_80_percent gauge.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent } from '../support/clients.js';
import { metric } from '../pools/support.js';

interface QuotaUse {
  route: string;
  by: string;
  key: string;
  used: number;
  limit: number;
  remaining: number;
  percent: number;
  per: string;
  windowStart: string;
  resetAt: string;
  resetSeconds: number;
}

async function quotas(t: TestGateway, query: string): Promise<{ status: number; body: { key?: string; quotas?: QuotaUse[]; error?: { code: string } } }> {
  const res = await fetch(`${t.adminUrl}/quotas?${query}`);
  return { status: res.status, body: (await res.json()) as { quotas?: QuotaUse[] } };
}

describe('admin GET /quotas and the 80 % gauge', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let agent: Agent;

  beforeAll(async () => {
    up = await startUpstream('up');
    t = await startTestGateway({
      routes: [
        { name: 'metered', match: { pathPrefix: '/metered' }, upstream: 'up', quota: { limit: 10, per: '1d', by: 'ip' } },
        { name: 'daily', match: { pathPrefix: '/daily' }, upstream: 'up', quota: { limit: 1000, per: '1d', by: 'header:x-tenant' } },
        { name: 'open', match: { pathPrefix: '/open' }, upstream: 'up' },
      ],
      upstreams: { up: { targets: [{ url: up.url }] } },
    });
    agent = h1Agent({ ca: t.rootPem });
  });
  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await up?.close();
  });

  it('ok/after N requests: used N of the limit, the window and its reset; looking does not count', async () => {
    for (let i = 0; i < 6; i++) expect((await h1(agent, `${t.url}/metered/x`)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await h1(agent, `${t.url}/daily/x`, { headers: { 'x-tenant': 'acme' } })).status).toBe(200);
    const before = Date.now();
    const r = await quotas(t, 'key=127.0.0.1&route=metered');
    expect(r.status).toBe(200);
    const [q] = r.body.quotas ?? [];
    expect(q).toMatchObject({ route: 'metered', by: 'ip', key: 'ip:127.0.0.1', used: 6, limit: 10, remaining: 4, percent: 60, per: '1d' });
    const day = 86_400_000;
    expect(Date.parse(q?.resetAt ?? '')).toBe(Math.floor(before / day) * day + day);
    expect(Date.parse(q?.windowStart ?? '')).toBe(Math.floor(before / day) * day);
    expect(q?.resetSeconds).toBeGreaterThan(0);
    expect(q?.resetSeconds).toBeLessThanOrEqual(86_400);
    // Looking again, and in the store-key form, shows the same count: /quotas never consumes.
    expect((await quotas(t, 'key=ip:127.0.0.1&route=metered')).body.quotas?.[0]?.used).toBe(6);
    // A request counts the 7th; the response agrees with /quotas.
    const res = await h1(agent, `${t.url}/metered/x`);
    expect(res.headers.ratelimit).toMatch(/"quota";r=3;/);
    expect((await quotas(t, 'key=127.0.0.1&route=metered')).body.quotas?.[0]).toMatchObject({ used: 7, remaining: 3 });

    // Without route: every route with a quota, each keyed its own way.
    const all = await quotas(t, 'key=acme');
    expect(all.body.quotas?.map((x) => [x.route, x.key, x.used])).toEqual([
      ['metered', 'ip:acme', 0],
      ['daily', 'hdr:acme', 3],
    ]);
  });

  it('ok/the gauge counts keys at or above 80 % of their quota, per route', async () => {
    // 7 of 10 used so far by 127.0.0.1 on `metered`: below 80 %.
    expect((await metric(t, 'tollgate_quota_keys_over_80_percent', { route: 'metered' })) ?? 0).toBe(0);
    expect((await h1(agent, `${t.url}/metered/x`)).status).toBe(200); // 8 of 10
    expect(await metric(t, 'tollgate_quota_keys_over_80_percent', { route: 'metered' })).toBe(1);
    // Another key on another route well below: not counted; past the limit still counts once.
    expect((await metric(t, 'tollgate_quota_keys_over_80_percent', { route: 'daily' })) ?? 0).toBe(0);
    for (let i = 0; i < 3; i++) await h1(agent, `${t.url}/metered/x`);
    expect((await h1(agent, `${t.url}/metered/x`)).status).toBe(429);
    expect(await metric(t, 'tollgate_quota_keys_over_80_percent', { route: 'metered' })).toBe(1);
    expect((await quotas(t, 'key=127.0.0.1&route=metered')).body.quotas?.[0]).toMatchObject({ used: 10, remaining: 0, percent: 100 });
  });

  it('error/no key 400, unknown route or a route without a quota 404 NOT_FOUND', async () => {
    expect((await quotas(t, 'route=metered')).status).toBe(400);
    const unknown = await quotas(t, 'key=1.2.3.4&route=nope');
    expect([unknown.status, unknown.body.error?.code]).toEqual([404, 'NOT_FOUND']);
    expect((await quotas(t, 'key=1.2.3.4&route=open')).status).toBe(404);
  });
});
