/**
 * Runtime overrides over the real admin listener: drain (the request in flight to the drained target
 * finishes, new ones go elsewhere), forced health both ways, forced tier, surviving a reload that
 * rebuilds the pool, explicit clearing, and the audit log.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { h1, h1Agent } from '../support/clients.js';
import { waitFor } from '../support/wait.js';
import { burst, countBodies, upstreamStatus } from '../pools/support.js';

/** An upstream answering its name; `/api/hold` waits until `release()`; `/healthz` answers 503 while `sick`. */
interface GatedUpstream {
  readonly name: string;
  readonly url: string;
  sick: boolean;
  /** Requests to /api/hold waiting now. */
  held(): number;
  release(): void;
  close(): Promise<void>;
}

async function startGated(name: string): Promise<GatedUpstream> {
  let waiting: (() => void)[] = [];
  const up = {
    name,
    url: '',
    sick: false,
    held: () => waiting.length,
    release: () => {
      const w = waiting;
      waiting = [];
      for (const go of w) go();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.statusCode = up.sick ? 503 : 200;
      res.end(up.sick ? 'sick' : 'ok');
      return;
    }
    const answer = (): void => {
      res.setHeader('x-upstream', name);
      res.end(name);
    };
    if (req.url?.startsWith('/hold') === true) waiting.push(answer);
    else answer();
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  up.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return up;
}

interface AdminReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}

async function admin(t: TestGateway, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<AdminReply> {
  const res = await request(`${t.adminUrl}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers as Record<string, string | string[] | undefined>, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

const HC = { path: '/healthz', interval: '100ms', timeout: '1s', healthyThreshold: 1, unhealthyThreshold: 1 };

describe('admin overrides over the real admin listener', () => {
  let a: GatedUpstream;
  let b: GatedUpstream;
  let c: GatedUpstream;
  let t: TestGateway;
  let agent: Agent;
  const config = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    routes: [{ name: 'api', match: { pathPrefix: '/api' }, stripPrefix: true, upstream: 'pool' }],
    upstreams: { pool: { targets: [{ url: a.url }, { url: b.url }], backups: [{ url: c.url }], healthCheck: HC, ...extra } },
  });
  const spread = async (n = 20): Promise<Record<string, number>> => countBodies(await burst(agent, `${t.url}/api/x`, n, 4));

  beforeAll(async () => {
    [a, b, c] = await Promise.all([startGated('a'), startGated('b'), startGated('c')]);
    t = await startTestGateway(config());
    agent = h1Agent({ ca: t.rootPem });
  });
  afterAll(async () => {
    a?.release();
    b?.release();
    await agent?.close();
    await t?.stop();
    await Promise.all([a?.close(), b?.close(), c?.close()]);
  });

  it('ok/drain: the request in flight to the drained target finishes, new ones go to the other target; DELETE clears it', async () => {
    const inFlight = h1(agent, `${t.url}/api/hold`);
    const holder = await waitFor(() => (a.held() > 0 ? a : b.held() > 0 ? b : undefined), { timeoutMs: 10_000, what: 'the held request to arrive' });
    const other = holder === a ? b : a;
    let finished = false;
    void inFlight.then(() => (finished = true));

    const set = await admin(t, 'POST', '/overrides/targets', { upstream: 'pool', target: holder.url, state: 'drain', reason: 'deploy' });
    expect(set.status).toBe(200);
    expect(set.json.override).toMatchObject({ kind: 'target', upstream: 'pool', target: holder.url, state: 'drain', reason: 'deploy', by: { address: '127.0.0.1', auth: 'none' } });
    expect(finished).toBe(false);

    expect(await spread()).toEqual({ [other.name]: 20 });
    const st = await upstreamStatus(t, 'pool');
    const drained = st.targets.find((x) => x.url === holder.url) as unknown as Record<string, unknown>;
    expect(drained).toMatchObject({ override: 'drain', healthy: true, available: false, inFlight: 1 });

    // The console shows it: the target's badge and the overrides table, with who and why.
    const page = await (await fetch(`${t.adminUrl}/`)).text();
    expect(page).toContain(`data-target="${holder.url}" data-state="up" data-override="drain"`);
    expect(page).toContain('draining (override)');
    expect(page).toMatch(/<div id="overrides"><table>.*data-override-kind="target" data-upstream="pool".*127\.0\.0\.1.*deploy/);

    holder.release();
    const r = await inFlight;
    expect([r.status, r.body]).toEqual([200, holder.name]);

    const status = (await (await fetch(`${t.adminUrl}/status`)).json()) as { overrides: Record<string, unknown>[] };
    expect(status.overrides).toEqual([expect.objectContaining({ kind: 'target', target: holder.url, state: 'drain', applied: true, at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) })]);
    const audit = t.logs.find({ msg: 'admin override set', upstream: 'pool', target: holder.url, state: 'drain' });
    expect(audit).toEqual([expect.objectContaining({ audit: true, by: '127.0.0.1', auth: 'none', at: expect.any(String), reason: 'deploy' })]);

    const cleared = await admin(t, 'DELETE', `/overrides/targets?upstream=pool&target=${encodeURIComponent(holder.url)}`);
    expect(cleared.status).toBe(200);
    expect(t.logs.find({ msg: 'admin override cleared', target: holder.url })).toHaveLength(1);
    const after = await spread();
    expect(after[holder.name]).toBeGreaterThan(0);
    expect((await admin(t, 'DELETE', `/overrides/targets?upstream=pool&target=${encodeURIComponent(holder.url)}`)).status).toBe(404);
  });

  it('ok/force unhealthy takes a healthy target out; force healthy brings back one its health check fails; both show in /status', async () => {
    // host:port is accepted for the target.
    const bHostPort = new URL(b.url).host;
    expect((await admin(t, 'POST', '/overrides/targets', { upstream: 'pool', target: bHostPort, state: 'unhealthy' })).status).toBe(200);
    expect(await spread()).toEqual({ a: 20 });
    let st = await upstreamStatus(t, 'pool');
    expect(st.targets.find((x) => x.url === b.url)).toMatchObject({ override: 'unhealthy', available: false });

    a.sick = true;
    try {
      await waitFor(async () => (await upstreamStatus(t, 'pool')).activeTier === 'backup', { timeoutMs: 10_000, what: 'a to fail its health check' });
      expect(await spread(6)).toEqual({ c: 6 });
      expect((await admin(t, 'POST', '/overrides/targets', { upstream: 'pool', target: a.url, state: 'healthy' })).status).toBe(200);
      expect(await spread()).toEqual({ a: 20 });
      st = await upstreamStatus(t, 'pool');
      expect(st.activeTier).toBe('primary');
      // The health check still reports what it sees; the override decides.
      expect(st.targets.find((x) => x.url === a.url)).toMatchObject({ override: 'healthy', healthy: false, available: true });
    } finally {
      a.sick = false;
    }
    expect((await admin(t, 'DELETE', `/overrides/targets?upstream=pool&target=${encodeURIComponent(a.url)}`)).status).toBe(200);
    expect((await admin(t, 'DELETE', `/overrides/targets?upstream=pool&target=${bHostPort}`)).status).toBe(200);
    await waitFor(async () => (await upstreamStatus(t, 'pool')).targets.every((x) => x.healthy), { timeoutMs: 10_000, what: 'a healthy again' });
    const back = await spread();
    expect(Object.keys(back).sort()).toEqual(['a', 'b']);
  });

  it('ok/force tier: backup takes everything while primaries are healthy; primary never fails over (503 instead)', async () => {
    const set = await admin(t, 'POST', '/overrides/tiers', { upstream: 'pool', tier: 'backup' });
    expect(set.status).toBe(200);
    expect(await spread()).toEqual({ c: 20 });
    let st = (await upstreamStatus(t, 'pool')) as unknown as Record<string, unknown>;
    expect(st).toMatchObject({ activeTier: 'backup', forcedTier: 'backup' });
    expect(await (await fetch(`${t.adminUrl}/console.fragment`)).text()).toContain('<span class="badge warn" data-k="forced-tier">tier forced: backup</span>');

    expect((await admin(t, 'POST', '/overrides/tiers', { upstream: 'pool', tier: 'primary' })).status).toBe(200);
    for (const u of [a, b]) expect((await admin(t, 'POST', '/overrides/targets', { upstream: 'pool', target: u.url, state: 'unhealthy' })).status).toBe(200);
    const r = await h1(agent, `${t.url}/api/x`);
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).error.code).toBe('NO_HEALTHY_UPSTREAM');
    st = (await upstreamStatus(t, 'pool')) as unknown as Record<string, unknown>;
    expect(st).toMatchObject({ activeTier: 'none', forcedTier: 'primary' });

    expect((await admin(t, 'DELETE', '/overrides/tiers?upstream=pool')).status).toBe(200);
    // Without the forced tier the pool fails over to its backup again.
    expect(await spread(6)).toEqual({ c: 6 });
    for (const u of [a, b]) expect((await admin(t, 'DELETE', `/overrides/targets?upstream=pool&target=${encodeURIComponent(u.url)}`)).status).toBe(200);
    expect((await admin(t, 'GET', '/overrides')).json).toEqual({ overrides: [] });
  });

  it('ok/overrides survive a reload (POST /reload, as SIGHUP) that rebuilds the pool, until cleared', async () => {
    expect((await admin(t, 'POST', '/overrides/targets', { upstream: 'pool', target: a.url, state: 'drain' })).status).toBe(200);
    expect((await admin(t, 'POST', '/overrides/tiers', { upstream: 'pool', tier: 'primary' })).status).toBe(200);
    const before = t.gw.holder.current.pools.get('pool');
    // A changed definition (breaker size) makes the registry build a new pool with fresh target state.
    await t.writeConfig(config({ circuitBreaker: { maxConnections: 512, maxPendingRequests: 512 } }));
    const reload = await admin(t, 'POST', '/reload');
    expect(reload.json).toMatchObject({ result: 'success' });
    const rebuilt = t.gw.holder.current.pools.get('pool');
    expect(rebuilt).toBeDefined();
    expect(rebuilt).not.toBe(before);
    expect(rebuilt?.pool.control.forcedTier).toBe('primary');

    expect(await spread()).toEqual({ b: 20 });
    const st = (await upstreamStatus(t, 'pool')) as unknown as { forcedTier: string; targets: Record<string, unknown>[] };
    expect(st.forcedTier).toBe('primary');
    expect(st.targets.find((x) => x.url === a.url)).toMatchObject({ override: 'drain' });

    // A reload that removes the target keeps the override, shown as not applied; bringing it back applies it again.
    await t.writeConfig({ ...config(), upstreams: { pool: { targets: [{ url: b.url }], backups: [{ url: c.url }], healthCheck: HC } } });
    expect((await admin(t, 'POST', '/reload')).json).toMatchObject({ result: 'success' });
    let status = (await (await fetch(`${t.adminUrl}/status`)).json()) as { overrides: Record<string, unknown>[] };
    expect(status.overrides.find((o) => o.kind === 'target')).toMatchObject({ target: a.url, applied: false });
    await t.writeConfig(config());
    expect((await admin(t, 'POST', '/reload')).json).toMatchObject({ result: 'success' });
    expect(await spread()).toEqual({ b: 20 });

    expect((await admin(t, 'DELETE', `/overrides/targets?upstream=pool&target=${encodeURIComponent(a.url)}`)).status).toBe(200);
    expect((await admin(t, 'DELETE', '/overrides/tiers?upstream=pool')).status).toBe(200);
    status = (await (await fetch(`${t.adminUrl}/status`)).json()) as { overrides: Record<string, unknown>[] };
    expect(status.overrides).toEqual([]);
    expect(Object.keys(await spread()).sort()).toEqual(['a', 'b']);
  });

  it('error/unknown upstream or target is 404 NOT_FOUND, a bad state or body 400, a tier without backups 400', async () => {
    const unknownUp = await admin(t, 'POST', '/overrides/targets', { upstream: 'nope', target: a.url, state: 'drain' });
    expect([unknownUp.status, (unknownUp.json.error as { code: string }).code]).toEqual([404, 'NOT_FOUND']);
    const unknownTarget = await admin(t, 'POST', '/overrides/targets', { upstream: 'pool', target: '127.0.0.1:1', state: 'drain' });
    expect(unknownTarget.status).toBe(404);
    const badState = await admin(t, 'POST', '/overrides/targets', { upstream: 'pool', target: a.url, state: 'sleepy' });
    expect([badState.status, (badState.json.error as { code: string }).code]).toEqual([400, 'BAD_REQUEST']);
    expect((await admin(t, 'POST', '/overrides/targets', { upstream: 'pool' })).status).toBe(400);
    expect((await admin(t, 'POST', '/overrides/tiers', { upstream: 'pool', tier: 'middle' })).status).toBe(400);
    // Fastify's own refusals come in the same JSON shape.
    const badJson = await request(`${t.adminUrl}/overrides/targets`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"upstream":' });
    expect(badJson.statusCode).toBe(400);
    expect(JSON.parse(await badJson.body.text())).toEqual({ error: { code: 'BAD_REQUEST', message: expect.any(String) } });
    expect((await admin(t, 'GET', '/overrides')).json).toEqual({ overrides: [] });
  });

  it('error/cross-origin state changes are refused with 403 JSON even on loopback; same-origin and curl-style pass', async () => {
    const body = { upstream: 'pool', target: a.url, state: 'drain' };
    const foreign = await admin(t, 'POST', '/overrides/targets', body, { origin: 'https://evil.example' });
    expect([foreign.status, (foreign.json.error as { code: string }).code]).toEqual([403, 'FORBIDDEN']);
    expect((await admin(t, 'POST', '/overrides/targets', body, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await admin(t, 'DELETE', '/overrides/tiers?upstream=pool', undefined, { origin: 'null' })).status).toBe(403);
    // A simple-form POST (no preflight) is refused whatever its origin headers say.
    const form = await request(`${t.adminUrl}/overrides/targets`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(body) });
    expect(form.statusCode).toBe(403);
    await form.body.text();
    expect((await admin(t, 'GET', '/overrides')).json).toEqual({ overrides: [] });

    const own = `http://127.0.0.1:${new URL(t.adminUrl).port}`;
    expect((await admin(t, 'POST', '/overrides/targets', body, { origin: own, 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    expect((await admin(t, 'DELETE', `/overrides/targets?upstream=pool&target=${encodeURIComponent(a.url)}`, undefined, { origin: own })).status).toBe(200);
  });
});
