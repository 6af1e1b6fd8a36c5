/**
 * Issue 16, "correct as it is today": the raw HTTP/1.1 400/431 answers and the 308 redirects carry
 * x-request-id; open WebSocket connections count as in flight, so shutdown drains them like requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { exchange, rawTls } from '../support/raw.js';
import { waitFor } from '../support/wait.js';

async function startEchoUpgrade(): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => res.end('plain'));
  server.on('upgrade', (_req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.pipe(socket);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Opens a WebSocket through the gateway; resolves once the 101 arrived. */
async function openWs(port: number, ca: string): Promise<{ s: TLSSocket; echo(text: string): Promise<boolean>; closed: Promise<void> }> {
  const s = await rawTls(port, ca);
  let data = '';
  s.on('data', (c: Buffer) => (data += c.toString('latin1')));
  s.on('error', () => undefined);
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  s.write('GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  await waitFor(() => data.includes('\r\n\r\n'), { what: '101' });
  expect(data).toMatch(/^HTTP\/1\.1 101 /);
  return {
    s,
    closed,
    echo: async (text) => {
      data = '';
      s.write(text);
      await waitFor(() => data.includes(text) || s.destroyed, { timeoutMs: 5000, what: 'echo' });
      return data.includes(text);
    },
  };
}

describe('edge answers carry x-request-id (issue 16)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ redirectHttp: { port: 0 }, routes: [] });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('ok/the raw 431 (head over maxHeaderBytes) carries x-request-id', async () => {
    const s = await rawTls(t.gw.publicPort, t.rootPem);
    const r = await exchange(s, `GET / HTTP/1.1\r\nHost: localhost\r\nx-big: ${'a'.repeat(40_000)}\r\n\r\n`);
    expect(r.data).toMatch(/^HTTP\/1\.1 431 /);
    expect(r.data).toMatch(/\r\nx-request-id: [A-Za-z0-9._:-]+\r\n/);
  });

  it('ok/the raw 400 (ambiguous framing) carries x-request-id', async () => {
    const s = await rawTls(t.gw.publicPort, t.rootPem);
    const r = await exchange(s, 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    expect(r.data).toMatch(/^HTTP\/1\.1 400 /);
    const id = /\r\nx-request-id: ([A-Za-z0-9._:-]+)\r\n/.exec(r.data)?.[1];
    expect(id).toBeDefined();
    expect(r.data).toContain(`"requestId":"${id}"`);
  });

  const redirect = (headers: Record<string, string>) =>
    new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: t.gw.redirectPort, path: '/x?y=1', headers: { host: 'gw.example', ...headers } }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, headers: res.headers });
      });
      req.once('error', reject);
      req.end();
    });

  it('ok/the 308 redirect carries the client request id when valid, else a new one', async () => {
    const mine = await redirect({ 'x-request-id': 'abc-123' });
    expect(mine.status).toBe(308);
    expect(mine.headers.location).toBe(`https://gw.example:${t.gw.publicPort}/x?y=1`);
    expect(mine.headers['x-request-id']).toBe('abc-123');
    const fresh = await redirect({ 'x-request-id': 'bad id with spaces' });
    expect(fresh.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
    expect(fresh.headers['x-request-id']).not.toBe('bad id with spaces');
  });
});

describe('shutdown drains open WebSocket connections (issue 16)', () => {
  let echo: Awaited<ReturnType<typeof startEchoUpgrade>>;
  beforeAll(async () => {
    echo = await startEchoUpgrade();
  });
  afterAll(() => {
    echo?.server.closeAllConnections();
    echo?.server.close();
  });
  const config = (drainTimeout: string) => ({
    shutdown: { drainTimeout },
    routes: [{ name: 'ws', match: { pathPrefix: '/ws' }, upstream: 'echo' }],
    upstreams: { echo: { targets: [{ url: echo.url }] } },
  });

  it('ok/a WebSocket keeps working during the drain; shutdown ends when it closes', async () => {
    const t = await startTestGateway(config('30s'));
    const ws = await openWs(t.gw.publicPort, t.rootPem);
    expect(t.gw.app.inFlight()).toBe(1);
    let stopped = false;
    const stopping = t.stop().then(() => (stopped = true));
    await waitFor(() => t.gw.draining, { what: 'draining' });
    expect(await ws.echo('during-drain')).toBe(true);
    expect(stopped).toBe(false);
    ws.s.end();
    await stopping;
    expect(t.gw.app.inFlight()).toBe(0);
  });

  it('error/a WebSocket still open at shutdown.drainTimeout is closed then', async () => {
    const t = await startTestGateway(config('300ms'));
    const ws = await openWs(t.gw.publicPort, t.rootPem);
    const started = performance.now();
    await t.stop();
    await ws.closed;
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  });
});
