import { describe, expect, it } from 'vitest';
import { RouteSpec, type MatchSpec } from '../spec/schema.js';
import { compileRoutes } from './compile.js';
import { matchRoute } from './match.js';
import { upstreamPath } from './rewrite.js';

function rewrite(match: MatchSpec, stripPrefix: boolean, path: string): string {
  const table = compileRoutes([{ spec: RouteSpec.parse({ name: 'r', match, stripPrefix, upstream: 'u' }), value: 0 }]);
  const m = matchRoute(table, { method: 'GET', host: 'h', path, header: () => undefined });
  if (m === undefined) throw new Error(`no match for ${path}`);
  return upstreamPath(m, path);
}

describe('upstreamPath', () => {
  it('ok/strips the prefix', () => {
    expect(rewrite({ pathPrefix: '/api' }, true, '/api/users')).toBe('/users');
    expect(rewrite({ pathPrefix: '/api' }, true, '/api/users/')).toBe('/users/');
  });

  it('ok/stripping the whole path gives slash', () => {
    expect(rewrite({ pathPrefix: '/api' }, true, '/api')).toBe('/');
    expect(rewrite({ pathPrefix: '/api' }, true, '/api/')).toBe('/');
  });

  it('ok/prefix with trailing slash keeps the leading slash', () => {
    expect(rewrite({ pathPrefix: '/api/' }, true, '/api/users')).toBe('/users');
    expect(rewrite({ pathPrefix: '/api/' }, true, '/api/')).toBe('/');
  });

  it('ok/root prefix strips nothing', () => {
    expect(rewrite({ pathPrefix: '/' }, true, '/x/y')).toBe('/x/y');
  });

  it('ok/no strip leaves the path unchanged', () => {
    const path = '/api/users';
    expect(rewrite({ pathPrefix: '/api' }, false, path)).toBe(path);
    expect(rewrite({ path: '/api/users' }, true, path)).toBe(path);
    expect(rewrite({ pathRegex: '^/api' }, true, path)).toBe(path);
  });

  it('ok/hand-made match still yields an absolute path', () => {
    const spec = RouteSpec.parse({ name: 'r', match: { pathPrefix: '/api' }, stripPrefix: true, upstream: 'u' });
    expect(upstreamPath({ value: 0, spec, prefixLength: 4 }, '/apix')).toBe('/x');
  });
});
