/**
 * Issue 16: the real client address. Behind an L4 balancer (PROXY protocol v1/v2, sent by a raw TCP
 * client before its TLS handshake) and behind an L7 one (x-forwarded-for from a trusted peer), the
 * client address is what per-IP limits, `hashBy: ip`, route `ipAccess` rules and the access log use.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { connect as h2Connect } from 'node:http2';
import type { Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent } from '../support/clients.js';
import { waitFor } from '../support/wait.js';

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

function v1(src: string): Buffer {
  const fam = src.includes(':') ? 'TCP6' : 'TCP4';
  const dst = fam === 'TCP6' ? '::1' : '127.0.0.1';
  return Buffer.from(`PROXY ${fam} ${src} ${dst} 40000 443\r\n`, 'latin1');
}

function v2Ipv6(src: number[], local = false): Buffer {
  const body = Buffer.alloc(36);
  Buffer.from(src).copy(body, 0);
  body.writeUInt16BE(40000, 32);
  body.writeUInt16BE(443, 34);
  const head = Buffer.from([local ? 0x20 : 0x21, local ? 0x00 : 0x21, 0, 0]);
  head.writeUInt16BE(local ? 0 : body.length, 2);
  return Buffer.concat([SIG, head, local ? Buffer.alloc(0) : body]);
}

function tcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Whether the server closes `socket` within `timeoutMs`. */
function closedWithin(socket: Socket, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.resume();
  });
}

/**
 * Writes `header` on a fresh TCP connection, then speaks TLS + HTTP/1.1 over it: one GET, the whole
 * answer back ('' with `error` when the handshake fails or the server closes first).
 */
async function viaBalancer(port: number, ca: string, header: Buffer, path: string, coalesce = false): Promise<{ status: number; text: string; error?: string }> {
  const raw = await tcp(port);
  // coalesce: the header and the ClientHello leave in one write, so the gateway reads both at once.
  if (coalesce) raw.cork();
  raw.write(header);
  return new Promise((resolve) => {
    const s = tlsConnect({ socket: raw, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    if (coalesce) setImmediate(() => raw.uncork());
    let text = '';
    let error: string | undefined;
    s.once('secureConnect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`));
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    s.on('error', (e) => (error = e.message));
    s.once('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text, error }));
  });
}

describe('PROXY protocol on the listener (issue 16)', () => {
  let up: TestUpstream;
  let t: TestGateway;
  const config = (trusted: string[]) => ({
    listen: { host: '127.0.0.1', port: 0, proxyProtocol: true },
    trustedProxies: trusted,
    limits: { headersTimeout: '1s' },
    routes: [
      { name: 'denied', match: { pathPrefix: '/denied' }, upstream: 'up', ipAccess: { deny: ['203.0.113.0/24'] } },
      {
        name: 'mtls-denied',
        match: { pathPrefix: '/mtls' },
        upstream: 'up',
        auth: { mtls: { allow: ['spiffe://tollgate.local/web'] } },
        ipAccess: { deny: ['203.0.113.0/24'] },
      },
      { name: 'limited', match: { pathPrefix: '/limited' }, upstream: 'up', rateLimit: { rate: 1, per: '1h', by: 'ip' } },
      { name: 'all', match: { pathPrefix: '/' }, upstream: 'up' },
    ],
    upstreams: { up: { targets: [{ url: up.url }] } },
  });

  beforeAll(async () => {
    up = await startUpstream('up');
    t = await startTestGateway(config(['127.0.0.1']));
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  const seen = (path: string) => up.seen.find((r) => r.url === path);

  it('ok/v1 header: the declared source is the client (x-forwarded-for, access log)', async () => {
    const r = await viaBalancer(t.gw.publicPort, t.rootPem, v1('198.51.100.22'), '/v1');
    expect(r.status).toBe(200);
    expect(seen('/v1')?.headers['x-forwarded-for']).toBe('198.51.100.22');
    const line = await waitFor(() => t.logs.find({ msg: 'request', path: '/v1' })[0]);
    expect(line.client).toBe('198.51.100.22');
  });

  it('ok/v2 header over IPv6, with the TLS ClientHello in the same segment', async () => {
    const src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42];
    const r = await viaBalancer(t.gw.publicPort, t.rootPem, v2Ipv6(src), '/v2', true);
    expect(r.status).toBe(200);
    expect(seen('/v2')?.headers['x-forwarded-for']).toBe('2001:db8::42');
  });

  it('ok/HTTP/2 behind a PROXY header: streams of the session carry the declared client', async () => {
    const raw = await tcp(t.gw.publicPort);
    raw.write(v1('198.51.100.33'));
    const socket = tlsConnect({ socket: raw, ca: t.rootPem, servername: 'localhost', ALPNProtocols: ['h2'] });
    const session = h2Connect(`https://localhost:${t.gw.publicPort}`, { createConnection: () => socket });
    try {
      for (const path of ['/h2-a', '/h2-b']) {
        const status = await new Promise<number>((resolve, reject) => {
          const req = session.request({ ':path': path });
          req.once('response', (h) => resolve(Number(h[':status'])));
          req.once('error', reject);
          req.resume();
          req.end();
        });
        expect(status).toBe(200);
        expect(seen(path)?.headers['x-forwarded-for']).toBe('198.51.100.33');
      }
    } finally {
      session.close();
    }
  });

  it('ok/v2 LOCAL (a balancer health check) keeps the socket address', async () => {
    const r = await viaBalancer(t.gw.publicPort, t.rootPem, v2Ipv6([], true), '/local');
    expect(r.status).toBe(200);
    expect(seen('/local')?.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('error/ipAccess refuses the declared address with 403 FORBIDDEN, before identity', async () => {
    const denied = await viaBalancer(t.gw.publicPort, t.rootPem, v1('203.0.113.7'), '/denied/x');
    expect(denied.status).toBe(403);
    expect(denied.text).toContain('"code":"FORBIDDEN"');
    expect((await viaBalancer(t.gw.publicPort, t.rootPem, v1('198.51.100.7'), '/denied/y')).status).toBe(200);
    // Without a client certificate an mTLS route answers 401, but the address rule comes first.
    expect((await viaBalancer(t.gw.publicPort, t.rootPem, v1('203.0.113.7'), '/mtls')).status).toBe(403);
    expect((await viaBalancer(t.gw.publicPort, t.rootPem, v1('198.51.100.7'), '/mtls')).status).toBe(401);
    expect(seen('/denied/x')).toBeUndefined();
  });

  it('ok/per-IP limits count each declared client apart', async () => {
    expect((await viaBalancer(t.gw.publicPort, t.rootPem, v1('192.0.2.1'), '/limited')).status).toBe(200);
    expect((await viaBalancer(t.gw.publicPort, t.rootPem, v1('192.0.2.1'), '/limited')).status).toBe(429);
    expect((await viaBalancer(t.gw.publicPort, t.rootPem, v1('192.0.2.2'), '/limited')).status).toBe(200);
  });

  it('error/a trusted peer without a header is closed', async () => {
    const r = await viaBalancer(t.gw.publicPort, t.rootPem, Buffer.alloc(0), '/none');
    expect(r.status).toBe(0);
    expect(seen('/none')).toBeUndefined();
  });

  it('error/a malformed header is closed', async () => {
    const s = await tcp(t.gw.publicPort);
    s.write('PROXY TCP4 1.2.3.999 127.0.0.1 1 2\r\n');
    expect(await closedWithin(s, 5000)).toBe(true);
  });

  it('error/a header that does not arrive in time (limits.headersTimeout) is closed', async () => {
    const s = await tcp(t.gw.publicPort);
    s.write('PROXY TCP4 ');
    expect(await closedWithin(s, 10_000)).toBe(true);
  });

  it('error/an HTTP/1.1 head trickled after the PROXY header is closed by limits.headersTimeout', async () => {
    const raw = await tcp(t.gw.publicPort);
    raw.write(v1('198.51.100.77'));
    const s = tlsConnect({ socket: raw, ca: t.rootPem, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    await new Promise<void>((resolve) => s.once('secureConnect', () => resolve()));
    s.write('GET /slow HTTP/1.1\r\nHost: localhost\r\n');
    s.on('error', () => undefined);
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      s.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
      s.resume();
    });
    expect(closed).toBe(true);
    expect(seen('/slow')).toBeUndefined();
  });

  it('error/after a reload that stops trusting the peer, its header is refused', async () => {
    await t.writeConfig(config(['10.0.0.0/8']));
    expect((await t.gw.reload()).result).toBe('success');
    const r = await viaBalancer(t.gw.publicPort, t.rootPem, v1('198.51.100.50'), '/untrusted');
    expect(r.status).toBe(0);
    expect(seen('/untrusted')).toBeUndefined();
    expect(t.logs.find({ msg: 'PROXY protocol connection refused', reason: 'untrusted_peer' }).length).toBeGreaterThan(0);
  });
});

describe('x-forwarded-for from a trusted L7 balancer (issue 16)', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let t: TestGateway;
  let agent: Agent;

  beforeAll(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    t = await startTestGateway({
      trustedProxies: ['127.0.0.1', '10.0.0.0/8'],
      routes: [
        { name: 'denied', match: { pathPrefix: '/denied' }, upstream: 'one', ipAccess: { allow: ['198.51.100.0/24'], deny: ['198.51.100.66'] } },
        { name: 'limited', match: { pathPrefix: '/limited' }, upstream: 'one', rateLimit: { rate: 1, per: '1h', by: 'ip' } },
        { name: 'hashed', match: { pathPrefix: '/hashed' }, upstream: 'two' },
        { name: 'all', match: { pathPrefix: '/' }, upstream: 'one' },
      ],
      upstreams: {
        one: { targets: [{ url: a.url }] },
        two: { balance: 'consistent-hash', hashBy: 'ip', targets: [{ url: a.url }, { url: b.url }] },
      },
    });
    agent = h1Agent({ ca: t.rootPem });
  });
  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await a?.close();
    await b?.close();
  });

  const get = (path: string, xff?: string) => h1(agent, `${t.url}${path}`, { headers: xff === undefined ? {} : { 'x-forwarded-for': xff } });

  it('ok/the first untrusted hop from the right is the client; the peer is appended upstream', async () => {
    expect((await get('/walk', '6.6.6.6, 198.51.100.9, 10.1.1.1')).status).toBe(200);
    expect(a.seen.find((r) => r.url === '/walk')?.headers['x-forwarded-for']).toBe('6.6.6.6, 198.51.100.9, 10.1.1.1, 127.0.0.1');
    const line = await waitFor(() => t.logs.find({ msg: 'request', path: '/walk' })[0]);
    expect(line.client).toBe('198.51.100.9');
  });

  it('error/ipAccess judges the client address, not the balancer', async () => {
    expect((await get('/denied', '198.51.100.9')).status).toBe(200);
    expect((await get('/denied', '198.51.100.66')).status).toBe(403);
    expect((await get('/denied', '203.0.113.1')).status).toBe(403);
    // The balancer itself (no x-forwarded-for) is not on the allow list.
    expect((await get('/denied')).status).toBe(403);
  });

  it('ok/per-IP limits count each forwarded client apart', async () => {
    expect((await get('/limited', '192.0.2.10')).status).toBe(200);
    expect((await get('/limited', '192.0.2.10')).status).toBe(429);
    expect((await get('/limited', '192.0.2.11')).status).toBe(200);
  });

  it('ok/hashBy: ip spreads forwarded clients over the pool and keeps each on one target', async () => {
    const by = new Map<string, Set<string>>();
    for (let i = 0; i < 24; i++) {
      for (let k = 0; k < 2; k++) {
        const r = await get('/hashed', `192.0.2.${100 + i}`);
        expect(r.status).toBe(200);
        const set = by.get(r.body) ?? new Set<string>();
        set.add(`192.0.2.${100 + i}`);
        by.set(r.body, set);
      }
    }
    // Both targets serve (with the balancer's address alone, one would get everything) …
    expect([...by.keys()].sort()).toEqual(['a', 'b']);
    // … and no client went to both.
    const [sa, sb] = [by.get('a') as Set<string>, by.get('b') as Set<string>];
    expect([...sa].filter((ip) => sb.has(ip))).toEqual([]);
  });
});
