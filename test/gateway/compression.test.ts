/**
 * Issue 16: response compression over real TLS, HTTP/1.1 and HTTP/2. Bodies are decompressed by the
 * test and compared with what the upstream sent, for gzip and br; a chunked response still streams
 * chunk by chunk; a client that stops reading stops the upstream (backpressure through the compressor).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { brotliDecompressSync, createBrotliDecompress, createGunzip, gunzipSync, gzipSync, type Gunzip, type BrotliDecompress } from 'node:zlib';
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import { request, type Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { h1Agent, h2Session } from '../support/clients.js';
import { waitFor } from '../support/wait.js';

const TEXT = Array.from({ length: 2000 }, (_, i) => `line ${i}: the quick brown fox jumps over the lazy dog\n`).join('');
const JSON_PARTS = Array.from({ length: 20 }, (_, i) => JSON.stringify({ i, name: `item-${i}`, tags: ['a', 'b', 'c'] }));
const HUGE = 32 * 1024 * 1024;

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function decode(enc: string | string[] | undefined, body: Buffer): string {
  if (enc === 'gzip') return gunzipSync(body).toString();
  if (enc === 'br') return brotliDecompressSync(body).toString();
  return body.toString();
}

describe('compression (issue 16)', () => {
  let upstream: Server;
  let upUrl = '';
  let produced = 0;
  let releaseStream: (() => void) | undefined;
  let t: TestGateway;
  let agent: Agent;
  let session: ClientHttp2Session;

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      const url = req.url ?? '';
      if (url.startsWith('/text') || url.startsWith('/off')) {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(TEXT)), etag: '"v1"' });
        res.end(TEXT);
      } else if (url.startsWith('/small')) {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
        res.end('small');
      } else if (url.startsWith('/png')) {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(Buffer.byteLength(TEXT)) });
        res.end(TEXT);
      } else if (url.startsWith('/pre-gzipped')) {
        const gz = gzipSync(TEXT);
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': String(gz.length) });
        res.end(gz);
      } else if (url.startsWith('/json-chunked')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('[');
        JSON_PARTS.forEach((p, i) => res.write((i === 0 ? '' : ',') + p));
        res.end(']');
      } else if (url.startsWith('/stream')) {
        // First chunk, then wait until the test saw it decompressed before sending the second.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first chunk '.repeat(200));
        releaseStream = () => res.end('second chunk '.repeat(200));
      } else if (url.startsWith('/huge')) {
        // Poorly compressible text, produced with backpressure; `produced` counts what was written.
        res.writeHead(200, { 'content-type': 'text/plain' });
        const chunk = Buffer.from(randomBytes(192 * 1024).toString('base64'));
        let left = HUGE;
        const pump = (): void => {
          while (left > 0) {
            const n = Math.min(left, chunk.length);
            left -= n;
            produced += n;
            if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    upUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    t = await startTestGateway({
      compression: { enabled: true, minBytes: 1024 },
      routes: [
        { name: 'off', match: { pathPrefix: '/off' }, upstream: 'up', compression: { enabled: false } },
        { name: 'fast', match: { pathPrefix: '/huge' }, upstream: 'up', compression: { level: 1 } },
        { name: 'all', match: { pathPrefix: '/' }, upstream: 'up' },
      ],
      upstreams: { up: { targets: [{ url: upUrl }] } },
    });
    agent = h1Agent({ ca: t.rootPem });
    session = await h2Session(t.url, { ca: t.rootPem });
  });
  afterAll(async () => {
    session?.close();
    await agent?.close();
    await t?.stop();
    upstream?.closeAllConnections();
    await new Promise<void>((r) => upstream?.close(() => r()));
  });

  async function get1(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
    const res = await request(`${t.url}${path}`, { dispatcher: agent, method: method as 'GET', headers });
    return { status: res.statusCode, headers: res.headers as RawResponse['headers'], body: Buffer.from(await res.body.arrayBuffer()) };
  }
  function get2(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const s = session.request({ ':method': method, ':path': path, ...headers });
      let h: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      s.on('response', (x) => (h = x));
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => resolve({ status: Number(h[':status']), headers: h as RawResponse['headers'], body: Buffer.concat(chunks) }));
      s.on('error', reject);
    });
  }
  const clients = [
    ['h1', get1],
    ['h2', get2],
  ] as const;

  for (const [proto, get] of clients) {
    for (const enc of ['gzip', 'br'] as const) {
      it(`ok/${proto} ${enc}: a known-length text body is compressed and decompresses to the original`, async () => {
        const r = await get('/text', { 'accept-encoding': enc === 'br' ? 'gzip;q=0.5, br' : 'gzip, deflate' });
        expect(r.status).toBe(200);
        expect(r.headers['content-encoding']).toBe(enc);
        expect(r.headers['content-length']).toBeUndefined();
        expect(r.headers.vary).toBe('Accept-Encoding');
        expect(r.headers.etag).toBe('W/"v1"');
        expect(r.body.length).toBeLessThan(Buffer.byteLength(TEXT) / 5);
        expect(decode(r.headers['content-encoding'], r.body)).toBe(TEXT);
      });

      it(`ok/${proto} ${enc}: a chunked JSON body is compressed`, async () => {
        const r = await get('/json-chunked', { 'accept-encoding': enc });
        expect(r.headers['content-encoding']).toBe(enc);
        expect(JSON.parse(decode(enc, r.body))).toEqual(JSON_PARTS.map((p) => JSON.parse(p)));
      });

      it(`ok/${proto} ${enc}: a chunked response keeps streaming (the first chunk arrives before the upstream sends the second)`, async () => {
        releaseStream = undefined;
        const out: Buffer[] = [];
        const inflate: Gunzip | BrotliDecompress = enc === 'gzip' ? createGunzip() : createBrotliDecompress();
        inflate.on('data', (c: Buffer) => out.push(c));
        let ended: Promise<void>;
        if (proto === 'h1') {
          const res = await request(`${t.url}/stream`, { dispatcher: agent, headers: { 'accept-encoding': enc } });
          expect(res.headers['content-encoding']).toBe(enc);
          res.body.on('data', (c: Buffer) => inflate.write(c));
          ended = new Promise((r) => res.body.on('end', () => r()));
        } else {
          const s = session.request({ ':path': '/stream', 'accept-encoding': enc });
          s.on('data', (c: Buffer) => inflate.write(c));
          ended = new Promise((r) => s.on('end', () => r()));
        }
        await waitFor(() => Buffer.concat(out).toString() === 'first chunk '.repeat(200) && releaseStream !== undefined, { timeoutMs: 10_000, what: 'the first chunk, decompressed' });
        (releaseStream as (() => void) | undefined)?.();
        await ended;
        inflate.end();
        await new Promise((r) => inflate.once('end', r));
        expect(Buffer.concat(out).toString()).toBe('first chunk '.repeat(200) + 'second chunk '.repeat(200));
      });
    }

    it(`ok/${proto}: not compressed without Accept-Encoding (Vary still set), under minBytes, for other types, pre-compressed, HEAD, Range, or a route that turns it off`, async () => {
      const plain = await get('/text');
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.headers.vary).toBe('Accept-Encoding');
      expect(plain.body.toString()).toBe(TEXT);
      const ae = { 'accept-encoding': 'gzip, br' };
      const small = await get('/small', ae);
      expect(small.headers['content-encoding']).toBeUndefined();
      expect(small.headers['content-length']).toBe('5');
      expect((await get('/png', ae)).headers['content-encoding']).toBeUndefined();
      const pre = await get('/pre-gzipped', ae);
      expect(pre.headers['content-encoding']).toBe('gzip');
      expect(gunzipSync(pre.body).toString()).toBe(TEXT);
      const head = await get('/text', ae, 'HEAD');
      expect(head.headers['content-encoding']).toBeUndefined();
      expect(head.body.length).toBe(0);
      expect((await get('/text', { ...ae, range: 'bytes=0-10' })).headers['content-encoding']).toBeUndefined();
      const off = await get('/off', ae);
      expect(off.headers['content-encoding']).toBeUndefined();
      expect(off.headers.vary).toBeUndefined();
    });
  }

  async function stallThen(): Promise<void> {
    let last = -1;
    await waitFor(
      async () => {
        const now = produced;
        const stable = now === last && now > 0;
        last = now;
        if (!stable) await new Promise((r) => setTimeout(r, 200));
        return stable;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'the upstream to stall' },
    );
    expect(produced).toBeLessThan(HUGE / 2);
  }

  it('ok/backpressure: a client that stops reading stops the upstream; the body then completes intact (h1, gzip)', async () => {
    produced = 0;
    const res = await request(`${t.url}/huge`, { dispatcher: agent, headers: { 'accept-encoding': 'gzip' } });
    expect(res.headers['content-encoding']).toBe('gzip');
    await stallThen();
    // Collected, then inflated at once: an in-process streaming gunzip shares the libuv pool with the gateway's gzip.
    const body = Buffer.from(await res.body.arrayBuffer());
    expect(gunzipSync(body).length).toBe(HUGE);
    expect(produced).toBe(HUGE);
  }, 60_000);

  it('ok/backpressure: the same over HTTP/2 (a paused stream stops the upstream), br', async () => {
    produced = 0;
    const s = session.request({ ':path': '/huge', 'accept-encoding': 'br' });
    const head = await new Promise<IncomingHttpHeaders>((r) => s.once('response', r));
    expect(head['content-encoding']).toBe('br');
    s.pause();
    await stallThen();
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.resume();
    await new Promise((r) => s.once('end', r));
    expect(brotliDecompressSync(Buffer.concat(chunks)).length).toBe(HUGE);
    expect(produced).toBe(HUGE);
  }, 60_000);
});
