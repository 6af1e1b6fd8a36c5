import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { rawTls } from '../support/raw.js';

/** A WebSocket-ish upstream: answers the upgrade with 101 and echoes every byte back. */
async function startEchoUpgrade(): Promise<{ server: Server; url: string; seenHeaders: Record<string, unknown>[] }> {
  const seenHeaders: Record<string, unknown>[] = [];
  const server = createServer((_req, res) => res.end('plain'));
  server.on('upgrade', (req, socket, head) => {
    seenHeaders.push(req.headers);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: test-accept\r\n\r\n');
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seenHeaders };
}

describe('WebSocket upgrade pass-through', () => {
  let echo: Awaited<ReturnType<typeof startEchoUpgrade>>;
  let t: TestGateway;
  beforeAll(async () => {
    echo = await startEchoUpgrade();
    t = await startTestGateway({
      routes: [
        { name: 'ws', match: { pathPrefix: '/ws' }, upstream: 'echo' },
        { name: 'locked', match: { pathPrefix: '/locked' }, upstream: 'echo', auth: { mtls: { allow: ['spiffe://tollgate.local/web'] } } },
      ],
      upstreams: { echo: { targets: [{ url: echo.url }] } },
    });
  });
  afterAll(async () => {
    await t?.stop();
    echo?.server.closeAllConnections();
    echo?.server.close();
  });

  it('ok/an upgrade is answered 101 and bytes flow both ways', async () => {
    const s = await rawTls(t.gw.publicPort, t.rootPem);
    let data = '';
    s.on('data', (c: Buffer) => (data += c.toString('latin1')));
    s.write('GET /ws/chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nx-forwarded-client-cert: spoofed\r\n\r\n');
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (data.includes('\r\n\r\n')) resolve();
        else s.once('data', check);
      };
      check();
    });
    expect(data).toMatch(/^HTTP\/1\.1 101 /);
    expect(data.toLowerCase()).toContain('upgrade: websocket');
    expect(data).toMatch(/x-request-id: [A-Za-z0-9._:-]+/);
    data = '';
    s.write('ping-frame');
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (data.includes('ping-frame')) resolve();
        else s.once('data', check);
      };
      check();
    });
    const headers = echo.seenHeaders.at(-1)!;
    expect(headers['sec-websocket-key']).toBe('dGhlIHNhbXBsZSBub25jZQ==');
    expect(headers['x-forwarded-client-cert']).toBeUndefined();
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    s.destroy();
  });

  it('error/an upgrade on a protected route without a certificate gets the 401 JSON error', async () => {
    const s = await rawTls(t.gw.publicPort, t.rootPem);
    let data = '';
    s.on('data', (c: Buffer) => (data += c.toString('latin1')));
    s.write('GET /locked HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await new Promise<void>((resolve) => s.on('close', () => resolve()));
    expect(data).toMatch(/^HTTP\/1\.1 401 /);
    expect(data).toContain('"code":"UNAUTHENTICATED"');
  });
});
