import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import type { ClientHttp2Session } from 'node:http2';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { deadPort, delay, hangup, startUpstream, truncate, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent, h2, h2Session } from '../support/clients.js';

describe('proxying over TLS (h1 and h2)', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let slow: TestUpstream;
  let broken: TestUpstream;
  let t: TestGateway;
  let agent: Agent;
  let session: ClientHttp2Session;

  beforeAll(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    slow = await startUpstream('slow', () => delay(2000));
    broken = await startUpstream('broken', (req) => (req.url?.endsWith('/hangup') ? hangup : truncate));
    const dead = await deadPort();
    t = await startTestGateway({
      routes: [
        { name: 'api', match: { pathPrefix: '/api' }, stripPrefix: true, upstream: 'ab' },
        { name: 'exact', match: { path: '/api/exact' }, upstream: 'a' },
        { name: 'longer', match: { pathPrefix: '/api/v2' }, upstream: 'b' },
        { name: 'slow', match: { pathPrefix: '/slow' }, upstream: 'slow', timeout: '300ms' },
        { name: 'dead', match: { pathPrefix: '/dead' }, upstream: 'dead' },
        { name: 'broken', match: { pathPrefix: '/broken' }, upstream: 'broken' },
        { name: 'root', match: { pathPrefix: '/', methods: ['GET', 'POST', 'HEAD'] }, upstream: 'a' },
      ],
      upstreams: {
        ab: { targets: [{ url: a.url }, { url: b.url }] },
        a: { targets: [{ url: a.url }] },
        b: { targets: [{ url: b.url }] },
        slow: { targets: [{ url: slow.url }] },
        dead: { targets: [{ url: `http://127.0.0.1:${dead}` }] },
        broken: { targets: [{ url: broken.url }] },
      },
    });
    agent = h1Agent({ ca: t.rootPem });
    session = await h2Session(t.url, { ca: t.rootPem });
  });

  afterAll(async () => {
    session?.close();
    await agent?.close();
    await t?.stop();
    await Promise.all([a, b, slow, broken].map((u) => u?.close()));
  });

  it('ok/h1 request reaches the upstream with forwarded headers', async () => {
    const before = a.seen.length + b.seen.length;
    const res = await h1(agent, `${t.url}/api/users?x=1`, { headers: { 'x-request-id': 'client-id-1' } });
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toBe('client-id-1');
    const seen = [...a.seen, ...b.seen].find((s) => s.headers['x-request-id'] === 'client-id-1');
    expect(seen).toBeDefined();
    expect(seen!.url).toBe('/users?x=1');
    expect(seen!.headers['x-forwarded-proto']).toBe('https');
    expect(seen!.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen!.headers['x-forwarded-host']).toBe(`127.0.0.1:${t.gw.publicPort}`);
    expect(seen!.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(a.seen.length + b.seen.length).toBe(before + 1);
  });

  it('ok/h2 request is proxied to an HTTP/1.1 upstream', async () => {
    const res = await h2(session, '/api/h2?q=2');
    expect(res.status).toBe(200);
    expect(['a', 'b']).toContain(res.body);
    expect(res.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:-]+$/);
    const seen = [...a.seen, ...b.seen].find((s) => s.url === '/h2?q=2');
    expect(seen?.headers.host).toBe(`127.0.0.1:${t.gw.publicPort}`);
  });

  it('ok/round-robin alternates the two targets', async () => {
    const bodies: string[] = [];
    for (let i = 0; i < 4; i++) bodies.push((await h1(agent, `${t.url}/api/rr`)).body);
    expect(bodies.filter((x) => x === 'a')).toHaveLength(2);
    expect(bodies.filter((x) => x === 'b')).toHaveLength(2);
    expect(bodies[0]).not.toBe(bodies[1]);
  });

  it('ok/exact path beats prefix, longest prefix wins', async () => {
    expect((await h1(agent, `${t.url}/api/exact`)).body).toBe('a');
    expect((await h1(agent, `${t.url}/api/v2/x`)).body).toBe('b');
    expect((await h1(agent, `${t.url}/api/v2`)).body).toBe('b');
  });

  it('ok/stripPrefix of the whole prefix gives /', async () => {
    await h1(agent, `${t.url}/api?k=v`, { headers: { 'x-request-id': 'strip-root' } });
    const seen = [...a.seen, ...b.seen].find((s) => s.headers['x-request-id'] === 'strip-root');
    expect(seen?.url).toBe('/?k=v');
  });

  it('ok/invalid client request id is replaced', async () => {
    const res = await h1(agent, `${t.url}/x`, { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(res.headers['x-request-id']).not.toBe('bad id with spaces');
    expect(res.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
  });

  it('ok/paths are normalised before matching', async () => {
    await h1(agent, `${t.url}/x/..//api/./norm`, { headers: { 'x-request-id': 'norm-1' } });
    const seen = [...a.seen, ...b.seen].find((s) => s.headers['x-request-id'] === 'norm-1');
    expect(seen?.url).toBe('/norm');
  });

  it('error/path escaping the root is a 400 JSON error', async () => {
    const res = await h2(session, '/../etc/passwd');
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/json');
    const body = JSON.parse(res.body) as { error: { code: string; requestId: string } };
    expect(body.error.code).toBe('BAD_REQUEST');
    expect(body.error.requestId).toBe(res.headers['x-request-id']);
  });

  it('error/encoded slash is a 400', async () => {
    const res = await h1(agent, `${t.url}/api/a%2Fb`);
    expect(res.status).toBe(400);
  });

  it('error/no route is a 404 NO_ROUTE', async () => {
    const res = await h1(agent, `${t.url}/nothing-here`, { method: 'DELETE' });
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body)).toEqual({ error: { code: 'NO_ROUTE', message: expect.any(String), requestId: res.headers['x-request-id'] } });
  });

  it('error/connect failure is a 502 UPSTREAM_UNAVAILABLE', async () => {
    const res = await h1(agent, `${t.url}/dead/x`);
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body).error.code).toBe('UPSTREAM_UNAVAILABLE');
  });

  it('error/route timeout is a 504 UPSTREAM_TIMEOUT', async () => {
    const started = Date.now();
    const res = await h1(agent, `${t.url}/slow/x`);
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body).error.code).toBe('UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('error/an upstream hanging up before answering is a 502', async () => {
    const res = await h1(agent, `${t.url}/broken/hangup`);
    expect(res.status).toBe(502);
  });

  it('error/a truncated upstream body is a broken response, never a clean short one (h1)', async () => {
    await expect(h1(agent, `${t.url}/broken/truncate`)).rejects.toThrow();
  });

  it('error/a truncated upstream body resets the h2 stream', async () => {
    await expect(h2(session, '/broken/truncate')).rejects.toThrow();
  });

  it('ok/access log line per request', async () => {
    await h1(agent, `${t.url}/api/logged`, { headers: { 'x-request-id': 'log-me' } });
    const line = t.logs.find({ msg: 'request', requestId: 'log-me' })[0];
    expect(line).toMatchObject({ route: 'api', method: 'GET', path: '/api/logged', status: 200, upstream: 'ab' });
    expect(typeof line?.durationMs).toBe('number');
    expect(line?.target).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
