import { describe, expect, it } from 'vitest';
import { normalizePath, splitPathAndQuery } from './normalize-path.js';

describe('normalizePath', () => {
  it.each([
    ['/', '/'],
    ['/api/users', '/api/users'],
    ['/api/users/', '/api/users/'],
    ['/.well-known/tollgate/ca/roots', '/.well-known/tollgate/ca/roots'],
    ['/a/..b/c.', '/a/..b/c.'],
    ['/a/.../b', '/a/.../b'],
  ])('ok/canonical path %s is returned as is', (raw, want) => {
    expect(normalizePath(raw)).toBe(want);
  });

  it('ok/canonical path is the same string', () => {
    const raw = '/api/v1/users/42';
    expect(normalizePath(raw)).toBe(raw);
  });

  it.each([
    ['/a/./b', '/a/b'],
    ['/a/b/.', '/a/b/'],
    ['/a/b/..', '/a/'],
    ['/a/b/../c', '/a/c'],
    ['/a/../..x', '/..x'],
    ['/./', '/'],
    ['/.', '/'],
    ['/a/..', '/'],
    ['/a/../', '/'],
  ])('ok/dot segments resolve: %s → %s', (raw, want) => {
    expect(normalizePath(raw)).toBe(want);
  });

  it.each([
    ['//a', '/a'],
    ['/a//b///c', '/a/b/c'],
    ['/a//', '/a/'],
    ['//', '/'],
  ])('ok/duplicate slashes merge: %s → %s', (raw, want) => {
    expect(normalizePath(raw)).toBe(want);
  });

  it.each([
    ['/%61dmin', '/admin'],
    ['/%7Euser/%2D%2e%5F', '/~user/-._'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a%20b', '/a%20b'],
    ['/100%25', '/100%25'],
    ['/q%3fx', '/q%3Fx'],
  ])('ok/percent-encoding normalises: %s → %s', (raw, want) => {
    expect(normalizePath(raw)).toBe(want);
  });

  it('ok/encoded dots take part in dot-segment removal', () => {
    expect(normalizePath('/a/%2e%2E/b')).toBe('/b');
    expect(normalizePath('/a/%2e/b')).toBe('/a/b');
  });

  it.each(['/a%2Fb', '/a%2fb', '/a%5Cb', '/a%5cb'])('error/encoded slash or backslash %s', (raw) => {
    expect(normalizePath(raw)).toBeUndefined();
  });

  it.each(['/..', '/../x', '/a/../../x', '/%2e%2e/x', '/a/%2E%2E/%2e%2e/x', '/./../x'])('error/path escapes root %s', (raw) => {
    expect(normalizePath(raw)).toBeUndefined();
  });

  it.each(['/a\u0000b', '/a%00b', '/a\nb', '/a%0Ab', '/a\tb', '/a\u007fb', '/a%7fb', '/a/%2e/\u0001'])(
    'error/control character in %j',
    (raw) => {
      expect(normalizePath(raw)).toBeUndefined();
    },
  );

  it.each(['/a\\..\\b', '/a\\b'])('error/raw backslash in %j', (raw) => {
    expect(normalizePath(raw)).toBeUndefined();
  });

  it.each(['/a%', '/a%2', '/a%zz', '/a%2g', '/%%41'])('error/invalid percent encoding %s', (raw) => {
    expect(normalizePath(raw)).toBeUndefined();
  });

  it.each(['', 'a/b', '*', 'http://x/y'])('error/does not start with slash %j', (raw) => {
    expect(normalizePath(raw)).toBeUndefined();
  });

  it('ok/normalising twice changes nothing', () => {
    for (const raw of ['/a/./b//c/../%7e%c3%a9/', '/x/%2e/y', '/%41%42']) {
      const once = normalizePath(raw) as string;
      expect(normalizePath(once)).toBe(once);
    }
  });
});

describe('splitPathAndQuery', () => {
  it('ok/splits at the first question mark', () => {
    expect(splitPathAndQuery('/a/b?x=1&y=?')).toEqual({ path: '/a/b', query: '?x=1&y=?' });
  });

  it('ok/no query', () => {
    expect(splitPathAndQuery('/a/b')).toEqual({ path: '/a/b', query: '' });
  });

  it('ok/empty query keeps its question mark', () => {
    expect(splitPathAndQuery('/a?')).toEqual({ path: '/a', query: '?' });
  });
});

describe('normalizePath: double encoding and dot-segment parameters', () => {
  it.each(['/%252e%252e/admin', '/a/%252E/b', '/a%252fb', '/a%255cb', '/a%25252e', '/%25%32%65%25%32%65/x', '/a/%2525'])(
    'error/double-encoded dot, separator or percent %s',
    (raw) => {
      expect(normalizePath(raw)).toBeUndefined();
    },
  );
  it.each(['/a/..;/admin', '/..;/x', '/a/.;/b', '/a/..;jsessionid=1/b', '/a/%2e%2e;x/b', '/a/.;'])('error/parameters on a dot segment %s', (raw) => {
    expect(normalizePath(raw)).toBeUndefined();
  });
  it.each([
    ['/a;b/c', '/a;b/c'],
    ['/a/...;x', '/a/...;x'],
    ['/%2541', '/%2541'],
  ])('ok/other parameters and escapes stay: %s → %s', (raw, want) => {
    expect(normalizePath(raw)).toBe(want);
  });
});
