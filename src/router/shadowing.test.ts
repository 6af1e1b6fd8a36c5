import { describe, expect, it } from 'vitest';
import { RouteSpec, type MatchSpec } from '../spec/schema.js';
import { findShadowedRoutes } from './shadowing.js';

function routes(...matches: MatchSpec[]): RouteSpec[] {
  return matches.map((match, i) => RouteSpec.parse({ name: `r${i}`, match, upstream: 'u' }));
}

describe('findShadowedRoutes', () => {
  it('ok/same prefix and same matchers: the later route is shadowed', () => {
    expect(findShadowedRoutes(routes({ pathPrefix: '/api' }, { pathPrefix: '/api' }))).toEqual([{ index: 1, by: 0 }]);
  });

  it('ok/broader earlier route shadows a narrower later one', () => {
    const r = routes({ pathPrefix: '/api' }, { pathPrefix: '/api', methods: ['GET'], headers: { 'x-a': '1' } });
    expect(findShadowedRoutes(r)).toEqual([{ index: 1, by: 0 }]);
  });

  it('ok/narrower earlier route does not shadow a broader later one', () => {
    const r = routes({ pathPrefix: '/api', methods: ['GET'] }, { pathPrefix: '/api' });
    expect(findShadowedRoutes(r)).toEqual([]);
    const h = routes({ pathPrefix: '/api', headers: { 'X-A': '1' } }, { pathPrefix: '/api', headers: { 'x-a': '2' } });
    expect(findShadowedRoutes(h)).toEqual([]);
  });

  it('ok/header names compare case-insensitively', () => {
    const r = routes({ pathPrefix: '/api', headers: { 'X-A': '1' } }, { pathPrefix: '/api', headers: { 'x-a': '1', 'x-b': '2' } });
    expect(findShadowedRoutes(r)).toEqual([{ index: 1, by: 0 }]);
  });

  it('ok/a host route is not shadowed by an earlier host-less one', () => {
    expect(findShadowedRoutes(routes({ pathPrefix: '/api' }, { pathPrefix: '/api', host: 'a.example.com' }))).toEqual([]);
  });

  it('ok/earlier wildcard host shadows a later exact host under it', () => {
    const r = routes({ pathPrefix: '/', host: '*.example.com' }, { pathPrefix: '/', host: 'A.example.com:443' });
    expect(findShadowedRoutes(r)).toEqual([{ index: 1, by: 0 }]);
    const nested = routes({ pathPrefix: '/', host: '*.example.com' }, { pathPrefix: '/', host: '*.a.example.com' });
    expect(findShadowedRoutes(nested)).toEqual([{ index: 1, by: 0 }]);
    expect(findShadowedRoutes(routes({ pathPrefix: '/', host: '*.example.com' }, { pathPrefix: '/', host: 'example.com' }))).toEqual([]);
  });

  it('ok/different prefixes never shadow each other', () => {
    expect(findShadowedRoutes(routes({ pathPrefix: '/api' }, { pathPrefix: '/api/' }, { pathPrefix: '/api/v1' }))).toEqual([]);
  });

  it('ok/prefix never shadows an exact path', () => {
    expect(findShadowedRoutes(routes({ pathPrefix: '/' }, { path: '/x' }))).toEqual([]);
    expect(findShadowedRoutes(routes({ path: '/x' }, { path: '/x', methods: ['GET'] }))).toEqual([{ index: 1, by: 0 }]);
  });

  it('ok/root prefix shadows regex and catch-all routes wherever they are', () => {
    const r = routes({ pathRegex: '^/v1' }, {}, { pathPrefix: '/' });
    expect(findShadowedRoutes(r)).toEqual([
      { index: 0, by: 2 },
      { index: 1, by: 2 },
    ]);
    expect(findShadowedRoutes(routes({ pathPrefix: '/', methods: ['GET'] }, {}))).toEqual([]);
  });

  it('ok/catch-all shadows later regex routes; a regex shadows only the same regex', () => {
    expect(findShadowedRoutes(routes({}, { pathRegex: '^/v1' }))).toEqual([{ index: 1, by: 0 }]);
    expect(findShadowedRoutes(routes({ pathRegex: '^/v1' }, { pathRegex: '^/v1' }))).toEqual([{ index: 1, by: 0 }]);
    expect(findShadowedRoutes(routes({ pathRegex: '^/v1' }, { pathRegex: '^/v2' }))).toEqual([]);
    expect(findShadowedRoutes(routes({ pathRegex: '^/' }, {}))).toEqual([]);
  });

  it('ok/combined shadowing by several routes is not reported', () => {
    const r = routes({ pathPrefix: '/a', methods: ['GET'] }, { pathPrefix: '/a', methods: ['POST'] }, { pathPrefix: '/a', methods: ['GET', 'POST'] });
    expect(findShadowedRoutes(r)).toEqual([]);
  });

  it('ok/no routes', () => {
    expect(findShadowedRoutes([])).toEqual([]);
  });
});
