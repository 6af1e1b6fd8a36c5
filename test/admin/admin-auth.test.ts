/**
 * Admin auth over the real admin listener: with a token configured, state-changing requests need it
 * (401 otherwise, with WWW-Authenticate), reads do not, the audit log says the token was used and no
 * log line holds the token; a non-loopback admin without a token does not start.
 * (Binding a non-loopback address is not allowed on the test machine: the rule itself is tested with
 * the host value in src/admin/auth.test.ts, and start's refusal happens before anything binds it.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

const TOKEN = 'test-admin-token-5f0c2a9e7d41';

async function call(url: string, method: 'GET' | 'POST' | 'DELETE', headers: Record<string, string> = {}, body?: unknown): Promise<{ status: number; headers: Record<string, unknown>; json: Record<string, unknown> }> {
  const res = await request(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  const json = String(res.headers['content-type']).startsWith('application/json') && text !== '' ? (JSON.parse(text) as Record<string, unknown>) : {};
  return { status: res.statusCode, headers: res.headers, json };
}

describe('admin bearer token over the real admin listener', () => {
  let up: TestUpstream;
  let t: TestGateway;

  beforeAll(async () => {
    up = await startUpstream('up');
    t = await startTestGateway({
      admin: { host: '127.0.0.1', port: 0, token: TOKEN },
      routes: [{ name: 'api', match: { pathPrefix: '/api' }, upstream: 'up' }],
      upstreams: { up: { targets: [{ url: up.url }] } },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  it('error/state-changing requests without the token, or with a wrong one, are 401 UNAUTHENTICATED', async () => {
    const body = { upstream: 'up', target: up.url, state: 'drain' };
    for (const headers of [{}, { authorization: 'Bearer wrong-token-wrong-token' }, { authorization: TOKEN }, { authorization: `Basic ${TOKEN}` }] as Record<string, string>[]) {
      const r = await call(`${t.adminUrl}/overrides/targets`, 'POST', headers, body);
      expect(r.status).toBe(401);
      expect(r.json).toEqual({ error: { code: 'UNAUTHENTICATED', message: expect.any(String) } });
      expect(r.headers['www-authenticate']).toBe('Bearer realm="tollgate-admin"');
    }
    expect((await call(`${t.adminUrl}/reload`, 'POST')).status).toBe(401);
    expect((await call(`${t.adminUrl}/overrides/tiers?upstream=up`, 'DELETE')).status).toBe(401);
    expect(t.gw.overrides.list()).toEqual([]);
  });

  it('ok/reads need no token; error/the token does not lift the CSRF refusal', async () => {
    for (const path of ['/healthz', '/status', '/overrides', '/metrics']) expect((await call(`${t.adminUrl}${path}`, 'GET')).status, path).toBe(200);
    const cfg = await call(`${t.adminUrl}/config`, 'GET');
    expect((cfg.json.spec as { admin: { token: string } }).admin.token).toBe('***');
    const csrf = await call(`${t.adminUrl}/overrides/targets`, 'POST', { authorization: `Bearer ${TOKEN}`, origin: 'https://evil.example' }, { upstream: 'up', target: up.url, state: 'drain' });
    expect(csrf.status).toBe(403);
  });

  it('ok/with the token: set, audit-logged as token-authenticated, cleared; reload works; the token is in no log line', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const set = await call(`${t.adminUrl}/overrides/targets`, 'POST', auth, { upstream: 'up', target: up.url, state: 'drain' });
    expect(set.status).toBe(200);
    expect(set.json.override).toMatchObject({ by: { address: '127.0.0.1', auth: 'token' } });
    expect(t.logs.find({ msg: 'admin override set', auth: 'token', by: '127.0.0.1' })).toHaveLength(1);
    expect((await call(`${t.adminUrl}/overrides/targets?upstream=up&target=${encodeURIComponent(up.url)}`, 'DELETE', auth)).status).toBe(200);
    expect((await call(`${t.adminUrl}/reload`, 'POST', auth)).json).toMatchObject({ result: 'success' });
    expect(JSON.stringify(t.logs.lines)).not.toContain(TOKEN);
  });

  it('error/a non-loopback admin.host without any token refuses to start, naming the keys to set', async () => {
    const saved = process.env.TOLLGATE_ADMIN_TOKEN;
    delete process.env.TOLLGATE_ADMIN_TOKEN;
    try {
      await expect(
        startTestGateway({ admin: { host: '0.0.0.0', port: 0 }, routes: [], upstreams: {} }),
      ).rejects.toThrow(/admin\.host 0\.0\.0\.0 is not loopback: set admin\.token, admin\.tokenFile or TOLLGATE_ADMIN_TOKEN/);
    } finally {
      if (saved !== undefined) process.env.TOLLGATE_ADMIN_TOKEN = saved;
    }
  });
});
