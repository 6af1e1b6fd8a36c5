/**
 * Issue 16 over real TLS, HTTP/1.1 and HTTP/2: header policy in both directions (as the recording
 * upstream saw the request, as the client saw the response), Host rewrites, path rewrites,
 * redirects and CORS (preflight at the edge, actual requests through).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import type { ClientHttp2Session } from 'node:http2';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { ok, startUpstream, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent, h2, h2Session, type SimpleResponse } from '../support/clients.js';

const HSTS = 'max-age=63072000; includeSubDomains';

describe('header policy, rewrites, redirects, CORS (issue 16)', () => {
  let up: TestUpstream;
  let pooled: TestUpstream;
  let t: TestGateway;
  let agent: Agent;
  let session: ClientHttp2Session;

  beforeAll(async () => {
    up = await startUpstream('up', () => ok('hello', { server: 'nginx/1.25', 'x-powered-by': 'PHP/8', 'x-debug': 'internal', 'access-control-allow-origin': '*' }));
    pooled = await startUpstream('pooled');
    t = await startTestGateway({
      headers: {
        request: { set: { 'x-edge': 'tollgate' }, remove: ['x-debug-client'] },
        response: { set: { 'strict-transport-security': HSTS }, remove: ['server', 'x-powered-by'] },
      },
      routes: [
        {
          name: 'policy',
          match: { pathPrefix: '/policy' },
          upstream: 'up',
          headers: {
            request: { set: { 'x-env': 'prod' }, add: { 'x-tag': ['a', 'b'] }, remove: ['cookie', 'x-edge'] },
            response: { remove: ['x-debug'], add: { 'x-route': 'policy' } },
          },
        },
        { name: 'host', match: { pathPrefix: '/host' }, upstream: 'up', hostRewrite: 'internal.svc:8080' },
        { name: 'pool-host', match: { pathPrefix: '/pool-host' }, upstream: 'pooled' },
        { name: 'prefix', match: { pathPrefix: '/api/' }, upstream: 'up', rewrite: { prefix: '/v2/' } },
        { name: 'regex', match: { pathRegex: '^/users/[0-9]+$' }, upstream: 'up', rewrite: { regex: { pattern: '^/users/([0-9]+)$', substitution: '/internal/user/$1/profile' } } },
        { name: 'redirect-scheme', match: { pathPrefix: '/old-site' }, redirect: { scheme: 'http', host: 'legacy.example', status: 302 } },
        { name: 'redirect-prefix', match: { pathPrefix: '/v1/' }, redirect: { prefix: '/v2/', status: 308 } },
        { name: 'redirect-path', match: { path: '/moved' }, redirect: { path: '/new-home', status: 301, stripQuery: true } },
        {
          name: 'cors',
          match: { pathPrefix: '/cors' },
          upstream: 'up',
          cors: { origins: ['https://app.example.com', 'https://*.example.org'], methods: ['GET', 'PUT'], headers: ['x-token', 'content-type'], exposeHeaders: ['x-total'], credentials: true, maxAge: '10m' },
        },
        { name: 'plain', match: { pathPrefix: '/plain' }, upstream: 'up' },
        { name: 'escape', match: { pathPrefix: '/escape' }, upstream: 'up', rewrite: { regex: { pattern: '^/escape', substitution: '/../..' } } },
      ],
      upstreams: { up: { targets: [{ url: up.url }] }, pooled: { targets: [{ url: pooled.url }], hostRewrite: 'pool.internal' } },
    });
    agent = h1Agent({ ca: t.rootPem });
    session = await h2Session(t.url, { ca: t.rootPem });
  });
  afterAll(async () => {
    session?.close();
    await agent?.close();
    await t?.stop();
    await up?.close();
    await pooled?.close();
  });

  const seen = (u: TestUpstream, url: string) => u.seen.find((x) => x.url === url);
  const both = async (path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<[SimpleResponse, SimpleResponse]> => [
    await h1(agent, `${t.url}${path}${path.includes('?') ? '&' : '?'}p=h1`, opts),
    await h2(session, `${path}${path.includes('?') ? '&' : '?'}p=h2`, opts),
  ];

  it('ok/request policy: global then route; the upstream sees set/add/remove, the gateway still owns x-forwarded-*', async () => {
    const headers = { cookie: 'sid=1', 'x-debug-client': '1', 'x-env': 'dev', 'x-tag': 'client', 'x-forwarded-for': '6.6.6.6' };
    await both('/policy/a', { headers });
    for (const p of ['h1', 'h2']) {
      const s = seen(up, `/policy/a?p=${p}`);
      expect(s, p).toBeDefined();
      expect(s?.headers.cookie, p).toBeUndefined();
      expect(s?.headers['x-debug-client'], p).toBeUndefined();
      expect(s?.headers['x-edge'], p).toBeUndefined(); // set globally, removed by the route
      expect(s?.headers['x-env'], p).toBe('prod');
      expect(s?.headers['x-tag'], p).toBe('client, a, b');
      expect(s?.headers['x-forwarded-for'], p).toBe('127.0.0.1');
      expect(s?.headers['x-request-id'], p).toMatch(/.+/);
    }
  });

  it('ok/a route without its own policy gets the global one', async () => {
    await both('/plain/x', { headers: { 'x-debug-client': '1' } });
    for (const p of ['h1', 'h2']) {
      expect(seen(up, `/plain/x?p=${p}`)?.headers['x-edge'], p).toBe('tollgate');
      expect(seen(up, `/plain/x?p=${p}`)?.headers['x-debug-client'], p).toBeUndefined();
    }
  });

  it('ok/response policy: HSTS set, server/x-powered-by stripped (h1 and h2), route adds and removes', async () => {
    for (const r of await both('/policy/b')) {
      expect(r.status).toBe(200);
      expect(r.headers['strict-transport-security']).toBe(HSTS);
      expect(r.headers.server).toBeUndefined();
      expect(r.headers['x-powered-by']).toBeUndefined();
      expect(r.headers['x-debug']).toBeUndefined();
      expect(r.headers['x-route']).toBe('policy');
      expect(r.headers['x-request-id']).toMatch(/.+/);
    }
    for (const r of await both('/plain/b')) {
      expect(r.headers['x-debug']).toBe('internal');
      expect(r.headers.server).toBeUndefined();
    }
  });

  it("ok/the gateway's own answers get the global response policy (404 before any route)", async () => {
    for (const r of await both('/nowhere')) {
      expect(r.status).toBe(404);
      expect(r.headers['strict-transport-security']).toBe(HSTS);
      expect(r.headers['content-type']).toBe('application/json');
    }
  });

  it('ok/hostRewrite per route and per pool; x-forwarded-host keeps the original authority', async () => {
    await both('/host/a');
    await both('/pool-host/a');
    for (const p of ['h1', 'h2']) {
      expect(seen(up, `/host/a?p=${p}`)?.headers.host, p).toBe('internal.svc:8080');
      expect(seen(up, `/host/a?p=${p}`)?.headers['x-forwarded-host'], p).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(seen(pooled, `/pool-host/a?p=${p}`)?.headers.host, p).toBe('pool.internal');
    }
    expect(seen(up, '/plain/x?p=h1')?.headers.host).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('ok/prefix and regex rewrites, as the upstream saw them (query kept)', async () => {
    await both('/api/items/7?x=1');
    await both('/users/42');
    for (const p of ['h1', 'h2']) {
      expect(seen(up, `/v2/items/7?x=1&p=${p}`), p).toBeDefined();
      expect(seen(up, `/internal/user/42/profile?p=${p}`), p).toBeDefined();
    }
  });

  it('ok/rewrites act on the canonical path: a dot-segment spelling is rewritten like the plain one', async () => {
    const r = await h1(agent, `${t.url}/api/x/../items/8`);
    expect(r.status).toBe(200);
    expect(seen(up, '/v2/items/8')).toBeDefined();
  });

  it('error/a rewrite whose result climbs above / is refused with 400; nothing forwarded', async () => {
    const before = up.seen.length;
    for (const r of await both('/escape/x')) {
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body).error.code).toBe('BAD_REQUEST');
    }
    expect(up.seen.length).toBe(before);
  });

  it('ok/redirects are answered at the edge with Location and x-request-id (h1 and h2)', async () => {
    const before = up.seen.length;
    const [a1, a2] = await both('/old-site/page');
    for (const r of [a1, a2]) {
      expect(r.status).toBe(302);
      expect(r.headers['x-request-id']).toMatch(/.+/);
      expect(r.headers['strict-transport-security']).toBe(HSTS);
    }
    expect(a1.headers.location).toBe('http://legacy.example/old-site/page?p=h1');
    expect(a2.headers.location).toBe('http://legacy.example/old-site/page?p=h2');
    const [b1, b2] = await both('/v1/things/3');
    expect(b1.status).toBe(308);
    expect(b1.headers.location).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v2\/things\/3\?p=h1$/);
    expect(b2.headers.location).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v2\/things\/3\?p=h2$/);
    const [c1] = await both('/moved?secret=1');
    expect(c1.status).toBe(301);
    expect(c1.headers.location).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/new-home$/);
    expect(up.seen.length).toBe(before);
  });

  it('ok/CORS preflight answered at the edge with 204 and the policy headers; upstream not asked', async () => {
    const before = up.seen.length;
    const headers = { origin: 'https://app.example.com', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'X-Token' };
    for (const r of await both('/cors/x', { method: 'OPTIONS', headers })) {
      expect(r.status).toBe(204);
      expect(r.headers['access-control-allow-origin']).toBe('https://app.example.com');
      expect(r.headers['access-control-allow-methods']).toBe('GET, PUT');
      expect(r.headers['access-control-allow-headers']).toBe('x-token, content-type');
      expect(r.headers['access-control-allow-credentials']).toBe('true');
      expect(r.headers['access-control-max-age']).toBe('600');
      expect(r.headers.vary).toContain('Origin');
      expect(r.headers['x-request-id']).toMatch(/.+/);
      expect(r.headers['strict-transport-security']).toBe(HSTS);
    }
    expect(up.seen.length).toBe(before);
  });

  it('error/a preflight from an unlisted origin or for an unlisted method is refused with 403 at the edge', async () => {
    const before = up.seen.length;
    for (const r of await both('/cors/x', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } })) {
      expect(r.status).toBe(403);
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
    }
    // An allowed origin asking for a method it may not use: 403 (a browser fails any non-2xx preflight);
    // the error itself is readable by that origin, like every error on the route.
    for (const r of await both('/cors/x', { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'DELETE' } })) {
      expect(r.status).toBe(403);
      expect(r.headers['access-control-allow-methods']).toBeUndefined();
    }
    expect(up.seen.length).toBe(before);
  });

  it("ok/actual CORS requests: allowed origin echoed with Vary: Origin (upstream's own CORS header replaced); others get none", async () => {
    for (const r of await both('/cors/y', { headers: { origin: 'https://a.b.example.org' } })) {
      expect(r.status).toBe(200);
      expect(r.headers['access-control-allow-origin']).toBe('https://a.b.example.org');
      expect(r.headers['access-control-allow-credentials']).toBe('true');
      expect(r.headers['access-control-expose-headers']).toBe('x-total');
      expect(r.headers.vary).toContain('Origin');
    }
    for (const r of await both('/cors/z', { headers: { origin: 'https://evil.example' } })) {
      expect(r.status).toBe(200);
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
      expect(r.headers.vary).toContain('Origin');
    }
    // A plain OPTIONS (no Access-Control-Request-Method) is an ordinary request.
    const [o] = await both('/cors/opt', { method: 'OPTIONS', headers: { origin: 'https://app.example.com' } });
    expect(o.status).toBe(200);
    expect(seen(up, '/cors/opt?p=h1')?.method).toBe('OPTIONS');
  });
});
