import { describe, expect, it } from 'vitest';
import { RouteSpec, type MatchSpec } from '../spec/schema.js';
import { compileRoutes, type RouteEntry } from './compile.js';
import { matchRoute, type RouteQuery } from './match.js';

function entry(name: string, match: MatchSpec, extra: Record<string, unknown> = {}): RouteEntry<string> {
  return { spec: RouteSpec.parse({ name, match, upstream: 'u', ...extra }), value: name };
}

function query(path: string, opts: { method?: string; host?: string; headers?: Record<string, string> } = {}): RouteQuery {
  const headers = opts.headers ?? {};
  return { method: opts.method ?? 'GET', host: opts.host ?? 'gw.local', path, header: (name) => headers[name] };
}

function winner(entries: RouteEntry<string>[], q: RouteQuery): string | undefined {
  return matchRoute(compileRoutes(entries), q)?.value;
}

describe('matchRoute', () => {
  it('ok/exact path beats any prefix', () => {
    const routes = [entry('prefix', { pathPrefix: '/api/users' }), entry('exact', { path: '/api/users' })];
    expect(winner(routes, query('/api/users'))).toBe('exact');
    expect(winner(routes, query('/api/users/1'))).toBe('prefix');
  });

  it('ok/exact path does not match a longer or trailing-slash path', () => {
    const routes = [entry('exact', { path: '/health' })];
    expect(winner(routes, query('/health'))).toBe('exact');
    expect(winner(routes, query('/health/'))).toBeUndefined();
    expect(winner(routes, query('/healthz'))).toBeUndefined();
  });

  it('ok/longest prefix wins', () => {
    const routes = [
      entry('root', { pathPrefix: '/' }),
      entry('api', { pathPrefix: '/api' }),
      entry('v1', { pathPrefix: '/api/v1' }),
    ];
    expect(winner(routes, query('/api/v1/users'))).toBe('v1');
    expect(winner(routes, query('/api/v2/users'))).toBe('api');
    expect(winner(routes, query('/other'))).toBe('root');
    expect(winner(routes, query('/'))).toBe('root');
  });

  it('ok/prefix is segment-aware', () => {
    const routes = [entry('api', { pathPrefix: '/api' })];
    expect(winner(routes, query('/api'))).toBe('api');
    expect(winner(routes, query('/api/'))).toBe('api');
    expect(winner(routes, query('/api/x/y'))).toBe('api');
    expect(winner(routes, query('/apix'))).toBeUndefined();
    expect(winner(routes, query('/ap'))).toBeUndefined();
  });

  it('ok/prefix ending in slash matches what starts with it', () => {
    const routes = [entry('api', { pathPrefix: '/api/' })];
    expect(winner(routes, query('/api/'))).toBe('api');
    expect(winner(routes, query('/api/x'))).toBe('api');
    expect(winner(routes, query('/api'))).toBeUndefined();
    expect(winner(routes, query('/apix'))).toBeUndefined();
  });

  it('ok/longer slash prefix beats the bare one', () => {
    const routes = [entry('bare', { pathPrefix: '/api' }), entry('slash', { pathPrefix: '/api/' })];
    expect(winner(routes, query('/api/x'))).toBe('slash');
    expect(winner(routes, query('/api'))).toBe('bare');
  });

  it('ok/falls back to a shorter prefix when the longer one rejects the method', () => {
    const routes = [entry('api', { pathPrefix: '/api' }), entry('v1-post', { pathPrefix: '/api/v1', methods: ['POST'] })];
    expect(winner(routes, query('/api/v1/x', { method: 'POST' }))).toBe('v1-post');
    expect(winner(routes, query('/api/v1/x', { method: 'GET' }))).toBe('api');
  });

  it('ok/route with host beats one without on the same prefix', () => {
    const routes = [entry('any', { pathPrefix: '/api' }), entry('hosted', { pathPrefix: '/api', host: 'api.example.com' })];
    expect(winner(routes, query('/api/x', { host: 'api.example.com' }))).toBe('hosted');
    expect(winner(routes, query('/api/x', { host: 'other.example.com' }))).toBe('any');
  });

  it('ok/longer prefix beats a host match on a shorter prefix', () => {
    const routes = [entry('hosted', { pathPrefix: '/api', host: 'api.example.com' }), entry('v1', { pathPrefix: '/api/v1' })];
    expect(winner(routes, query('/api/v1/x', { host: 'api.example.com' }))).toBe('v1');
  });

  it('ok/remaining ties go to the earlier route', () => {
    const routes = [entry('first', { pathPrefix: '/api' }), entry('second', { pathPrefix: '/api' })];
    expect(winner(routes, query('/api'))).toBe('first');
    const hosted = [
      entry('wild', { pathPrefix: '/', host: '*.example.com' }),
      entry('exact', { pathPrefix: '/', host: 'api.example.com' }),
    ];
    expect(winner(hosted, query('/', { host: 'api.example.com' }))).toBe('wild');
    const reversed = [hosted[1] as RouteEntry<string>, hosted[0] as RouteEntry<string>];
    expect(winner(reversed, query('/', { host: 'api.example.com' }))).toBe('exact');
    expect(winner(reversed, query('/', { host: 'www.example.com' }))).toBe('wild');
  });

  it('ok/wildcard host matches one or more labels but not the bare domain', () => {
    const routes = [entry('wild', { pathPrefix: '/', host: '*.example.com' })];
    expect(winner(routes, query('/', { host: 'a.example.com' }))).toBe('wild');
    expect(winner(routes, query('/', { host: 'a.b.example.com' }))).toBe('wild');
    expect(winner(routes, query('/', { host: 'example.com' }))).toBeUndefined();
    expect(winner(routes, query('/', { host: 'badexample.com' }))).toBeUndefined();
  });

  it('ok/host matching is case-insensitive and ignores a port in the config', () => {
    const routes = [entry('h', { pathPrefix: '/', host: 'API.Example.com:8443' })];
    expect(winner(routes, query('/', { host: 'api.example.com' }))).toBe('h');
  });

  it('ok/methods list', () => {
    const routes = [entry('rw', { pathPrefix: '/', methods: ['GET', 'POST'] })];
    expect(winner(routes, query('/', { method: 'POST' }))).toBe('rw');
    expect(winner(routes, query('/', { method: 'DELETE' }))).toBeUndefined();
  });

  it('ok/headers match exact values with case-insensitive names', () => {
    const routes = [entry('canary', { pathPrefix: '/', headers: { 'X-Canary': '1' } }), entry('stable', { pathPrefix: '/' })];
    expect(winner(routes, query('/', { headers: { 'x-canary': '1' } }))).toBe('canary');
    expect(winner(routes, query('/', { headers: { 'x-canary': '10' } }))).toBe('stable');
    expect(winner(routes, query('/'))).toBe('stable');
  });

  it('ok/regex ranks below every prefix and is evaluated in order', () => {
    const routes = [
      entry('re1', { pathRegex: '^/v[0-9]+/' }),
      entry('re2', { pathRegex: '^/v1/' }),
      entry('root', { pathPrefix: '/', host: 'only.example.com' }),
    ];
    expect(winner(routes, query('/v1/x'))).toBe('re1');
    expect(winner(routes, query('/v1/x', { host: 'only.example.com' }))).toBe('root');
    expect(winner(routes, query('/x'))).toBeUndefined();
  });

  it('ok/route without a path matcher catches everything at the lowest priority', () => {
    const routes = [entry('any', {}), entry('re', { pathRegex: '^/v1/' }), entry('api', { pathPrefix: '/api' })];
    expect(winner(routes, query('/api/x'))).toBe('api');
    expect(winner(routes, query('/v1/x'))).toBe('any');
    expect(winner(routes, query('/whatever'))).toBe('any');
  });

  it('ok/host beats order among regex and catch-all routes', () => {
    const routes = [entry('any', {}), entry('re-hosted', { pathRegex: '^/v1/', host: 'a.example.com' })];
    expect(winner(routes, query('/v1/x', { host: 'a.example.com' }))).toBe('re-hosted');
    expect(winner(routes, query('/v1/x', { host: 'b.example.com' }))).toBe('any');
  });

  it('ok/returns the same frozen match object every time', () => {
    const table = compileRoutes([entry('api', { pathPrefix: '/api' }, { stripPrefix: true })]);
    const a = matchRoute(table, query('/api/x'));
    expect(a).toBe(matchRoute(table, query('/api/y')));
    expect(a).toMatchObject({ value: 'api', prefixLength: 4 });
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('error/no route matches', () => {
    expect(winner([], query('/'))).toBeUndefined();
    expect(winner([entry('a', { pathPrefix: '/a' })], query('/b'))).toBeUndefined();
  });

  it('ok/odd paths do not throw', () => {
    const table = compileRoutes([entry('api', { pathPrefix: '/api' }), entry('x', { path: '/x' })]);
    expect(matchRoute(table, query(''))).toBeUndefined();
    expect(matchRoute(table, query('api'))).toBeUndefined();
    expect(matchRoute(table, query('/' + 'a/'.repeat(5000)))).toBeUndefined();
  });

  it('ok/agrees with a brute-force scan over many random routes and paths', () => {
    const segs = ['a', 'b', 'ab', 'api', 'v1'];
    const hosts = [undefined, 'x.example.com', '*.example.com'];
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const randPath = (): string => {
      let p = '';
      const depth = rnd(4);
      for (let i = 0; i < depth; i++) p += '/' + (segs[rnd(segs.length)] as string);
      return p === '' || rnd(4) === 0 ? p + '/' : p;
    };
    const entries: RouteEntry<string>[] = [];
    for (let i = 0; i < 60; i++) {
      const kind = rnd(4);
      const match: MatchSpec = {};
      if (kind === 0) match.path = randPath();
      else if (kind === 1 || kind === 2) match.pathPrefix = randPath();
      else if (rnd(2) === 0) match.pathRegex = '^/a';
      const host = hosts[rnd(hosts.length)];
      if (host !== undefined) match.host = host;
      if (rnd(3) === 0) match.methods = ['POST'];
      entries.push(entry(`r${i}`, match));
    }
    const table = compileRoutes(entries);
    for (let k = 0; k < 2000; k++) {
      const q = query(randPath() || '/', { method: rnd(2) === 0 ? 'GET' : 'POST', host: ['x.example.com', 'y.example.com', 'z.org'][rnd(3)] as string });
      expect(matchRoute(table, q)?.value, `${q.method} ${q.host}${q.path}`).toBe(bruteForce(entries, q));
    }
  });
});

/** The SPEC §2 rules written as plainly as possible: rank every matching route, take the best. */
function bruteForce(entries: RouteEntry<string>[], q: RouteQuery): string | undefined {
  let best: { rank: number[]; name: string } | undefined;
  entries.forEach((e, index) => {
    const m = e.spec.match;
    let level: number;
    let length = 0;
    if (m.path !== undefined) {
      if (q.path !== m.path) return;
      level = 3;
    } else if (m.pathPrefix !== undefined) {
      const p = m.pathPrefix;
      const ok = p.endsWith('/') ? q.path.startsWith(p) : q.path === p || q.path.startsWith(p + '/');
      if (!ok) return;
      level = 2;
      length = p.length;
    } else {
      if (m.pathRegex !== undefined && !new RegExp(m.pathRegex).test(q.path)) return;
      level = 1;
    }
    if (m.host !== undefined) {
      const h = m.host.toLowerCase();
      const ok = h.startsWith('*.') ? q.host.endsWith(h.slice(1)) && q.host.length > h.length - 1 : q.host === h;
      if (!ok) return;
    }
    if (m.methods !== undefined && !m.methods.includes(q.method)) return;
    const rank = [level, length, m.host === undefined ? 0 : 1, -index];
    if (best === undefined || compareRank(rank, best.rank) > 0) best = { rank, name: e.value };
  });
  return best?.name;
}

function compareRank(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return 0;
}
