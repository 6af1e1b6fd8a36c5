/**
 * Issue 16: a reload never silently ignores a change. Keys that used to wait for a restart and now
 * apply live (issued certificate names, HTTP/2 settings, the handshake timeout, the admin and redirect
 * listeners, rebound), and the restart-only
 * keys, which are reported by YAML path in the log, /status and tollgate_config_reload_pending_restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { connect as h2Connect } from 'node:http2';
import { get as httpGet } from 'node:http';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';

/** A verified TLS handshake to the gateway as `servername`: the peer certificate, or the error message. */
function handshake(port: number, ca: string, servername: string): Promise<PeerCertificate | string> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, servername, ALPNProtocols: ['http/1.1'] });
    s.once('secureConnect', () => {
      const cert = s.getPeerCertificate();
      s.destroy();
      resolve(cert);
    });
    s.once('error', (e) => resolve(e.message));
  });
}

/** Milliseconds until the gateway closes a TCP connection that never sends a byte (or -1 after `maxMs`). */
function silentClose(port: number, maxMs: number): Promise<number> {
  return new Promise((resolve) => {
    const started = performance.now();
    const s = tcpConnect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      s.destroy();
      resolve(-1);
    }, maxMs);
    s.on('error', () => undefined);
    s.resume();
    s.once('close', () => {
      clearTimeout(timer);
      resolve(performance.now() - started);
    });
  });
}

function remoteMaxStreams(url: string, ca: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const session = h2Connect(url, { ca, servername: 'localhost' });
    session.once('remoteSettings', (settings) => {
      session.close();
      resolve(settings.maxConcurrentStreams);
    });
    session.once('error', reject);
  });
}

describe('reload: live keys and pending-restart reporting (issue 16)', () => {
  let up: TestUpstream;
  let t: TestGateway;
  const base = (extra: Record<string, unknown> = {}) => ({
    routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'up' }],
    upstreams: { up: { targets: [{ url: up.url }] } },
    ...extra,
  });
  const reload = async (cfg: Record<string, unknown>) => {
    await t.writeConfig(cfg);
    const r = await t.gw.reload();
    expect(r.result, r.error ?? '').toBe('success');
    return r;
  };

  // The admin listener moves when a reload rebinds it.
  const admin = () => `http://127.0.0.1:${t.gw.adminPort}`;

  beforeAll(async () => {
    up = await startUpstream('up');
    t = await startTestGateway(base());
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  it('ok/tls.serverNames: the issued certificate is re-issued at once for the new names', async () => {
    expect(await handshake(t.gw.publicPort, t.rootPem, 'gw.example')).toMatch(/altnames|Hostname/i);
    const r = await reload(base({ tls: { serverNames: ['localhost', '127.0.0.1', 'gw.example'] } }));
    expect(r.pendingRestart).toEqual([]);
    const cert = await handshake(t.gw.publicPort, t.rootPem, 'gw.example');
    expect(typeof cert === 'string' ? cert : cert.subjectaltname).toContain('DNS:gw.example');
  });

  it('ok/limits.maxConcurrentStreams reaches new HTTP/2 sessions', async () => {
    expect(await remoteMaxStreams(t.url, t.rootPem)).toBe(100);
    await reload(base({ limits: { maxConcurrentStreams: 7 } }));
    expect(await remoteMaxStreams(t.url, t.rootPem)).toBe(7);
  });

  it('ok/limits.headersTimeout bounds the TLS handshake of new connections', async () => {
    await reload(base({ limits: { headersTimeout: '500ms' } }));
    const ms = await silentClose(t.gw.publicPort, 8000);
    expect(ms).toBeGreaterThan(0);
    // The start value (10s) would still hold the socket here.
    expect(ms).toBeLessThan(5000);
  });

  it('ok/admin is rebound live: the new listener answers with the new allowedHosts, the old one closes', async () => {
    const oldPort = t.gw.adminPort;
    const asGw = (port: number) =>
      new Promise<{ status: number }>((resolve, reject) => {
        const req = httpGet({ host: '127.0.0.1', port, path: '/healthz', headers: { host: 'gw.internal' } }, (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0 });
        });
        req.once('error', reject);
      });
    expect((await asGw(oldPort)).status).toBe(403);
    const r = await reload(base({ admin: { host: '127.0.0.1', port: 0, allowedHosts: ['gw.internal'] } }));
    expect(r.pendingRestart).toEqual([]);
    expect(t.gw.adminPort).not.toBe(oldPort);
    expect((await asGw(t.gw.adminPort)).status).toBe(200);
    await waitFor(async () => (await asGw(oldPort).then(() => false, () => true)), { timeoutMs: 10_000, what: 'old admin closed' });
  });

  it('ok/redirectHttp is rebound live: added, then removed', async () => {
    expect(t.gw.redirectPort).toBeUndefined();
    await reload(base({ redirectHttp: { port: 0 } }));
    const port = t.gw.redirectPort as number;
    const res = await fetch(`http://127.0.0.1:${port}/x`, { redirect: 'manual' });
    expect(res.status).toBe(308);
    expect(res.headers.get('location')).toBe(`https://127.0.0.1:${t.gw.publicPort}/x`);
    await reload(base());
    expect(t.gw.redirectPort).toBeUndefined();
    await waitFor(async () => fetch(`http://127.0.0.1:${port}/x`, { redirect: 'manual' }).then(() => false, () => true), { timeoutMs: 10_000, what: 'redirect closed' });
  });

  it('ok/limits.newConnectionsPerIp applies live: past the new count a new connection is reset', async () => {
    await reload(base({ limits: { newConnectionsPerIp: { count: 2, per: '1m' } } }));
    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await handshake(t.gw.publicPort, t.rootPem, 'localhost');
      outcomes.push(typeof r === 'string' ? 'refused' : 'ok');
    }
    expect(outcomes).toEqual(['ok', 'ok', 'refused']);
    await reload(base());
    expect(typeof (await handshake(t.gw.publicPort, t.rootPem, 'localhost'))).toBe('object');
  });

  it('ok/restart-only changes are reported by YAML path in the result, /status, metrics and the log', async () => {
    const r = await reload(base({ workers: 2, ca: { dir: './ca', trustDomain: 'other.local', renewal: { maxPerHour: 2 } } }));
    expect(r.pendingRestart).toEqual(['workers', 'ca.trustDomain', 'ca.renewal.maxPerHour']);
    // The rest of the reload is in force all the same.
    expect(t.gw.spec.workers).toBe(2);
    const status = (await (await fetch(`${admin()}/status`)).json()) as { pendingRestart: string[] };
    expect(status.pendingRestart).toEqual(['workers', 'ca.trustDomain', 'ca.renewal.maxPerHour']);
    const metrics = await (await fetch(`${admin()}/metrics`)).text();
    expect(metrics).toContain('tollgate_config_reload_pending_restart{key="ca.trustDomain"} 1');
    expect(metrics).toContain('tollgate_config_reload_pending_restart{key="workers"} 1');
    const warn = await waitFor(() => t.logs.find({ msg: 'config reloaded; these changes take effect only after a restart' })[0]);
    expect(warn.pendingRestart).toEqual(['workers', 'ca.trustDomain', 'ca.renewal.maxPerHour']);
  });

  it('ok/a failed reload leaves the pending list; reverting the keys clears it', async () => {
    await t.writeConfig({ ...base(), routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'nope' }] });
    expect((await t.gw.reload()).result).toBe('failure');
    expect(((await (await fetch(`${admin()}/status`)).json()) as { pendingRestart: string[] }).pendingRestart).toHaveLength(3);
    const r = await reload(base());
    expect(r.pendingRestart).toEqual([]);
    expect(((await (await fetch(`${admin()}/status`)).json()) as { pendingRestart: string[] }).pendingRestart).toEqual([]);
    expect(await (await fetch(`${admin()}/metrics`)).text()).not.toMatch(/tollgate_config_reload_pending_restart\{/);
  });
});

/** Writes `header` on a new TCP connection, then one HTTP/1.1 GET over TLS: the status (0 when closed first). */
async function viaBalancer(port: number, ca: string, header: string, path: string): Promise<number> {
  const raw = tcpConnect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    raw.once('connect', () => resolve());
    raw.once('error', reject);
  });
  raw.write(header);
  return new Promise((resolve) => {
    const s = tlsConnect({ socket: raw, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    let text = '';
    s.once('secureConnect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`));
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    s.on('error', () => undefined);
    s.once('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
  });
}

describe('reload: the public listener is rebound live (issue 16)', () => {
  let up: TestUpstream;
  let t: TestGateway;
  const cfg = (listen: Record<string, unknown>) => ({
    listen: { host: '127.0.0.1', port: 0, ...listen },
    trustedProxies: ['127.0.0.1'],
    routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'up' }],
    upstreams: { up: { targets: [{ url: up.url }] } },
  });
  beforeAll(async () => {
    up = await startUpstream('up');
    t = await startTestGateway(cfg({}));
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  it('ok/listen.proxyProtocol switches in place for new connections; open ones go on', async () => {
    const port = t.gw.publicPort;
    const kept = tlsConnect({ host: '127.0.0.1', port, ca: t.rootPem, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    await new Promise<void>((resolve) => kept.once('secureConnect', () => resolve()));
    let keptData = '';
    kept.on('data', (c: Buffer) => (keptData += c.toString('latin1')));
    kept.write('GET /before HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await waitFor(() => keptData.includes('HTTP/1.1 200 '), { what: 'first answer' });

    await t.writeConfig(cfg({ proxyProtocol: true }));
    const r = await t.gw.reload();
    expect(r.result).toBe('success');
    expect(r.pendingRestart).toEqual([]);
    expect(t.gw.publicPort).toBe(port);
    // The connection accepted before the reload still serves.
    keptData = '';
    kept.write('GET /kept HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await waitFor(() => keptData.includes('HTTP/1.1 200 '), { what: 'answer on the kept connection' });
    // New connections speak PROXY protocol.
    expect(await viaBalancer(port, t.rootPem, 'PROXY TCP4 198.51.100.3 127.0.0.1 1000 443\r\n', '/proxied')).toBe(200);
    expect(up.seen.find((s) => s.url === '/proxied')?.headers['x-forwarded-for']).toBe('198.51.100.3');
    expect(await viaBalancer(port, t.rootPem, '', '/no-header')).toBe(0);

    await t.writeConfig(cfg({}));
    expect((await t.gw.reload()).result).toBe('success');
    expect(await viaBalancer(port, t.rootPem, '', '/plain-again')).toBe(200);
    kept.destroy();
  });

  it('ok/listen.port moves the listener: the new port serves, the old one stops accepting, open connections go on', async () => {
    const oldPort = t.gw.publicPort;
    const kept = tlsConnect({ host: '127.0.0.1', port: oldPort, ca: t.rootPem, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    await new Promise<void>((resolve) => kept.once('secureConnect', () => resolve()));
    let keptData = '';
    kept.on('data', (c: Buffer) => (keptData += c.toString('latin1')));
    // The test harness binds port 0 whatever the file says; a changed listen.port still moves it.
    await t.writeConfig(cfg({ port: 18443 }));
    const r = await t.gw.reload();
    expect(r.result).toBe('success');
    expect(r.pendingRestart).toEqual([]);
    const newPort = t.gw.publicPort;
    expect(newPort).not.toBe(oldPort);
    expect(await viaBalancer(newPort, t.rootPem, '', '/moved')).toBe(200);
    kept.write('GET /kept-after-move HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await waitFor(() => keptData.includes('HTTP/1.1 200 '), { what: 'answer on the kept connection' });
    const refused = await new Promise<string>((resolve) => {
      const s = tcpConnect(oldPort, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    kept.destroy();
  });
});
