/**
 * A refused reload changes nothing (control/reload.ts): whichever step fails, /status, the TLS the
 * listener offers (clientAuth, checked with a real TLS client with and without a certificate) and the
 * process's open handles are exactly as before.
 */
import { connect } from 'node:tls';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuthority } from '../../src/ca/authority.js';
import { systemClock } from '../../src/core/clock.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { Redis } from 'ioredis';
import { waitFor } from '../support/wait.js';
import { RELAXED_GUARD, workload } from '../identity/support.js';

interface Status {
  configHash: string;
  generation: number;
  certificates: unknown;
  lastReload: { result: string; error: string | null } | null;
}

const activeHandles = (): number => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;

/** A TLS handshake plus one HTTP/1.1 request; resolves the status line's code, or 'refused'. */
function get(port: number, ca: string, cert?: { cert: string; key: string }): Promise<number | 'refused'> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'], ...cert });
    let data = '';
    s.on('secureConnect', () => s.write('GET /open HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n'));
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('error', () => resolve('refused'));
    s.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      resolve(m ? Number(m[1]) : 'refused');
    });
  });
}

describe('a refused reload changes nothing', () => {
  let up: TestUpstream;
  let redis: TestRedis;
  let t: TestGateway;
  let client: { cert: string; key: string };
  let revoked: { cert: string; key: string };
  let watcher: Redis;
  /** Connections the redis server has, other than the watcher's own. */
  const redisClients = async (): Promise<number> => String(await watcher.call('CLIENT', 'LIST')).trim().split('\n').length - 1;
  const base = (): Record<string, unknown> => ({
    tls: { clientAuth: 'none' },
    routes: [{ name: 'open', match: { pathPrefix: '/' }, upstream: 'app' }],
    upstreams: { app: { targets: [{ url: up.url }] } },
  });
  const status = async (): Promise<Status> => (await (await fetch(`${t.adminUrl}/status`)).json()) as Status;

  beforeAll(async () => {
    up = await startUpstream('app');
    redis = await startRedis();
    t = await startTestGateway(base(), { edgeGuard: RELAXED_GUARD });
    const ca = await openAuthority(join(t.dir, 'ca'), { clock: systemClock });
    client = await workload(ca, 'spiffe://tollgate.local/web');
    const r = await workload(ca, 'spiffe://tollgate.local/gone');
    await ca.revoke(r.serial, 'test');
    revoked = r;
    // The gateway learns of the revocation on a reload that succeeds.
    expect((await t.gw.reload()).result).toBe('success');
    watcher = new Redis(redis.url);
  });
  afterAll(async () => {
    watcher?.disconnect();
    await t?.stop();
    await redis?.stop();
    await up?.close();
  });

  async function expectUnchanged(before: { hash: string; generation: number; certificates: unknown; handles: number }, error: RegExp): Promise<void> {
    const s = await status();
    expect(s.configHash).toBe(before.hash);
    expect(s.generation).toBe(before.generation);
    expect(s.certificates).toEqual(before.certificates);
    expect(s.lastReload?.result).toBe('failure');
    expect(s.lastReload?.error).toMatch(error);
    // clientAuth none still in force: a client without a certificate is served, one with is too.
    expect(await get(t.gw.publicPort, t.rootPem)).toBe(200);
    expect(await get(t.gw.publicPort, t.rootPem, client)).toBe(200);
    // …and a revoked certificate is served anonymously (with require it would be refused).
    expect(await get(t.gw.publicPort, t.rootPem, revoked)).toBe(200);
    // No store left open: the redis server sees no connection from the gateway.
    await waitFor(async () => (await redisClients()) === 0, { timeoutMs: 10_000 });
    await waitFor(() => activeHandles() <= before.handles, { timeoutMs: 10_000 });
  }

  async function snapshot(): Promise<{ hash: string; generation: number; certificates: unknown; handles: number }> {
    const s = await status();
    return { hash: s.configHash, generation: s.generation, certificates: s.certificates, handles: activeHandles() };
  }

  it('error/bad YAML', async () => {
    const before = await snapshot();
    await writeFile(t.configPath, 'routes: [\n');
    expect((await t.gw.reload()).result).toBe('failure');
    await expectUnchanged(before, /./);
  });

  it('error/an unreadable tls.cert, with clientAuth require asked for', async () => {
    const before = await snapshot();
    await t.writeConfig({ ...base(), tls: { clientAuth: 'require', cert: './missing.crt', key: './missing.key' } });
    expect((await t.gw.reload()).result).toBe('failure');
    await expectUnchanged(before, /missing/);
  });

  it('error/an unreadable jwksFile after a clientAuth and tls.cert change keeps both as before', async () => {
    const before = await snapshot();
    const ca = await openAuthority(join(t.dir, 'ca'), { clock: systemClock });
    const serving = await workload(ca, 'spiffe://tollgate.local/tollgate', { dns: ['localhost'], ip: ['127.0.0.1'], ttlMs: 3_600_000 });
    await writeFile(join(t.dir, 'new.crt'), serving.cert);
    await writeFile(join(t.dir, 'new.key'), serving.key, { mode: 0o600 });
    await t.writeConfig({
      ...base(),
      tls: { clientAuth: 'require', cert: './new.crt', key: './new.key' },
      routes: [{ name: 'open', match: { pathPrefix: '/' }, upstream: 'app', auth: { jwt: { issuer: 'https://issuer.test', audience: 'tollgate', jwksFile: './no-such-jwks.json' } } }],
    });
    expect((await t.gw.reload()).result).toBe('failure');
    await expectUnchanged(before, /jwks/i);
  });

  it('error/a new redis store built for a config that then fails is closed again', async () => {
    const before = await snapshot();
    await t.writeConfig({
      ...base(),
      store: { type: 'redis', redis: { url: redis.url } },
      routes: [{ name: 'open', match: { pathPrefix: '/' }, upstream: 'app', auth: { jwt: { issuer: 'https://issuer.test', audience: 'tollgate', jwksFile: './no-such-jwks.json' } } }],
    });
    expect((await t.gw.reload()).result).toBe('failure');
    await expectUnchanged(before, /jwks/i);
  });

  it('ok/after the refusals, a good config with clientAuth require is applied', async () => {
    await t.writeConfig({ ...base(), tls: { clientAuth: 'require' } });
    expect((await t.gw.reload()).result).toBe('success');
    expect(await get(t.gw.publicPort, t.rootPem)).toBe('refused');
    expect(await get(t.gw.publicPort, t.rootPem, client)).toBe(200);
  });
});
