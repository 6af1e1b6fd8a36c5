import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent, h2, h2Session } from '../support/clients.js';

// The alternative data path (a fastify catch-all with reply.hijack) is kept for benchmarking; it must
// behave exactly like the default one.
describe('dataPath: fastify', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let agent: Agent;
  beforeAll(async () => {
    up = await startUpstream('up', () => ({ kind: 'echo' }));
    t = await startTestGateway(
      { routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'up' }], upstreams: { up: { targets: [{ url: up.url }] } } },
      { dataPath: 'fastify' },
    );
    agent = h1Agent({ ca: t.rootPem });
  });
  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await up?.close();
  });

  it('ok/bodies pass through untouched (h1 JSON and h2 binary)', async () => {
    const r1 = await h1(agent, `${t.url}/json`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    expect(r1.status).toBe(200);
    expect(r1.body).toBe('{"a":1}');
    const session = await h2Session(t.url, { ca: t.rootPem });
    const r2 = await h2(session, '/bin', { method: 'PUT', body: 'raw-bytes', headers: { 'content-type': 'application/octet-stream' } });
    session.close();
    expect(r2.status).toBe(200);
    expect(r2.body).toBe('raw-bytes');
  });

  it('error/a path escaping the root is the same JSON 400', async () => {
    const session = await h2Session(t.url, { ca: t.rootPem });
    const r = await h2(session, '/../x');
    session.close();
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.code).toBe('BAD_REQUEST');
  });
});
