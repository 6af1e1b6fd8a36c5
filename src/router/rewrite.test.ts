import { describe, expect, it } from 'vitest';
import { RouteSpec, type MatchSpec } from '../spec/schema.js';
import { compileRoutes } from './compile.js';
import { matchRoute } from './match.js';
import { compileRewrite, rewritePath, upstreamPath } from './rewrite.js';
import { normalizePath } from '../http/normalize-path.js';
import { unsafePatternReason } from '../spec/policy-rules.js';

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

describe('rewritePath', () => {
  const run = (rewrite: Parameters<typeof compileRewrite>[0], prefix: string | undefined, path: string): string | undefined =>
    rewritePath(compileRewrite(rewrite, prefix), path, normalizePath);

  it('ok/prefix replacement keeps the rest of the path', () => {
    expect(run({ prefix: '/v2' }, '/api', '/api/users')).toBe('/v2/users');
    expect(run({ prefix: '/v2/' }, '/api/', '/api/users')).toBe('/v2/users');
    expect(run({ prefix: '/v2' }, '/api', '/api')).toBe('/v2');
    expect(run({ prefix: '/' }, '/api', '/api/users')).toBe('/users');
    expect(run({ prefix: '/' }, '/api', '/api')).toBe('/');
  });

  it('ok/regex substitution, every match, with captures', () => {
    expect(run({ regex: { pattern: '^/users/([0-9]+)$', substitution: '/u/$1/profile' } }, undefined, '/users/42')).toBe('/u/42/profile');
    expect(run({ regex: { pattern: '^/api/(v[0-9])/(.*)$', substitution: '/$2/$1' } }, undefined, '/api/v1/things/7')).toBe('/things/7/v1');
    expect(run({ regex: { pattern: '-', substitution: '_' } }, undefined, '/a-b-c')).toBe('/a_b_c');
  });

  it('ok/the result is canonical: "//" merged, dot segments resolved, a missing leading slash added', () => {
    expect(run({ regex: { pattern: '^/a/(.*)$', substitution: '/x/$1/' } }, undefined, '/a/')).toBe('/x/');
    expect(run({ regex: { pattern: '^/a', substitution: '/b/../c' } }, undefined, '/a/d')).toBe('/c/d');
    expect(run({ regex: { pattern: '^/', substitution: '' } }, undefined, '/a')).toBe('/a');
  });

  it('error/a result climbing above the root or with an encoded slash is refused', () => {
    expect(run({ regex: { pattern: '^/a', substitution: '/../..' } }, undefined, '/a')).toBeUndefined();
    expect(run({ regex: { pattern: '^/a', substitution: '/x%2Fy' } }, undefined, '/a')).toBeUndefined();
  });
});

describe('unsafePatternReason', () => {
  it.each(['^/api/(.*)$', '^/users/([0-9]+)/?$', '(a|b)', '(ab)+', '(?:x)?y+', '[a+]+', '(a+)?', '^/(v1|v2)/(.*)$'])('ok/accepts %s', (p) => {
    expect(unsafePatternReason(p)).toBeUndefined();
  });
  it.each(['(a+)+$', '(a*)*', '(a|aa)*', '((a+))+', '(x+x+)+y', '(\\w+\\s?)*$', '(a+){2,}', '(a)\\1', '(?=a)b', '(?<!a)b', '(?<n>a)\\k<n>', '('])('error/refuses %s', (p) => {
    expect(unsafePatternReason(p)).toBeDefined();
  });
});
