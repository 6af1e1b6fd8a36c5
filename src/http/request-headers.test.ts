import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkRequestHeaders, DEFAULT_HEADER_POLICY, dropFromRequest, forwardedHeader, isWebSocketHandshake, type HeaderPolicy } from './request-headers.js';
import { HOP_BY_HOP } from './hop-headers.js';

const FC = { seed: Number(process.env.FC_SEED ?? 20261207), numRuns: Number(process.env.FC_RUNS ?? 2000) };
const P: HeaderPolicy = { ...DEFAULT_HEADER_POLICY, strip: new Set(['x-mine']) };

describe('checkRequestHeaders', () => {
  it('ok/an ordinary h1 request passes', () => {
    expect(checkRequestHeaders(['Host', 'x', 'Accept', '*/*'], false, P)).toBeUndefined();
  });
  it.each([
    [['Accept', '*/*'], 'Missing Host'],
    [['Host', 'a', 'host', 'b'], 'More than one Host'],
    [['Host', 'a', 'Transfer_Encoding', 'chunked'], 'not allowed'],
    [['Host', 'a', 'CONTENT_LENGTH', '1'], 'not allowed'],
    [['Host', 'a', 'x y', '1'], 'Invalid header name'],
    [['Host', 'a', 'x', 'a\r\nb'], 'Invalid character'],
  ])('error/h1 %j → 400', (raw, msg) => {
    const p = checkRequestHeaders(raw, false, P);
    expect(p?.code).toBe('BAD_REQUEST');
    expect(p?.message).toContain(msg);
  });
  it.each([
    [[':authority', 'a', 'X-Up', '1'], 'Invalid header name'],
    [[':method', 'GET', 'x', '1', ':path', '/'], 'pseudo-header after'],
    [[':authority', 'a', 'host', 'b'], 'disagree'],
    [[':authority', 'a', 'x', 'a\u0000'], 'Invalid character'],
  ])('error/h2 %j → 400', (raw, msg) => {
    expect(checkRequestHeaders(raw, true, P)?.message).toContain(msg);
  });
  it('ok/h2 without host, or with a host that agrees, passes', () => {
    expect(checkRequestHeaders([':authority', 'A:1'], true, P)).toBeUndefined();
    expect(checkRequestHeaders([':authority', 'a:1', 'host', 'a:1'], true, P)).toBeUndefined();
  });
  it('error/one header over maxHeaderCount is a 431; pseudo-headers do not count', () => {
    const raw = [':method', 'GET', ':path', '/'];
    for (let i = 0; i < 100; i++) raw.push(`x-${i}`, '1');
    expect(checkRequestHeaders(raw, true, P)).toBeUndefined();
    raw.push('x-last', '1');
    expect(checkRequestHeaders(raw, true, P)?.code).toBe('HEADERS_TOO_LARGE');
  });
});

describe('dropFromRequest', () => {
  it.each(['forwarded', 'x-real-ip', 'client-cert', 'client-cert-chain', 'x-client-cert', 'x-ssl-client-verify', 'x-envoy-internal', 'x-mine', 'proxy-foo', 'x_user'])(
    'ok/%s is dropped',
    (h) => expect(dropFromRequest(h, P)).toBe(true),
  );
  it('ok/ordinary headers are kept; underscores kept when allowed', () => {
    expect(dropFromRequest('accept', P)).toBe(false);
    expect(dropFromRequest('x_user', { ...P, underscores: 'allow' })).toBe(false);
  });
});

describe('forwardedHeader', () => {
  it('ok/replaces the client value for an untrusted peer', () => {
    expect(forwardedHeader('for=6.6.6.6', '1.2.3.4', 'example.com', false)).toBe('for=1.2.3.4;proto=https;host=example.com');
  });
  it('ok/appends for a trusted proxy; IPv6 and ports quoted', () => {
    expect(forwardedHeader('for=9.9.9.9', '::1', 'a:8443', true)).toBe('for=9.9.9.9, for="[::1]";proto=https;host="a:8443"');
  });
});

describe('isWebSocketHandshake', () => {
  const ws = { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' };
  it('ok/a real handshake', () => expect(isWebSocketHandshake('GET', ws)).toBe(true));
  it.each([
    ['POST', ws],
    ['GET', { ...ws, upgrade: 'h2c' }],
    ['GET', { ...ws, connection: 'keep-alive' }],
    ['GET', { ...ws, 'sec-websocket-key': undefined }],
    ['GET', { ...ws, 'sec-websocket-version': '8' }],
  ])('error/not a handshake: %s %j', (m, h) => expect(isWebSocketHandshake(m, h)).toBe(false));
});

describe('header sanitiser properties', () => {
  const name = fc.oneof(
    fc.constantFrom('Host', 'host', 'Content_Length', 'Transfer_Encoding', 'x_a', 'Forwarded', 'X-Real-IP', 'x-envoy-x', 'X-SSL-Client-DN', 'proxy-x', 'x-mine', 'accept', 'X-Up', ':path', ':authority'),
    fc.string({ minLength: 0, maxLength: 12 }),
  );
  const value = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('a\r\nb', '\u0000', 'ok'));
  const raw = fc.array(fc.tuple(name, value), { maxLength: 120 }).map((pairs) => pairs.flat());

  it('ok/whatever passes the check has a valid, bounded head; what is kept is never gateway-owned', () => {
    fc.assert(
      fc.property(raw, fc.boolean(), (r, h2) => {
        const problem = checkRequestHeaders(r, h2, P);
        if (problem !== undefined) return;
        let regular = 0;
        let hosts = 0;
        for (let i = 0; i < r.length; i += 2) {
          const n = r[i] as string;
          const v = r[i + 1] as string;
          expect(v.includes('\r') || v.includes('\n') || v.includes('\u0000')).toBe(false);
          if (h2 && n.startsWith(':')) continue;
          regular++;
          expect(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(n)).toBe(true);
          if (h2) expect(n).toBe(n.toLowerCase());
          const lower = n.toLowerCase();
          expect(lower === 'content_length' || lower === 'transfer_encoding').toBe(false);
          if (lower === 'host') hosts++;
          const kept = !dropFromRequest(lower, P) && !HOP_BY_HOP.has(lower);
          if (kept) expect(/^(forwarded|x-real-ip|client-cert|x-envoy-|x-ssl-client-|proxy-|x-mine$)|_/.test(lower)).toBe(false);
        }
        expect(regular).toBeLessThanOrEqual(P.maxHeaderCount);
        expect(hosts).toBeLessThanOrEqual(1);
        if (!h2) expect(hosts).toBe(1);
      }),
      FC,
    );
  });
});
