import { describe, expect, it } from 'vitest';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { compileCompression, compressibleType, compressionFor, createCompressor, flushCompressor, negotiateEncoding, type ResponseFacts } from './compress.js';

const c = compileCompression({ types: ['text/*', 'application/json', 'application/*+json', 'image/svg+xml'], minBytes: 100, level: 5 });
const facts: ResponseFacts = { method: 'GET', status: 200, ranged: false, acceptEncoding: 'gzip, br' };

describe('negotiateEncoding', () => {
  it.each([
    ['gzip, deflate, br', 'br'],
    ['gzip', 'gzip'],
    ['br;q=0.5, gzip;q=0.8', 'gzip'],
    ['br;q=0, gzip;q=0', undefined],
    ['*', 'br'],
    ['*;q=0.1, br;q=0', 'gzip'],
    ['identity', undefined],
    ['', undefined],
    ['deflate', undefined],
  ])('ok/%s → %s', (ae, want) => {
    expect(negotiateEncoding(ae)).toBe(want);
  });
});

describe('compressibleType', () => {
  it.each([
    ['text/html; charset=utf-8', true],
    ['application/json', true],
    ['application/problem+json', true],
    ['image/svg+xml', true],
    ['text/event-stream', false],
    ['image/png', false],
    ['application/octet-stream', false],
    [undefined, false],
  ])('ok/%s → %s', (ct, want) => {
    expect(compressibleType(c, ct)).toBe(want);
  });
});

describe('compressionFor', () => {
  it('ok/compresses: encoding set, length removed, strong ETag weakened, Vary added', () => {
    const h: Record<string, string | string[]> = { 'content-type': 'text/plain', 'content-length': '5000', etag: '"abc"' };
    expect(compressionFor(c, facts, h)).toBe('br');
    expect(h).toEqual({ 'content-type': 'text/plain', etag: 'W/"abc"', vary: 'Accept-Encoding', 'content-encoding': 'br' });
  });

  it('ok/chunked (no length) is compressed', () => {
    expect(compressionFor(c, facts, { 'content-type': 'application/json' })).toBe('br');
  });

  it('ok/never for HEAD, 204, 304, 206, ranges, an encoded body, no-transform, small or other types', () => {
    const h = (): Record<string, string | string[]> => ({ 'content-type': 'text/plain', 'content-length': '5000' });
    expect(compressionFor(c, { ...facts, method: 'HEAD' }, h())).toBeUndefined();
    for (const status of [204, 206, 304]) expect(compressionFor(c, { ...facts, status }, h())).toBeUndefined();
    expect(compressionFor(c, { ...facts, ranged: true }, h())).toBeUndefined();
    expect(compressionFor(c, facts, { ...h(), 'content-encoding': 'gzip' })).toBeUndefined();
    expect(compressionFor(c, facts, { ...h(), 'cache-control': 'public, no-transform' })).toBeUndefined();
    expect(compressionFor(c, facts, { ...h(), 'content-length': '99' })).toBeUndefined();
    expect(compressionFor(c, facts, { ...h(), 'content-type': 'image/png' })).toBeUndefined();
  });

  it('ok/a client that accepts neither gets the body as is, with Vary', () => {
    const h: Record<string, string | string[]> = { 'content-type': 'text/plain', 'content-length': '5000' };
    expect(compressionFor(c, { ...facts, acceptEncoding: undefined }, h)).toBeUndefined();
    expect(h.vary).toBe('Accept-Encoding');
    expect(h['content-length']).toBe('5000');
  });
});

describe('createCompressor', () => {
  async function roundTrip(enc: 'gzip' | 'br', flush: boolean): Promise<string> {
    const z = createCompressor(enc, 5);
    const out: Buffer[] = [];
    z.on('data', (b: Buffer) => out.push(b));
    const done = new Promise((r) => z.once('end', r));
    for (let i = 0; i < 10; i++) {
      z.write(`line ${i} `.repeat(50));
      if (flush) flushCompressor(z, enc);
    }
    z.end();
    await done;
    const all = Buffer.concat(out);
    return (enc === 'gzip' ? gunzipSync(all) : brotliDecompressSync(all)).toString();
  }

  it.each(['gzip', 'br'] as const)('ok/%s round-trips, with and without per-chunk flushes', async (enc) => {
    const want = Array.from({ length: 10 }, (_, i) => `line ${i} `.repeat(50)).join('');
    expect(await roundTrip(enc, false)).toBe(want);
    expect(await roundTrip(enc, true)).toBe(want);
  });
});
