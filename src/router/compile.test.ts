import { describe, expect, it } from 'vitest';
import { RouteSpec, type MatchSpec } from '../spec/schema.js';
import { compileRoutes, normalizeRouteHost, PREFIX_BARE, PREFIX_WITH_SLASH, type RouteEntry } from './compile.js';

function entry(name: string, match: MatchSpec, extra: Record<string, unknown> = {}): RouteEntry<string> {
  return { spec: RouteSpec.parse({ name, match, upstream: 'u', ...extra }), value: name };
}

describe('compileRoutes', () => {
  it('ok/indexes exact paths, prefixes and fallbacks separately', () => {
    const t = compileRoutes([
      entry('exact', { path: '/a' }),
      entry('prefix', { pathPrefix: '/api' }),
      entry('prefix-slash', { pathPrefix: '/api/' }),
      entry('regex', { pathRegex: '^/v[0-9]+/' }),
      entry('any', {}),
    ]);
    expect(t.names).toEqual(['exact', 'prefix', 'prefix-slash', 'regex', 'any']);
    expect([...t.exact.keys()]).toEqual(['/a']);
    expect([...t.prefixes.keys()]).toEqual(['/api', '/api/']);
    expect(t.prefixLengths[4]).toBe(PREFIX_BARE);
    expect(t.prefixLengths[5]).toBe(PREFIX_WITH_SLASH);
    expect(t.prefixLengths[3]).toBe(0);
    expect(t.fallback?.anyHost.map((r) => r.match.value)).toEqual(['regex', 'any']);
  });

  it('ok/table and its lists are frozen', () => {
    const t = compileRoutes([entry('a', { pathPrefix: '/a', host: 'x.example.com' })]);
    expect(Object.isFrozen(t)).toBe(true);
    const bucket = t.prefixes.get('/a');
    expect(Object.isFrozen(bucket)).toBe(true);
    expect(Object.isFrozen(bucket?.byHost?.get('x.example.com'))).toBe(true);
    expect(Object.isFrozen(bucket?.byHost?.get('x.example.com')?.[0]?.match)).toBe(true);
  });

  it('ok/splits hosts into exact and wildcard, lower-cased without port', () => {
    const t = compileRoutes([
      entry('exact', { pathPrefix: '/', host: 'API.Example.com:8443' }),
      entry('wild', { pathPrefix: '/', host: '*.Example.com' }),
      entry('none', { pathPrefix: '/' }),
    ]);
    const b = t.prefixes.get('/');
    expect([...(b?.byHost?.keys() ?? [])]).toEqual(['api.example.com']);
    expect(b?.wildcard.map((r) => r.hostSuffix)).toEqual(['.example.com']);
    expect(b?.anyHost.map((r) => r.match.value)).toEqual(['none']);
  });

  it('ok/prefixLength is the prefix without trailing slash, only when stripping', () => {
    const t = compileRoutes([
      entry('strip', { pathPrefix: '/api' }, { stripPrefix: true }),
      entry('strip-slash', { pathPrefix: '/web/' }, { stripPrefix: true }),
      entry('keep', { pathPrefix: '/keep' }),
      entry('exact-strip', { path: '/exact' }, { stripPrefix: true }),
    ]);
    expect(t.prefixes.get('/api')?.anyHost[0]?.match.prefixLength).toBe(4);
    expect(t.prefixes.get('/web/')?.anyHost[0]?.match.prefixLength).toBe(4);
    expect(t.prefixes.get('/keep')?.anyHost[0]?.match.prefixLength).toBe(0);
    expect(t.exact.get('/exact')?.anyHost[0]?.match.prefixLength).toBe(0);
  });

  it('ok/empty table', () => {
    const t = compileRoutes<string>([]);
    expect(t.names).toEqual([]);
    expect(t.fallback).toBeUndefined();
  });

  it('error/duplicate route name', () => {
    expect(() => compileRoutes([entry('a', { pathPrefix: '/a' }), entry('a', { pathPrefix: '/b' })])).toThrow(
      /routes\[1\]\.name: duplicate route name "a"/,
    );
  });
});

describe('normalizeRouteHost', () => {
  it('ok/lower-cases and drops the port', () => {
    expect(normalizeRouteHost('API.example.COM:8443')).toBe('api.example.com');
    expect(normalizeRouteHost('*.example.com')).toBe('*.example.com');
  });
});
