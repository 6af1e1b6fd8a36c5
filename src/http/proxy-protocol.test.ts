import { describe, expect, it } from 'vitest';
import { parseProxyHeader, V1_MAX_BYTES, V2_MAX_BYTES } from './proxy-protocol.js';

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

function v2(cmd: number, fam: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | cmd;
  head[1] = fam;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIG, head, body]);
}
const v4Body = Buffer.from([203, 0, 113, 7, 10, 0, 0, 1, 0x30, 0x39, 0x01, 0xbb]);
function v6Body(src: number[]): Buffer {
  const b = Buffer.alloc(36);
  Buffer.from(src).copy(b, 0);
  return b;
}

describe('parseProxyHeader v1', () => {
  it('ok/TCP4 gives the source address and the header length', () => {
    const line = 'PROXY TCP4 198.51.100.22 10.0.0.1 35646 443\r\n';
    expect(parseProxyHeader(Buffer.from(line + '\x16\x03\x01'))).toEqual({ state: 'complete', length: line.length, source: '198.51.100.22', version: 1 });
  });
  it('ok/TCP6', () => {
    const r = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 1 443\r\n'));
    expect(r).toMatchObject({ state: 'complete', source: '2001:db8::1' });
  });
  it('ok/UNKNOWN keeps the socket address', () => {
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({ state: 'complete', length: 15, source: undefined, version: 1 });
  });
  it('ok/a partial header asks for more', () => {
    expect(parseProxyHeader(Buffer.from('PRO')).state).toBe('incomplete');
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 ')).state).toBe('incomplete');
  });
  it.each([
    ['no header at all (a TLS ClientHello)', '\x16\x03\x01\x02\x00'],
    ['an HTTP request', 'GET / HTTP/1.1\r\n'],
    ['unknown protocol', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['address of the wrong family', 'PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n'],
    ['not an address', 'PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n'],
    ['port out of range', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'],
    ['missing port', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'],
    ['LF without CR', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'],
  ])('error/%s', (_name, text) => {
    expect(parseProxyHeader(Buffer.from(text, 'latin1')).state).toBe('invalid');
  });
  it('error/a line past 107 bytes without CRLF is refused, not waited for', () => {
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 ' + '1'.repeat(V1_MAX_BYTES))).state).toBe('invalid');
  });
});

describe('parseProxyHeader v2', () => {
  it('ok/PROXY TCP over IPv4', () => {
    const buf = Buffer.concat([v2(1, 0x11, v4Body), Buffer.from('rest')]);
    expect(parseProxyHeader(buf)).toEqual({ state: 'complete', length: 28, source: '203.0.113.7', version: 2 });
  });
  it('ok/PROXY TCP over IPv6, zero runs compressed', () => {
    const src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
    expect(parseProxyHeader(v2(1, 0x21, v6Body(src)))).toMatchObject({ state: 'complete', length: 52, source: '2001:db8::5' });
  });
  it('ok/IPv4-mapped IPv6 prints as ::ffff:a.b.c.d', () => {
    const src = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1];
    expect(parseProxyHeader(v2(1, 0x21, v6Body(src)))).toMatchObject({ source: '::ffff:192.0.2.1' });
  });
  it('ok/TLVs after the addresses are skipped', () => {
    const tlv = Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32]); // PP2_TYPE_ALPN "h2"
    const r = parseProxyHeader(v2(1, 0x11, Buffer.concat([v4Body, tlv])));
    expect(r).toEqual({ state: 'complete', length: 33, source: '203.0.113.7', version: 2 });
  });
  it('ok/LOCAL (the balancer health-checking) keeps the socket address', () => {
    expect(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)))).toEqual({ state: 'complete', length: 16, source: undefined, version: 2 });
  });
  it('ok/a partial header asks for more', () => {
    const whole = v2(1, 0x11, v4Body);
    for (const n of [5, 12, 15, 20]) expect(parseProxyHeader(whole.subarray(0, n)).state).toBe('incomplete');
  });
  it('error/version 1 nibble in a v2 signature', () => {
    const b = v2(1, 0x11, v4Body);
    b[12] = 0x11;
    expect(parseProxyHeader(b).state).toBe('invalid');
  });
  it('error/unknown command', () => {
    const b = v2(1, 0x11, v4Body);
    b[12] = 0x22;
    expect(parseProxyHeader(b).state).toBe('invalid');
  });
  it('error/address block shorter than its family needs', () => {
    expect(parseProxyHeader(v2(1, 0x11, Buffer.alloc(4))).state).toBe('invalid');
    expect(parseProxyHeader(v2(1, 0x21, Buffer.alloc(12))).state).toBe('invalid');
  });
  it('error/a declared length over the bound is refused before it arrives', () => {
    const head = Buffer.from([0x21, 0x11, 0, 0]);
    head.writeUInt16BE(V2_MAX_BYTES, 2);
    expect(parseProxyHeader(Buffer.concat([SIG, head])).state).toBe('invalid');
  });
});
