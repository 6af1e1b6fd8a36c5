/**
 * Upstream faults over real sockets: the upstream is a raw net.Server that writes exactly the bytes
 * a broken or hostile origin would. A bad status line and an oversized header block are 502 JSON
 * errors (nothing of them reaches the client); a reset after the response head went out cuts the
 * client's response (HTTP/1.1: the connection closes before the declared length; HTTP/2: RST_STREAM
 * INTERNAL_ERROR), is logged once with code UPSTREAM_BODY_CUT, and the gateway keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ClientHttp2Session } from 'node:http2';
import { constants as h2c } from 'node:http2';
import { request, type Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { h1, h1Agent, h2, h2Session } from '../support/clients.js';
import { rawTls, exchange } from '../support/raw.js';
import { waitFor } from '../support/wait.js';

const BODY_LENGTH = 100_000;
const FAULTS = ['/ok', '/bad-status', '/garbage', '/big-headers', '/cut', '/cut-chunked', '/cut-at-head'];

interface RawUpstream {
  readonly url: string;
  readonly requests: string[];
  close(): Promise<void>;
}

/** One answer per request path, written as raw bytes; the connection is closed or reset after it. */
function answer(path: string, sock: Socket): void {
  switch (path) {
    case '/ok':
      sock.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
      return;
    case '/bad-status':
      sock.end('HTTP/1.1 2x0 Fine\r\ncontent-length: 2\r\n\r\nok');
      return;
    case '/garbage':
      sock.end('SSH-2.0-OpenSSH_9.6\r\n\r\n');
      return;
    case '/big-headers': {
      // 64 KiB of header block: 1,024 fields of 64 bytes.
      const fields = Array.from({ length: 1024 }, (_, i) => `x-pad-${String(i).padStart(4, '0')}: ${'v'.repeat(50)}\r\n`).join('');
      sock.end(`HTTP/1.1 200 OK\r\ncontent-length: 2\r\n${fields}\r\nok`);
      return;
    }
    case '/cut':
    case '/cut-chunked': {
      const head =
        path === '/cut'
          ? `HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${BODY_LENGTH}\r\n\r\n`
          : 'HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n';
      const part = Buffer.alloc(8192, 0x61);
      sock.write(head);
      sock.write(path === '/cut' ? part : Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]), () => {
        // Let the head and the first bytes reach the gateway (and the client), then a TCP RST.
        setTimeout(() => sock.resetAndDestroy(), 100);
      });
      return;
    }
    case '/cut-at-head':
      sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${BODY_LENGTH}\r\n\r\n`, () => setTimeout(() => sock.resetAndDestroy(), 100));
      return;
    default:
      sock.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
  }
}

async function startRawUpstream(): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.removeListener('data', onData);
      const path = buf.slice(0, buf.indexOf('\r\n')).split(' ')[1] ?? '/';
      requests.push(path);
      answer(path, sock);
    };
    sock.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Reads an HTTP/2 stream to its end or reset: status, bytes and the reset code. */
function h2Raw(session: ClientHttp2Session, path: string): Promise<{ status: number; bytes: number; rstCode: number; ended: boolean }> {
  return new Promise((resolve) => {
    const stream = session.request({ ':method': 'GET', ':path': path });
    let status = 0;
    let bytes = 0;
    let ended = false;
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (d: Buffer) => (bytes += d.length));
    stream.on('end', () => (ended = true));
    stream.on('error', () => undefined);
    stream.on('close', () => resolve({ status, bytes, rstCode: stream.rstCode ?? 0, ended }));
  });
}

describe('upstream faults over real sockets', () => {
  let up: RawUpstream;
  let t: TestGateway;
  let agent: Agent;
  let session: ClientHttp2Session;

  beforeAll(async () => {
    up = await startRawUpstream();
    t = await startTestGateway({
      // One pool per fault, all on the same raw upstream: one fault's failures (passive health)
      // never decide another's answer.
      routes: FAULTS.map((p) => ({ name: p.slice(1), match: { path: p }, upstream: p.slice(1) })),
      upstreams: Object.fromEntries(FAULTS.map((p) => [p.slice(1), { targets: [{ url: up.url }] }])),
    });
    agent = h1Agent({ ca: t.rootPem });
    session = await h2Session(t.url, { ca: t.rootPem });
  });

  afterAll(async () => {
    session?.close();
    await agent?.close();
    await t?.stop();
    await up?.close();
  });

  const requestLines = (path: string): Record<string, unknown>[] => t.logs.lines.filter((l) => l.msg === 'request' && l.path === path);

  for (const path of ['/bad-status', '/garbage']) {
    it(`error/an upstream status line that does not parse (${path}) is a 502 JSON error over h1 and h2`, async () => {
      const a = await h1(agent, `${t.url}${path}`);
      expect(a.status).toBe(502);
      expect(a.headers['content-type']).toBe('application/json');
      expect(JSON.parse(a.body)).toMatchObject({ error: { code: 'UPSTREAM_UNAVAILABLE' } });
      const b = await h2(session, path);
      expect(b.status).toBe(502);
      expect(JSON.parse(b.body)).toMatchObject({ error: { code: 'UPSTREAM_UNAVAILABLE' } });
      await waitFor(() => requestLines(path).length === 2, { what: 'two request lines' });
      for (const line of requestLines(path)) expect(line).toMatchObject({ status: 502, code: 'UPSTREAM_UNAVAILABLE' });
    });
  }

  it('error/a 64 KiB upstream header block is a 502 JSON error, none of it forwarded (h1 and h2)', async () => {
    const a = await h1(agent, `${t.url}/big-headers`);
    expect(a.status).toBe(502);
    expect(JSON.parse(a.body)).toMatchObject({ error: { code: 'UPSTREAM_UNAVAILABLE' } });
    expect(Object.keys(a.headers).some((h) => h.startsWith('x-pad-'))).toBe(false);
    const b = await h2(session, '/big-headers');
    expect(b.status).toBe(502);
    expect(Object.keys(b.headers).some((h) => h.startsWith('x-pad-'))).toBe(false);
    await waitFor(() => requestLines('/big-headers').length === 2, { what: 'two request lines' });
    for (const line of requestLines('/big-headers')) expect(line).toMatchObject({ status: 502, code: 'UPSTREAM_UNAVAILABLE' });
  });

  for (const path of ['/cut', '/cut-chunked', '/cut-at-head']) {
    it(`error/an upstream reset after the head (${path}) cuts the h1 response: the connection closes before the end`, async () => {
      // undici sees the head and then a broken body; or, when node had not flushed the head before
      // the connection went (/cut-at-head: no body byte was written), a socket closed early.
      await expect(
        request(`${t.url}${path}`, { dispatcher: agent }).then(async (res) => {
          expect(res.statusCode).toBe(200);
          return res.body.arrayBuffer();
        }),
      ).rejects.toThrow(/other side closed|terminated|aborted|socket|closed/i);
      // Over a raw socket: the head, fewer bytes than declared (or no last chunk), then the close.
      const sock = await rawTls(t.gw.publicPort, t.rootPem);
      const { data, closed } = await exchange(sock, `GET ${path} HTTP/1.1\r\nhost: localhost\r\n\r\n`, 10_000);
      expect(closed).toBe(true);
      if (data !== '') {
        expect(data.startsWith('HTTP/1.1 200 ')).toBe(true);
        const body = data.slice(data.indexOf('\r\n\r\n') + 4);
        if (/content-length: /i.test(data)) expect(body.length).toBeLessThan(BODY_LENGTH);
        else expect(body.endsWith('0\r\n\r\n')).toBe(false);
      }
      if (path !== '/cut-at-head') expect(data).not.toBe('');
      await waitFor(() => requestLines(path).length === 2, { what: 'two request lines' });
      for (const line of requestLines(path)) expect(line).toMatchObject({ status: 200, code: 'UPSTREAM_BODY_CUT' });
    });

    it(`error/an upstream reset after the head (${path}) resets the h2 stream with INTERNAL_ERROR; the session lives on`, async () => {
      const before = requestLines(path).length;
      const r = await h2Raw(session, path);
      expect(r.status).toBe(200);
      expect(r.ended).toBe(false);
      expect(r.rstCode).toBe(h2c.NGHTTP2_INTERNAL_ERROR);
      expect(r.bytes).toBeLessThan(BODY_LENGTH);
      // The same session still serves.
      expect((await h2(session, '/ok')).status).toBe(200);
      await waitFor(() => requestLines(path).length === before + 1, { what: 'the request line' });
      expect(requestLines(path).at(-1)).toMatchObject({ status: 200, proto: 'h2', code: 'UPSTREAM_BODY_CUT' });
    });
  }

  it('ok/after every fault the gateway is up and serves both protocols', async () => {
    expect((await h1(agent, `${t.url}/ok`)).body).toBe('ok');
    expect((await h2(session, '/ok')).body).toBe('ok');
    expect((await fetch(`${t.adminUrl}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${t.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/tollgate_upstream_requests_total\{upstream="cut",target="[^"]+",outcome="reset"\} [1-9]/);
  });
});
