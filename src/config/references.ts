/** Checks across the config that a schema cannot express: names that must exist, be unique, or be used. */
import { isIP } from 'node:net';
import type { GatewaySpec } from '../spec/schema.js';
import { findShadowedRoutes } from '../router/shadowing.js';
import type { ConfigIssue } from './issues.js';

/** Problems refuse the config; warnings are printed by `tollgate check` and logged on load. */
export function checkReferences(spec: GatewaySpec): { problems: ConfigIssue[]; warnings: ConfigIssue[] } {
  const problems: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const pools = new Set(Object.keys(spec.upstreams));
  const used = new Set<string>();
  const names = new Map<string, number>();

  spec.routes.forEach((route, i) => {
    const first = names.get(route.name);
    if (first !== undefined) problems.push({ path: `routes[${i}].name`, message: `duplicate route name "${route.name}" (first used by routes[${first}])` });
    else names.set(route.name, i);

    if (route.upstream !== undefined) {
      used.add(route.upstream);
      if (!pools.has(route.upstream)) problems.push({ path: `routes[${i}].upstream`, message: `unknown upstream "${route.upstream}"` });
    }
    route.upstreams?.forEach((u, j) => {
      used.add(u.name);
      if (!pools.has(u.name)) problems.push({ path: `routes[${i}].upstreams[${j}].name`, message: `unknown upstream "${u.name}"` });
    });
    if (route.upstreams && route.upstreams.every((u) => u.weight === 0)) {
      problems.push({ path: `routes[${i}].upstreams`, message: 'at least one weight must be greater than zero' });
    }
    if (route.stripPrefix && route.match.pathPrefix === undefined) {
      warnings.push({ path: `routes[${i}].stripPrefix`, message: 'has no effect without match.pathPrefix' });
    }
  });

  for (const [name, pool] of Object.entries(spec.upstreams)) {
    if (!used.has(name)) warnings.push({ path: `upstreams.${name}`, message: 'unused upstream (no route refers to it)' });
    if (pool.hashBy !== undefined && pool.balance !== 'consistent-hash') {
      warnings.push({ path: `upstreams.${name}.hashBy`, message: 'only used with balance: consistent-hash' });
    }
    const seen = new Set<string>();
    for (const [tier, list] of [['targets', pool.targets], ['backups', pool.backups]] as const) {
      list.forEach((t, j) => {
        const origin = new URL(t.url).origin;
        if (seen.has(origin)) problems.push({ path: `upstreams.${name}.${tier}[${j}].url`, message: `duplicate target ${origin}` });
        seen.add(origin);
      });
    }
  }

  if ((spec.tls.cert === undefined) !== (spec.tls.key === undefined)) {
    problems.push({ path: spec.tls.cert === undefined ? 'tls.cert' : 'tls.key', message: 'set both tls.cert and tls.key, or neither' });
  }
  spec.trustedProxies.forEach((cidr, i) => {
    const [addr, bits, extra] = cidr.split('/');
    const family = isIP(addr ?? '');
    const max = family === 4 ? 32 : 128;
    const okBits = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= max);
    if (family === 0 || !okBits || extra !== undefined) problems.push({ path: `trustedProxies[${i}]`, message: 'expected an IP address or CIDR like 10.0.0.0/8' });
  });
  if (spec.admin.port !== 0 && spec.admin.port === spec.listen.port && spec.admin.host === spec.listen.host) {
    problems.push({ path: 'admin.port', message: 'must differ from listen.port' });
  }

  for (const s of findShadowedRoutes(spec.routes)) {
    const a = spec.routes[s.index];
    const b = spec.routes[s.by];
    if (a && b) warnings.push({ path: `routes[${s.index}]`, message: `route "${a.name}" is shadowed by route "${b.name}" and never matches` });
  }
  return { problems, warnings };
}
