import { describe, expect, it } from 'vitest';
import { ANONYMOUS, type Identity } from '../core/types.js';
import { compileLimitKey, compileStoreKey, limitKeyFor, type LimitContext } from './limit-key.js';

function ctx(identity: Identity = ANONYMOUS, headers: Record<string, string> = {}): LimitContext {
  return { ip: '192.0.2.7', routeName: 'api', identity, header: (n) => headers[n] };
}

describe('compileLimitKey', () => {
  it('ok/ip', () => {
    expect(compileLimitKey('ip')(ctx())).toBe('ip:192.0.2.7');
  });

  it('ok/route is one bucket for everyone', () => {
    const key = compileLimitKey('route');
    expect(key(ctx())).toBe(key({ ...ctx(), ip: '198.51.100.1' }));
  });

  it('ok/identity uses the SPIFFE id', () => {
    expect(compileLimitKey('identity')(ctx({ spiffeId: 'spiffe://td/web' }))).toBe('id:spiffe://td/web');
  });

  it('ok/identity falls back to the client IP', () => {
    expect(compileLimitKey('identity')(ctx())).toBe('ip:192.0.2.7');
  });

  it('ok/an identity cannot collide with an IP key', () => {
    const key = compileLimitKey('identity');
    expect(key(ctx({ spiffeId: 'ip:192.0.2.7' }))).not.toBe(key(ctx()));
  });

  it('ok/jwt claim, string or number, else the IP', () => {
    const key = compileLimitKey('jwt:sub');
    expect(key(ctx({ jwtClaims: { sub: 'alice' } }))).toBe('jwt:alice');
    expect(key(ctx({ jwtClaims: { sub: 42 } }))).toBe('jwt:42');
    expect(key(ctx({ jwtClaims: { sub: { nested: true } } }))).toBe('ip:192.0.2.7');
    expect(key(ctx({ jwtClaims: {} }))).toBe('ip:192.0.2.7');
  });

  it('ok/header by lower-case name, else the IP', () => {
    const key = compileLimitKey('header:X-Api-Key');
    expect(key(ctx(ANONYMOUS, { 'x-api-key': 'k1' }))).toBe('hdr:k1');
    expect(key(ctx())).toBe('ip:192.0.2.7');
  });

  it('ok/long client values are hashed to a bounded key', () => {
    const key = compileLimitKey('header:x-api-key');
    const a = key(ctx(ANONYMOUS, { 'x-api-key': 'a'.repeat(10_000) }));
    const b = key(ctx(ANONYMOUS, { 'x-api-key': 'a'.repeat(9_999) + 'b' }));
    expect(a.length).toBeLessThan(64);
    expect(a).not.toBe(b);
  });

  it('error/unknown kind', () => {
    expect(() => compileLimitKey('cookie:x')).toThrow(/invalid limit key/);
    expect(() => compileLimitKey('header:')).toThrow(/invalid limit key/);
  });
});

describe('compileStoreKey (prefix + key, the last one remembered)', () => {
  const P = 'api:r:0123456789ab:';
  const at = (ip: string, identity: Identity = ANONYMOUS, headers: Record<string, string> = {}): LimitContext => ({ ip, routeName: 'api', identity, header: (n) => headers[n] });

  it('ok/every kind gives prefix + compileLimitKey, whatever came before', () => {
    const sequence = [
      at('192.0.2.7'),
      at('192.0.2.7'),
      at('192.0.2.7', { spiffeId: 'spiffe://td/web' }),
      at('192.0.2.7', { spiffeId: 'spiffe://td/web' }),
      at('192.0.2.8', { spiffeId: 'spiffe://td/web' }),
      at('192.0.2.7'),
      at('192.0.2.8'),
      at('192.0.2.8', { spiffeId: 'spiffe://td/api' }),
      at('192.0.2.8', { spiffeId: '' }),
      // An id that reads like an address key, then that address: two keys.
      at('192.0.2.8', { spiffeId: 'ip:192.0.2.8' }),
      at('192.0.2.8'),
      at('192.0.2.9', { jwtClaims: { sub: 'alice' } }, { 'x-api-key': 'k1' }),
      at('192.0.2.9', { jwtClaims: { sub: 'bob' } }, { 'x-api-key': 'k2' }),
    ];
    for (const by of ['ip', 'identity', 'route', 'header:x-api-key', 'jwt:sub']) {
      const plain = compileLimitKey(by);
      const whole = compileStoreKey(by, P);
      for (const c of sequence) expect(whole(c)).toBe(P + plain(c));
    }
  });

  it('ok/the same client reuses one key string', () => {
    const whole = compileStoreKey('identity', P);
    const id = { spiffeId: 'spiffe://td/web' };
    const first = whole(at('192.0.2.7', id));
    expect(whole(at('192.0.2.7', id))).toBe(first);
    expect(whole(at('192.0.2.7'))).toBe(`${P}ip:192.0.2.7`);
    expect(whole(at('192.0.2.7'))).toBe(`${P}ip:192.0.2.7`);
  });

  it('error/an invalid by still throws at compile time', () => {
    expect(() => compileStoreKey('cookie:x', P)).toThrow(/invalid limit key/);
  });
});

describe('limitKeyFor (admin GET /quotas)', () => {
  it('ok/maps a value to the client key each `by` would count it under', () => {
    expect(limitKeyFor('ip', '192.0.2.1')).toBe('ip:192.0.2.1');
    expect(limitKeyFor('identity', 'spiffe://td/web')).toBe('id:spiffe://td/web');
    expect(limitKeyFor('identity', '192.0.2.1')).toBe('ip:192.0.2.1');
    expect(limitKeyFor('header:x-tenant', 'acme')).toBe('hdr:acme');
    expect(limitKeyFor('jwt:sub', 'alice')).toBe('jwt:alice');
    expect(limitKeyFor('route', 'anything')).toBe('route');
    expect(limitKeyFor('ip', 'id:spiffe://td/web')).toBe('id:spiffe://td/web');
    const long = 'x'.repeat(200);
    expect(limitKeyFor('header:x-tenant', long)).toBe(compileLimitKey('header:x-tenant')(ctx(ANONYMOUS, { 'x-tenant': long })));
  });
});
