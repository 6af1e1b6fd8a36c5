import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent } from '../support/clients.js';

describe('admin API', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let agent: Agent;

  beforeAll(async () => {
    up = await startUpstream('up');
    t = await startTestGateway({
      routes: [{ name: 'api', match: { pathPrefix: '/api' }, upstream: 'up' }],
      upstreams: { up: { targets: [{ url: up.url }] } },
    });
    agent = h1Agent({ ca: t.rootPem });
  });
  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await up?.close();
  });

  it('ok/healthz and readyz answer 200 while serving', async () => {
    expect((await fetch(`${t.adminUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.adminUrl}/readyz`)).status).toBe(200);
  });

  it('ok/status has the SPEC shape', async () => {
    await h1(agent, `${t.url}/api/x`);
    const s = (await (await fetch(`${t.adminUrl}/status`)).json()) as Record<string, unknown>;
    expect(s).toMatchObject({
      version: '0.1.0',
      configHash: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      loadedAt: expect.any(String),
      routes: [{ name: 'api', upstreams: ['up'] }],
      upstreams: {
        up: {
          balance: 'round-robin',
          activeTier: 'primary',
          targets: [{ url: up.url, tier: 'primary', healthy: true, ejectedUntil: null, inFlight: 0, ewmaMs: expect.any(Number) }],
        },
      },
      certificates: { serving: { notAfter: expect.any(String) }, root: { notAfter: expect.any(String) } },
    });
  });

  it('ok/metrics carry request counts and durations by route', async () => {
    await h1(agent, `${t.url}/api/m`);
    await h1(agent, `${t.url}/nope`);
    const text = await (await fetch(`${t.adminUrl}/metrics`)).text();
    expect(text).toMatch(/tollgate_requests_total\{route="api",code="200"\} [1-9]/);
    expect(text).toMatch(/tollgate_requests_total\{route="none",code="404"\} [1-9]/);
    expect(text).toMatch(/tollgate_request_duration_seconds_bucket\{le="[0-9.]+",route="api"\}/);
    expect(text).toMatch(/tollgate_upstream_requests_total\{upstream="up",target="http:\/\/127\.0\.0\.1:\d+",outcome="ok"\}/);
    expect(text).toContain('tollgate_certificate_expiry_timestamp_seconds{cert="serving"}');
  });

  it('ok/POST /reload reloads and answers with the result', async () => {
    const res = await fetch(`${t.adminUrl}/reload`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ result: 'success', error: null });
  });

  it('ok/GET / serves the console page under a CSP that admits no other origin', async () => {
    const res = await fetch(`${t.adminUrl}/`);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'/);
    const html = await res.text();
    expect(html).toContain('<title>tollgate</title>');
    expect(html).toContain('data-pool="up" data-active-tier="primary"');
    const fragment = await fetch(`${t.adminUrl}/console.fragment`);
    expect(fragment.headers.get('content-type')).toContain('text/html');
    expect(await fragment.text()).toMatch(/^<div id="meta"/);
  });

  it('ok/GET /console.json: routes, pools, identities with request counts, certificates and the reload history', async () => {
    await h1(agent, `${t.url}/api/y`);
    const c = (await (await fetch(`${t.adminUrl}/console.json`)).json()) as {
      routes: { name: string }[];
      pools: { name: string; activeTier: string; targets: { url: string; state: string }[] }[];
      identities: { top: { id: string; requests: number }[] };
      certificates: { name: string }[];
      reloads: { result: string }[];
    };
    expect(c.routes.map((r) => r.name)).toEqual(['api']);
    expect(c.pools).toMatchObject([{ name: 'up', activeTier: 'primary', targets: [{ url: up.url, state: 'up' }] }]);
    expect(c.identities.top[0]).toMatchObject({ id: 'anonymous', requests: expect.any(Number) });
    expect(c.identities.top[0]!.requests).toBeGreaterThanOrEqual(2);
    expect(c.certificates.map((x) => x.name).sort()).toEqual(['intermediate', 'root', 'serving', 'workload']);
    expect(c.reloads[0]).toMatchObject({ result: 'success' }); // the POST /reload above
  });
});
