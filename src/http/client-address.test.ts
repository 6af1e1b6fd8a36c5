import { describe, expect, it } from 'vitest';
import { clientAddressOf, MAX_XFF_HOPS } from './client-address.js';
import { compileTrustedProxies } from './forwarded.js';

const trusted = compileTrustedProxies(['10.0.0.0/8', '2001:db8::/32']);

describe('clientAddressOf', () => {
  it('ok/an untrusted peer is the client, whatever it claims', () => {
    expect(clientAddressOf('198.51.100.1', '1.1.1.1', trusted)).toBe('198.51.100.1');
  });
  it('ok/a trusted peer without x-forwarded-for is the client', () => {
    expect(clientAddressOf('10.0.0.5', undefined, trusted)).toBe('10.0.0.5');
  });
  it('ok/the first untrusted hop from the right wins', () => {
    expect(clientAddressOf('10.0.0.5', '6.6.6.6, 203.0.113.9, 10.1.1.1', trusted)).toBe('203.0.113.9');
  });
  it('ok/when every hop is trusted, the leftmost', () => {
    expect(clientAddressOf('10.0.0.5', '10.9.9.9,10.1.1.1', trusted)).toBe('10.9.9.9');
  });
  it('ok/ports and brackets are stripped; mapped IPv4 is plain IPv4', () => {
    expect(clientAddressOf('10.0.0.5', '203.0.113.9:5555', trusted)).toBe('203.0.113.9');
    expect(clientAddressOf('10.0.0.5', '[2001:db9::1]:443', trusted)).toBe('2001:db9::1');
    expect(clientAddressOf('10.0.0.5', '::ffff:203.0.113.9', trusted)).toBe('203.0.113.9');
    expect(clientAddressOf('2001:db8::7', '2001:db9::1', trusted)).toBe('2001:db9::1');
  });
  it('error/garbage from a trusted hop stops the walk at that hop', () => {
    expect(clientAddressOf('10.0.0.5', '203.0.113.9, unknown, 10.1.1.1', trusted)).toBe('10.1.1.1');
    expect(clientAddressOf('10.0.0.5', 'evil', trusted)).toBe('10.0.0.5');
  });
  it('error/a spoofed left part behind an untrusted hop is never reached', () => {
    // The client sent "10.0.0.1" itself; 203.0.113.9 (untrusted) appended by the first trusted proxy.
    expect(clientAddressOf('10.0.0.5', '10.0.0.1, 203.0.113.9', trusted)).toBe('203.0.113.9');
  });
  it('ok/the walk is bounded', () => {
    const many = Array.from({ length: MAX_XFF_HOPS + 10 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join(',');
    expect(clientAddressOf('10.0.0.5', `203.0.113.9,${many}`, trusted)).toMatch(/^10\./);
  });
});
