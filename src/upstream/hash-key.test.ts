import { describe, expect, it } from 'vitest';
import { compileHashKey, hashKeyOf, type HashKeyContext } from './hash-key.js';

const ctx = (over: Partial<HashKeyContext> = {}): HashKeyContext => ({
  ip: '192.0.2.7',
  path: '/users/1',
  header: (name) => (name === 'x-user-id' ? 'u-42' : undefined),
  cookie: (name) => (name === 'session' ? 's-9' : undefined),
  ...over,
});

describe('hashKeyOf', () => {
  it('ok/each hashBy picks its part of the request', () => {
    expect(hashKeyOf('ip', ctx())).toBe('192.0.2.7');
    expect(hashKeyOf('path', ctx())).toBe('/users/1');
    expect(hashKeyOf('identity', ctx({ identity: 'spiffe://td/web' }))).toBe('spiffe://td/web');
    expect(hashKeyOf('header:X-User-Id', ctx())).toBe('u-42');
    expect(hashKeyOf('cookie:session', ctx())).toBe('s-9');
  });

  it('ok/a missing identity, header or cookie falls back to the client ip', () => {
    expect(hashKeyOf('identity', ctx())).toBe('192.0.2.7');
    expect(hashKeyOf('header:x-other', ctx())).toBe('192.0.2.7');
    expect(hashKeyOf('cookie:other', ctx())).toBe('192.0.2.7');
    expect(hashKeyOf(undefined, ctx())).toBe('192.0.2.7');
  });

  it('error/an unknown hashBy is refused at compile time', () => {
    expect(() => compileHashKey('query:x')).toThrow(/unknown hashBy/);
  });
});
