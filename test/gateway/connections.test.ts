/**
 * Connection-level protections over real TLS: HTTP/2 idleness by open streams (pings do not keep a
 * session), connection caps (total and per IP) at accept, request body bounds, and the overload
 * manager shedding new connections and requests while admin /healthz keeps answering.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:tls';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { echo, ok, startUpstream, type TestUpstream } from '../support/upstream.js';
import { rawH2Pinger } from '../support/raw-h2.js';
import { exchange, rawTls } from '../support/raw.js';
import { waitFor } from '../support/wait.js';
import type { OverloadSample, Sampler } from '../../src/server/overload.js';

/** Resolves 'secure' when the TLS handshake completes, 'refused' when the socket closes first. */
function tryTls(port: number, ca: string): Promise<{ outcome: 'secure' | 'refused'; close: () => void }> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    s.on('error', () => undefined);
    s.once('secureConnect', () => resolve({ outcome: 'secure', close: () => s.destroy() }));
    s.once('close', () => resolve({ outcome: 'refused', close: () => undefined }));
  });
}

/** A raw TLS socket, retried while a cap still counts connections the previous case closed. */
function rawTlsWhenFree(port: number, ca: string): ReturnType<typeof rawTls> {
  return waitFor(() => rawTls(port, ca), { timeoutMs: 5000, what: 'a TLS connection' });
}

async function metric(t: TestGateway, name: string): Promise<string> {
  const text = await (await fetch(`${t.adminUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .join('\n');
}

describe('connection protections', () => {
  let up: TestUpstream;
  let t: TestGateway;
  const sampler: Sampler & { next: OverloadSample } = { next: { loopDelayMs: 0, heapFraction: 0 }, sample: () => sampler.next, stop: () => undefined };
  const config = (limits: Record<string, unknown>): Record<string, unknown> => ({
    limits: { idleTimeout: '1s', headersTimeout: '5s', requestBodyTimeout: '1500ms', maxConnectionsPerIp: 3, ...limits },
    routes: [{ name: 'api', match: { pathPrefix: '/api' }, upstream: 'up' }],
    upstreams: { up: { targets: [{ url: up.url }] } },
  });

  beforeAll(async () => {
    up = await startUpstream('up', (req) => (req.url?.includes('echo') === true ? echo : ok()));
    t = await startTestGateway(config({}), { overloadSampler: sampler });
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  it('error/an HTTP/2 session with no stream is closed after idleTimeout although it pings every 100 ms', async () => {
    const p = await rawH2Pinger(t.gw.publicPort, t.rootPem, 100);
    const started = performance.now();
    await Promise.race([p.closed, new Promise((_, rej) => setTimeout(() => rej(new Error('session still open after 6 s')), 6000).unref())]);
    const elapsed = performance.now() - started;
    expect(p.pings()).toBeGreaterThanOrEqual(5);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(6000);
  });

  it('error/a connection over limits.maxConnectionsPerIp is closed before TLS and counted', async () => {
    const held = await Promise.all([0, 1, 2].map(() => rawTls(t.gw.publicPort, t.rootPem)));
    const extra = await tryTls(t.gw.publicPort, t.rootPem);
    expect(extra.outcome).toBe('refused');
    expect(await metric(t, 'tollgate_connections_rejected_total')).toMatch(/reason="max_connections_per_ip"\} [1-9]/);
    held[0]!.destroy();
    const again = await waitFor(async () => {
      const r = await tryTls(t.gw.publicPort, t.rootPem);
      r.close();
      return r.outcome === 'secure' ? r : undefined;
    }, { timeoutMs: 5000, what: 'a free slot after one connection closed' });
    expect(again.outcome).toBe('secure');
    for (const s of held) s.destroy();
  });

  it('error/an HTTP/1.1 body left unread after a gateway answer is cut within the linger bound', async () => {
    const s = await rawTlsWhenFree(t.gw.publicPort, t.rootPem);
    s.on('error', () => undefined);
    let data = '';
    s.on('data', (c: Buffer) => (data += c.toString('latin1')));
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.write('POST /nowhere HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n');
    // Trickle one byte chunk every 200 ms: the idle sweep alone would never fire.
    const trickle = setInterval(() => s.writable && s.write('1\r\nb\r\n'), 200);
    const started = performance.now();
    await closed;
    clearInterval(trickle);
    expect(data).toMatch(/^HTTP\/1\.1 404 /);
    expect(performance.now() - started).toBeLessThan(4000);
    // Cut by the unread-body linger (1 s / 64 KiB), not by the 1.5 s body timeout.
    expect(await metric(t, 'tollgate_request_body_cuts_total')).toMatch(/kind="unread_body"\} [1-9]/);
  });

  it('error/a forwarded request body that trickles past requestBodyTimeout gets 408 JSON and a close', async () => {
    const s = await rawTlsWhenFree(t.gw.publicPort, t.rootPem);
    s.on('error', () => undefined);
    const trickle = setInterval(() => s.writable && s.write('1\r\nb\r\n'), 200);
    const r = await exchange(s, 'POST /api/slow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n', 8000);
    clearInterval(trickle);
    expect(r.closed).toBe(true);
    expect(r.data).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.data).toContain('"code":"REQUEST_TIMEOUT"');
    expect(await metric(t, 'tollgate_request_body_cuts_total')).toMatch(/kind="body_timeout"\} [1-9]/);
  });

  it('error/a trickling body whose response already started is cut by closing the connection', async () => {
    const s = await rawTlsWhenFree(t.gw.publicPort, t.rootPem);
    s.on('error', () => undefined);
    const trickle = setInterval(() => s.writable && s.write('1\r\nb\r\n'), 200);
    const started = performance.now();
    const r = await exchange(s, 'POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n', 8000);
    clearInterval(trickle);
    expect(r.data).toMatch(/^HTTP\/1\.1 200 /);
    expect(r.closed).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1400);
    expect(r.data).not.toMatch(/\r\n0\r\n\r\n$/); // never a clean end
  });

  it('error/while overloaded new connections are refused, requests get 503 OVERLOADED, admin /healthz answers', async () => {
    const s = await rawTlsWhenFree(t.gw.publicPort, t.rootPem);
    sampler.next = { loopDelayMs: 10_000, heapFraction: 0 };
    t.gw.app.overload.check();
    t.gw.app.overload.check(); // event-loop delay must be over in two samples in a row
    expect(t.gw.app.overload.overloaded).toBe(true);
    try {
      expect((await tryTls(t.gw.publicPort, t.rootPem)).outcome).toBe('refused');
      const r = await exchange(s, 'GET /api/x HTTP/1.1\r\nHost: x\r\n\r\n', 5000);
      expect(r.data).toMatch(/^HTTP\/1\.1 503 /);
      expect(r.data.toLowerCase()).toContain('retry-after: 1');
      expect(r.data).toContain('"code":"OVERLOADED"');
      const t0 = performance.now();
      const h = await fetch(`${t.adminUrl}/healthz`);
      expect(h.status).toBe(200);
      expect(performance.now() - t0).toBeLessThan(100 * 10); // generous under load; typically < 10 ms
      const m = await metric(t, 'tollgate_overload');
      expect(m).toMatch(/tollgate_overloaded 1/);
      expect(m).toMatch(/kind="connection"\} [1-9]/);
      expect(m).toMatch(/kind="request"\} [1-9]/);
    } finally {
      sampler.next = { loopDelayMs: 0, heapFraction: 0 };
      t.gw.app.overload.check();
      s.destroy();
    }
    expect(t.gw.app.overload.overloaded).toBe(false);
    const back = await tryTls(t.gw.publicPort, t.rootPem);
    back.close();
    expect(back.outcome).toBe('secure');
  });

  it('ok/a reload applies new connection caps: limits.maxConnections refuses the next connection', async () => {
    await t.writeConfig(config({ maxConnectionsPerIp: 0, maxConnections: 1 }));
    expect((await t.gw.reload()).result).toBe('success');
    const held = await rawTls(t.gw.publicPort, t.rootPem);
    try {
      const extra = await waitFor(async () => {
        const r = await tryTls(t.gw.publicPort, t.rootPem);
        r.close();
        return r.outcome === 'refused' ? r : undefined;
      }, { timeoutMs: 5000, what: 'a refused connection over maxConnections' });
      expect(extra.outcome).toBe('refused');
      expect(await metric(t, 'tollgate_connections_rejected_total')).toMatch(/reason="max_connections"\} [1-9]/);
    } finally {
      held.destroy();
      await t.writeConfig(config({}));
      await t.gw.reload();
    }
  });
});
