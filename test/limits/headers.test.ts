/**
 * Limits over real TLS with the memory store and a ManualClock: 429 with the SPEC §3 JSON codes,
 * `RateLimit-Policy`, `RateLimit` and `Retry-After`, on HTTP/1.1 and HTTP/2; the metrics; and the
 * edge guard (new TLS connections and failed CA API attempts per IP).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientHttp2Session } from 'node:http2';
import type { Agent } from 'undici';
import { ManualClock } from '../../src/core/clock.js';
import type { GatewayOptions } from '../../src/control/lifecycle.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent, h2, h2Session, type SimpleResponse } from '../support/clients.js';
import { freshGet, metricValue } from './support.js';

// 2800 s before the end of a UTC hour, in the recent past (the gateway's certificates are issued
// on this clock, and the TLS clients check them against the real one).
const HOUR_MS = 3_600_000;
const START_MS = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - HOUR_MS + 800_000;
const HOUR_END_MS = START_MS + 2_800_000;

function expectJsonError(res: SimpleResponse, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
  const body = JSON.parse(res.body) as { error: { code: string; message: string; requestId: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.requestId).toBe(res.headers['x-request-id']);
}

describe('rate limits and quotas over TLS (memory store, manual clock)', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let agent: Agent;
  let session: ClientHttp2Session;
  const clock = new ManualClock(START_MS);

  beforeAll(async () => {
    up = await startUpstream('up');
    const route = (name: string, extra: Record<string, unknown>): Record<string, unknown> => ({ name, match: { pathPrefix: `/${name}` }, upstream: 'up', ...extra });
    t = await startTestGateway(
      {
        routes: [
          route('rate1', { rateLimit: { rate: 2, per: '1s', burst: 3, by: 'ip' } }),
          route('rate2', { rateLimit: { rate: 2, per: '1s', burst: 3, by: 'ip' } }),
          route('quota1', { quota: { limit: 3, per: '1h', by: 'ip' } }),
          route('quota2', { quota: { limit: 3, per: '1h', by: 'ip' } }),
          route('both', { rateLimit: { rate: 100, per: '1s', by: 'header:x-client' }, quota: { limit: 2, per: '1d', by: 'header:x-client' } }),
          route('open', {}),
        ],
        upstreams: { up: { targets: [{ url: up.url }] } },
      },
      { clock },
    );
    agent = h1Agent({ ca: t.rootPem });
    session = await h2Session(t.url, { ca: t.rootPem });
  });

  afterAll(async () => {
    session?.close();
    await agent?.close();
    await t?.stop();
    await up?.close();
  });

  const protocols = [
    ['h1', (path: string, headers?: Record<string, string>) => h1(agent, `${t.url}${path}`, { headers })],
    ['h2', (path: string, headers?: Record<string, string>) => h2(session, path, { headers })],
  ] as const;

  it.each(protocols.map(([name, get], i) => [name, get, i + 1] as const))('error/%s: an empty bucket answers 429 RATE_LIMITED with RateLimit fields and Retry-After', async (_name, get, n) => {
    const path = `/rate${n}/x`;
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await get(path);
      expect(res.status).toBe(200);
      expect(res.headers['ratelimit-policy']).toBe('"rate";q=2;w=1');
      remaining.push(String(res.headers['ratelimit']));
    }
    expect(remaining).toEqual(['"rate";r=2;t=0', '"rate";r=1;t=0', '"rate";r=0;t=1']);
    const refused = await get(path);
    expectJsonError(refused, 429, 'RATE_LIMITED');
    expect(refused.headers['ratelimit-policy']).toBe('"rate";q=2;w=1');
    expect(refused.headers['ratelimit']).toBe('"rate";r=0;t=1');
    expect(refused.headers['retry-after']).toBe('1');
    // Half a second refills one token (2 per second), not more.
    clock.advance(500);
    expect((await get(path)).status).toBe(200);
    expect((await get(path)).status).toBe(429);
  });

  it.each(protocols.map(([name, get], i) => [name, get, i + 1] as const))('error/%s: a used-up quota answers 429 QUOTA_EXCEEDED with Retry-After to the end of the UTC window', async (_name, get, n) => {
    const path = `/quota${n}/x`;
    for (let i = 0; i < 3; i++) {
      const res = await get(path);
      expect(res.status).toBe(200);
      expect(res.headers['ratelimit-policy']).toBe('"quota";q=3;w=3600');
      expect(res.headers['ratelimit']).toBe(`"quota";r=${2 - i};t=${toHourEndS()}`);
    }
    const refused = await get(path);
    expectJsonError(refused, 429, 'QUOTA_EXCEEDED');
    expect(refused.headers['ratelimit']).toBe(`"quota";r=0;t=${toHourEndS()}`);
    expect(refused.headers['retry-after']).toBe(String(toHourEndS()));
  });

  it('ok/both limits: one member each; the bucket is asked first, the quota counts only what the bucket let through', async () => {
    const get = (client: string): Promise<SimpleResponse> => h1(agent, `${t.url}/both`, { headers: { 'x-client': client } });
    const first = await get('alice');
    expect(first.headers['ratelimit-policy']).toBe('"rate";q=100;w=1, "quota";q=2;w=86400');
    expect(first.headers['ratelimit']).toMatch(/^"rate";r=99;t=0, "quota";r=1;t=\d+$/);
    expect((await get('alice')).status).toBe(200);
    const refused = await get('alice');
    expectJsonError(refused, 429, 'QUOTA_EXCEEDED');
    // Another key has its own quota.
    expect((await get('bob')).status).toBe(200);
  });

  it('ok/an unlimited route carries no RateLimit fields', async () => {
    const res = await h1(agent, `${t.url}/open`);
    expect(res.status).toBe(200);
    expect(res.headers['ratelimit']).toBeUndefined();
    expect(res.headers['ratelimit-policy']).toBeUndefined();
  });

  it('ok/rejections are counted by route and kind', async () => {
    const text = await (await fetch(`${t.adminUrl}/metrics`)).text();
    expect(metricValue(text, 'tollgate_ratelimit_rejections_total', { route: 'rate1', kind: 'rate' })).toBe(2);
    expect(metricValue(text, 'tollgate_ratelimit_rejections_total', { route: 'quota2', kind: 'quota' })).toBe(1);
    expect(metricValue(text, 'tollgate_ratelimit_rejections_total', { route: 'both', kind: 'quota' })).toBe(1);
    expect(metricValue(text, 'tollgate_requests_total', { route: 'rate1', code: '429' })).toBe(2);
  });

  /** Whole seconds to the end of the UTC hour, rounded up (the rate tests move the clock). */
  function toHourEndS(): number {
    return Math.ceil((HOUR_END_MS - clock.now()) / 1000);
  }
});

describe('edge guard', () => {
  let up: TestUpstream;
  const gateways: TestGateway[] = [];
  const CA = '/.well-known/tollgate/ca';

  beforeAll(async () => {
    up = await startUpstream('up');
  });

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await up?.close();
  });

  async function gateway(edgeGuard: GatewayOptions['edgeGuard']): Promise<TestGateway> {
    const g = await startTestGateway(
      { routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'up' }], upstreams: { up: { targets: [{ url: up.url }] } } },
      { edgeGuard },
    );
    gateways.push(g);
    return g;
  }

  it('error/new TLS connections over the per-IP limit are closed before the handshake', async () => {
    const t = await gateway({ handshakes: { points: 3, durationSec: 600 } });
    for (let i = 0; i < 3; i++) expect((await freshGet(`${t.url}/x`, t.rootPem)).status).toBe(200);
    const err = await freshGet(`${t.url}/x`, t.rootPem).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(err?.code).toMatch(/^(ECONNRESET|EPIPE)$/);
    const text = await (await fetch(`${t.adminUrl}/metrics`)).text();
    expect(metricValue(text, 'tollgate_edge_guard_rejections_total', { kind: 'handshake' })).toBe(1);
  });

  it('error/refused CA credentials per IP end in 429 RATE_LIMITED for the whole CA API', async () => {
    const t = await gateway({ caFailures: { maxFailures: 2, windowSec: 600, blockSec: 120 } });
    const agent = h1Agent({ ca: t.rootPem });
    try {
      const sign = (): Promise<SimpleResponse> =>
        h1(agent, `${t.url}${CA}/sign`, { method: 'POST', headers: { authorization: 'Bearer forged', 'content-type': 'application/json' }, body: '{"csr":"x"}' });
      expect((await h1(agent, `${t.url}${CA}/roots`)).status).toBe(200);
      expectJsonError(await sign(), 401, 'UNAUTHENTICATED');
      expectJsonError(await sign(), 401, 'UNAUTHENTICATED');
      const blocked = await sign();
      expectJsonError(blocked, 429, 'RATE_LIMITED');
      expect(blocked.headers['retry-after']).toBe('120');
      expectJsonError(await h1(agent, `${t.url}${CA}/roots`), 429, 'RATE_LIMITED');
      // The proxied routes are not the CA API: still served.
      expect((await h1(agent, `${t.url}/x`)).status).toBe(200);
      const text = await (await fetch(`${t.adminUrl}/metrics`)).text();
      expect(metricValue(text, 'tollgate_edge_guard_rejections_total', { kind: 'ca' })).toBe(2);
    } finally {
      await agent.close();
    }
  });
});
