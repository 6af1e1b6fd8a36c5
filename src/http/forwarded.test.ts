import { BlockList } from 'node:net';
import { describe, expect, it } from 'vitest';
import { clientIpOf, compileTrustedProxies, formatXfcc, forwardedFor } from './forwarded.js';

describe('compileTrustedProxies', () => {
  const trusted = compileTrustedProxies(['10.0.0.0/8', '192.168.1.7', '2001:db8::/32', 'fd00::1', '::ffff:172.16.0.0/108']);

  it.each(['10.0.0.1', '10.255.255.255', '192.168.1.7', '::ffff:10.1.2.3', '::FFFF:192.168.1.7', '172.16.5.5', '::ffff:172.16.0.9'])(
    'ok/trusts %s',
    (ip) => {
      expect(trusted(ip)).toBe(true);
    },
  );

  it.each(['2001:db8::1', '2001:DB8:ffff::2', 'fd00::1', 'fd00:0:0:0:0:0:0:1'])('ok/trusts IPv6 %s', (ip) => {
    expect(trusted(ip)).toBe(true);
  });

  it.each(['11.0.0.1', '192.168.1.8', '::ffff:11.0.0.1', '172.32.0.1', '2001:db9::1', 'fd00::2', '::1', '127.0.0.1'])(
    'error/does not trust %s',
    (ip) => {
      expect(trusted(ip)).toBe(false);
    },
  );

  it.each(['', 'garbage', '10.0.0', '10.0.0.1.2', '10.0.0.256', ':::', 'fe80::zz'])('error/non-address %j is not trusted', (ip) => {
    expect(trusted(ip)).toBe(false);
  });

  it('ok/IPv6 rules that cover mapped space trust IPv4', () => {
    expect(compileTrustedProxies(['::/0'])('8.8.8.8')).toBe(true);
    const hex = compileTrustedProxies(['::ffff:a00:0/104']);
    expect(hex('10.9.9.9')).toBe(true);
    expect(hex('11.9.9.9')).toBe(false);
  });

  it('ok/empty list trusts nobody', () => {
    expect(compileTrustedProxies([])('10.0.0.1')).toBe(false);
  });

  it('ok/agrees with node:net BlockList', () => {
    const cidrs = ['10.0.0.0/9', '100.64.0.0/10', '0.0.0.0/32', '2001:db8:8000::/33', '::ffff:1.2.3.4/128'];
    const ours = compileTrustedProxies(cidrs);
    const ref = new BlockList();
    for (const c of cidrs) {
      const [addr, bits] = c.split('/') as [string, string];
      ref.addSubnet(addr, Number(bits), addr.includes(':') ? 'ipv6' : 'ipv4');
    }
    let seed = 11;
    const byte = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed >> 23;
    };
    for (let k = 0; k < 3000; k++) {
      const v4 = `${[10, 100, 1, 0][k % 4]}.${byte()}.${byte() % 4}.${byte() % 8}`;
      expect(ours(v4), v4).toBe(ref.check(v4, 'ipv4'));
      const v6 = `2001:db8:${(byte() << 8).toString(16)}::${byte().toString(16)}`;
      expect(ours(v6), v6).toBe(ref.check(v6, 'ipv6'));
    }
  });

  it.each(['10.0.0.0/33', 'not-an-ip', '10.0.0.0/', '10.0.0.0/x', '2001:db8::/129', '300.1.1.1'])('error/invalid entry %j', (entry) => {
    expect(() => compileTrustedProxies([entry])).toThrow(/trustedProxies/);
  });
});

describe('forwardedFor', () => {
  it('ok/replaces what an untrusted client sent', () => {
    expect(forwardedFor('1.2.3.4', '203.0.113.9', false)).toBe('203.0.113.9');
    expect(forwardedFor(undefined, '203.0.113.9', false)).toBe('203.0.113.9');
  });

  it('ok/appends to what a trusted proxy sent', () => {
    expect(forwardedFor('198.51.100.1, 10.0.0.2', '10.0.0.3', true)).toBe('198.51.100.1, 10.0.0.2, 10.0.0.3');
  });

  it('ok/trusted proxy that sent nothing gives the client address alone', () => {
    expect(forwardedFor(undefined, '10.0.0.3', true)).toBe('10.0.0.3');
    expect(forwardedFor('  ', '10.0.0.3', true)).toBe('10.0.0.3');
  });
});

describe('formatXfcc', () => {
  const hash = 'ab'.repeat(32);

  it('ok/Envoy format', () => {
    expect(formatXfcc({ by: 'spiffe://tollgate.local/tollgate', hash, uri: 'spiffe://tollgate.local/web' })).toBe(
      `By=spiffe://tollgate.local/tollgate;Hash=${hash};URI=spiffe://tollgate.local/web`,
    );
  });

  it('ok/no URI when the certificate has none', () => {
    expect(formatXfcc({ by: 'spiffe://td/tollgate', hash })).toBe(`By=spiffe://td/tollgate;Hash=${hash}`);
  });

  it('ok/quotes values with separators and escapes quotes', () => {
    expect(formatXfcc({ by: 'spiffe://td/a;b', hash, uri: 'spiffe://td/x=1,"y"' })).toBe(
      `By="spiffe://td/a;b";Hash=${hash};URI="spiffe://td/x=1,\\"y\\""`,
    );
  });
  it('ok/the same certificate again gives the same element; another gateway id or URI does not reuse it', () => {
    const a = formatXfcc({ by: 'spiffe://td/gw', hash, uri: 'spiffe://td/web' });
    expect(formatXfcc({ by: 'spiffe://td/gw', hash, uri: 'spiffe://td/web' })).toBe(a);
    expect(formatXfcc({ by: 'spiffe://td/gw2', hash, uri: 'spiffe://td/web' })).toBe(`By=spiffe://td/gw2;Hash=${hash};URI=spiffe://td/web`);
    expect(formatXfcc({ by: 'spiffe://td/gw', hash })).toBe(`By=spiffe://td/gw;Hash=${hash}`);
    expect(formatXfcc({ by: 'spiffe://td/gw', hash, uri: 'spiffe://td/web' })).toBe(a);
  });

  it('ok/many certificates interleaved (past the cache size) each get their own element', () => {
    for (let i = 0; i < 10_000; i++) {
      const h = i.toString(16).padStart(64, '0');
      const uri = `spiffe://td/w${i % 3}`;
      expect(formatXfcc({ by: 'spiffe://td/gw', hash: h, uri })).toBe(`By=spiffe://td/gw;Hash=${h};URI=${uri}`);
    }
  });
});

describe('clientIpOf', () => {
  it('ok/strips the IPv4-mapped prefix', () => {
    expect(clientIpOf('::ffff:127.0.0.1')).toBe('127.0.0.1');
  });

  it('ok/leaves IPv4 and IPv6 alone', () => {
    expect(clientIpOf('127.0.0.1')).toBe('127.0.0.1');
    expect(clientIpOf('::1')).toBe('::1');
    expect(clientIpOf('::ffff:a00:1')).toBe('::ffff:a00:1');
  });

  it('ok/unknown address is empty', () => {
    expect(clientIpOf(undefined)).toBe('');
  });
});
