import { describe, expect, it } from 'vitest';
import { ANONYMOUS, type Identity } from '../core/types.js';
import { compileLimitKey, limitKeyFor, type LimitContext } from './limit-key.js';

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
