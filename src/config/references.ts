/**
 * Checks across the config that a schema cannot express: names that must exist, be unique, or be used.
 * They run on the raw document too (when the schema fails), so every value is read defensively:
 * whatever is not of the expected shape is skipped here and reported by the schema.
 */
import { isIP } from 'node:net';
import { RouteSpec } from '../spec/schema.js';
import { findShadowedRoutes } from '../router/shadowing.js';
import { formatPath, type ConfigIssue } from './issues.js';

type Obj = Record<string, unknown>;
const obj = (x: unknown): Obj | undefined => (typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Obj) : undefined);
const arr = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);
const str = (x: unknown): string | undefined => (typeof x === 'string' ? x : undefined);

function issue(segments: PropertyKey[], message: string): ConfigIssue {
  return { path: formatPath(segments), message, segments };
}

function originOf(url: unknown): string | undefined {
  const s = str(url);
  if (s === undefined) return undefined;
  // dns+srv:// has no origin (URL gives "null"): the name itself tells two entries apart.
  if (s.startsWith('dns+srv://')) return s.replace(/\/$/, '').toLowerCase();
  try {
    return new URL(s).origin;
  } catch {
    return undefined;
  }
}

/** Problems refuse the config; warnings are printed by `tollgate check` and logged on load. */
export function checkReferences(raw: unknown): { problems: ConfigIssue[]; warnings: ConfigIssue[] } {
  const problems: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const root = obj(raw) ?? {};
  const upstreams = obj(root.upstreams) ?? {};
  const pools = new Set(Object.keys(upstreams));
  const used = new Set<string>();
  const names = new Map<string, number>();
  const routes = arr(root.routes);

  routes.forEach((r, i) => {
    const route = obj(r);
    if (!route) return;
    const name = str(route.name);
    if (name !== undefined) {
      const first = names.get(name);
      if (first !== undefined) problems.push(issue(['routes', i, 'name'], `duplicate route name "${name}" (first used by routes[${first}])`));
      else names.set(name, i);
    }
    const upstream = str(route.upstream);
    if (upstream !== undefined) {
      used.add(upstream);
      if (!pools.has(upstream)) problems.push(issue(['routes', i, 'upstream'], `unknown upstream "${upstream}"`));
    }
    const split = Array.isArray(route.upstreams) ? route.upstreams : undefined;
    split?.forEach((u, j) => {
      const n = str(obj(u)?.name);
      if (n === undefined) return;
      used.add(n);
      if (!pools.has(n)) problems.push(issue(['routes', i, 'upstreams', j, 'name'], `unknown upstream "${n}"`));
    });
    if (split && split.length > 0 && split.every((u) => obj(u)?.weight === 0)) {
      problems.push(issue(['routes', i, 'upstreams'], 'at least one weight must be greater than zero'));
    }
    if (route.stripPrefix === true && obj(route.match)?.pathPrefix === undefined) {
      warnings.push(issue(['routes', i, 'stripPrefix'], 'has no effect without match.pathPrefix'));
    }
  });

  for (const [name, p] of Object.entries(upstreams)) {
    const pool = obj(p);
    if (!used.has(name)) warnings.push(issue(['upstreams', name], 'unused upstream (no route refers to it)'));
    if (!pool) continue;
    if (pool.hashBy !== undefined && pool.balance !== 'consistent-hash') {
      warnings.push(issue(['upstreams', name, 'hashBy'], 'only used with balance: consistent-hash'));
    }
    const seen = new Set<string>();
    for (const tier of ['targets', 'backups'] as const) {
      arr(pool[tier]).forEach((t, j) => {
        const origin = originOf(obj(t)?.url);
        if (origin === undefined) return;
        if (seen.has(origin)) problems.push(issue(['upstreams', name, tier, j, 'url'], `duplicate target ${origin}`));
        seen.add(origin);
      });
    }
  }

  const tls = obj(root.tls) ?? {};
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    problems.push(issue(['tls', tls.cert === undefined ? 'cert' : 'key'], 'set both tls.cert and tls.key, or neither'));
  }
  if (obj(tls.acme) !== undefined && obj(tls.acme)?.challenge !== 'tls-alpn-01' && obj(root.redirectHttp) === undefined) {
    problems.push(issue(['tls', 'acme'], 'http-01 needs redirectHttp: the ACME CA fetches its challenge from that plain listener (port 80 for public CAs)'));
  }
  const ownDomain = str(obj(root.ca)?.trustDomain) ?? 'tollgate.local';
  arr(tls.clientCAs).forEach((c, i) => {
    const entry = obj(c);
    if (str(c) === undefined && entry === undefined) return;
    const domains = arr(entry?.trustDomains).filter((d): d is string => typeof d === 'string');
    if (domains.length === 0) warnings.push(issue(['tls', 'clientCAs', i], 'issues no SPIFFE identity (no trustDomains)'));
    if (domains.includes(ownDomain)) {
      problems.push(issue(['tls', 'clientCAs', i, 'trustDomains'], `"${ownDomain}" is the gateway's own trust domain: only the built-in CA issues it`));
    }
  });
  arr(root.trustedProxies).forEach((c, i) => {
    const cidr = str(c);
    if (cidr === undefined) return;
    const [addr, bits, extra] = cidr.split('/');
    const family = isIP(addr ?? '');
    const max = family === 4 ? 32 : 128;
    const okBits = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= max);
    if (family === 0 || !okBits || extra !== undefined) problems.push(issue(['trustedProxies', i], 'expected an IP address or CIDR like 10.0.0.0/8'));
  });
  problems.push(...portClashes(root));
  if (obj(root.listen)?.proxyProtocol === true && arr(root.trustedProxies).length === 0) {
    warnings.push(issue(['listen', 'proxyProtocol'], 'no trustedProxies: every connection will be refused (only trusted peers may send a PROXY header)'));
  }

  // Shadowing needs whole routes: look among the routes that are valid on their own.
  const valid: { index: number; route: RouteSpec }[] = [];
  routes.forEach((r, index) => {
    const parsed = RouteSpec.safeParse(r);
    if (parsed.success) valid.push({ index, route: parsed.data });
  });
  for (const s of findShadowedRoutes(valid.map((v) => v.route))) {
    const a = valid[s.index];
    const b = valid[s.by];
    if (a && b) warnings.push(issue(['routes', a.index], `route "${a.route.name}" is shadowed by route "${b.route.name}" and never matches`));
  }
  return { problems, warnings };
}

/** Whether two bind addresses can take the same port: equal, or one a wildcard covering the other. */
function hostsOverlap(a: string, b: string): boolean {
  if (a === b || a === '::' || b === '::') return true; // '::' is dual-stack on Linux: it covers IPv4 too
  const wild4 = (h: string): boolean => h === '0.0.0.0';
  return (wild4(a) && isIP(b) !== 6) || (wild4(b) && isIP(a) !== 6);
}

/**
 * The listeners `start` binds (public, admin, redirect on `listen.host`) that would take the same
 * port: start fails with EADDRINUSE on them, so `check` says so first. Port 0 (any free port) never clashes.
 */
function portClashes(root: Record<string, unknown>): ConfigIssue[] {
  const admin = obj(root.admin) ?? {};
  const listen = obj(root.listen) ?? {};
  const redirect = obj(root.redirectHttp);
  const str0 = (v: unknown, d: string): string => (typeof v === 'string' ? v : d);
  const num0 = (v: unknown, d: number): number => (typeof v === 'number' ? v : d);
  const listenHost = str0(listen.host, '0.0.0.0');
  const binds: { path: PropertyKey[]; name: string; host: string; port: number }[] = [
    { path: ['listen', 'port'], name: 'listen.port', host: listenHost, port: num0(listen.port, 8443) },
    { path: ['admin', 'port'], name: 'admin.port', host: str0(admin.host, '127.0.0.1'), port: num0(admin.port, 9901) },
  ];
  if (redirect !== undefined) binds.push({ path: ['redirectHttp', 'port'], name: 'redirectHttp.port', host: listenHost, port: num0(redirect.port, -1) });
  const out: ConfigIssue[] = [];
  for (let i = 1; i < binds.length; i++) {
    const b = binds[i] as (typeof binds)[number];
    const first = binds.slice(0, i).find((a) => a.port === b.port && b.port > 0 && hostsOverlap(a.host, b.host));
    if (first !== undefined) out.push(issue(b.path, `port ${b.port} is already taken by ${first.name} (${first.host}:${first.port}); it must differ`));
  }
  return out;
}

/** Files the config names (serving cert and key, client CAs, JWKS files), as written in the config, with their YAML path. */
export function referencedFiles(raw: unknown): { segments: PropertyKey[]; file: string }[] {
  const out: { segments: PropertyKey[]; file: string }[] = [];
  const root = obj(raw) ?? {};
  const tls = obj(root.tls) ?? {};
  for (const k of ['cert', 'key'] as const) {
    const f = str(tls[k]);
    if (f !== undefined) out.push({ segments: ['tls', k], file: f });
  }
  arr(tls.certificates).forEach((c, i) => {
    for (const k of ['cert', 'key'] as const) {
      const f = str(obj(c)?.[k]);
      if (f !== undefined) out.push({ segments: ['tls', 'certificates', i, k], file: f });
    }
  });
  const acmeCA = str(obj(tls.acme)?.directoryCA);
  if (acmeCA !== undefined) out.push({ segments: ['tls', 'acme', 'directoryCA'], file: acmeCA });
  arr(tls.clientCAs).forEach((c, i) => {
    const f = str(c);
    if (f !== undefined) out.push({ segments: ['tls', 'clientCAs', i], file: f });
    const inEntry = str(obj(c)?.file);
    if (inEntry !== undefined) out.push({ segments: ['tls', 'clientCAs', i, 'file'], file: inEntry });
  });
  const adminTokenFile = str(obj(root.admin)?.tokenFile);
  if (adminTokenFile !== undefined) out.push({ segments: ['admin', 'tokenFile'], file: adminTokenFile });
  arr(root.routes).forEach((r, i) => {
    const f = str(obj(obj(obj(r)?.auth)?.jwt)?.jwksFile);
    if (f !== undefined) out.push({ segments: ['routes', i, 'auth', 'jwt', 'jwksFile'], file: f });
  });
  return out;
}
