/**
 * What a reload would change: the running spec (admin GET /config) against a new one, with the running
 * target health (admin GET /status) to find routes a reload would leave with no healthy target. Pure.
 */
import type { GatewaySpec, RouteSpec } from '../spec/schema.js';
import { activeRouteUpstreams } from '../spec/route-upstreams.js';

export interface ConfigChange {
  readonly kind: 'route' | 'pool' | 'access' | 'limits';
  readonly subject: string;
  readonly change: 'added' | 'removed' | 'changed';
  readonly detail: string;
  /** Why this change is risky (exit 3 without --allow-risky). */
  readonly risky?: string;
}

/** Target health as the running gateway reports it: url -> available. */
export type TargetHealth = ReadonlyMap<string, boolean>;

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}
const same = (a: unknown, b: unknown): boolean => stable(a) === stable(b);

/** A target's identity for comparing configs: its origin, or the whole URL for `dns+srv://` (no origin). */
const targetOrigin = (url: string): string => (url.startsWith('dns+srv://') ? url.replace(/\/$/, '').toLowerCase() : new URL(url).origin);

const ROUTE_FIELDS = ['match', 'upstream', 'upstreams', 'stripPrefix', 'auth', 'rateLimit', 'quota', 'timeout', 'retries'] as const;

function poolsOf(route: RouteSpec): string[] {
  return activeRouteUpstreams(route).map((u) => u.name);
}

function targetsOf(spec: GatewaySpec, route: RouteSpec): string[] {
  return poolsOf(route).flatMap((p) => [...(spec.upstreams[p]?.targets ?? []), ...(spec.upstreams[p]?.backups ?? [])].map((t) => targetOrigin(t.url)));
}

/** A pattern that admits a whole subtree (`spiffe://td/*`, `…/ns/prod/*`). */
const isWildcard = (p: string): boolean => p.endsWith('/*');

/** Every change between `before` (running) and `after` (the file), risky ones marked. */
export function diffSpecs(before: GatewaySpec, after: GatewaySpec, health?: TargetHealth): ConfigChange[] {
  const out: ConfigChange[] = [];
  const oldRoutes = new Map(before.routes.map((r) => [r.name, r]));
  const newRoutes = new Map(after.routes.map((r) => [r.name, r]));

  for (const [name] of oldRoutes) if (!newRoutes.has(name)) out.push({ kind: 'route', subject: name, change: 'removed', detail: 'route removed' });
  for (const [name, r] of newRoutes) {
    const old = oldRoutes.get(name);
    if (!old) {
      out.push({ kind: 'route', subject: name, change: 'added', detail: 'route added' });
    } else {
      const fields = ROUTE_FIELDS.filter((f) => !same(old[f], r[f]));
      if (fields.length > 0) out.push({ kind: 'route', subject: name, change: 'changed', detail: `changed: ${fields.join(', ')}` });
      if (!same(old.rateLimit, r.rateLimit) || !same(old.quota, r.quota)) {
        out.push({ kind: 'limits', subject: name, change: 'changed', detail: `rateLimit ${stable(old.rateLimit)} -> ${stable(r.rateLimit)}, quota ${stable(old.quota)} -> ${stable(r.quota)}` });
      }
    }
    // Access: who gains or loses it.
    const was = old?.auth;
    const oldAllow = new Set(was?.mtls?.allow ?? []);
    const newAllow = new Set(r.auth?.mtls?.allow ?? []);
    for (const p of newAllow) {
      if (oldAllow.has(p) || !old) continue;
      const widens = oldAllow.size > 0 && isWildcard(p) && ![...oldAllow].some((o) => isWildcard(o) && p.startsWith(o.slice(0, -1)));
      out.push({ kind: 'access', subject: name, change: 'added', detail: `gains ${p}`, ...(widens ? { risky: `allow-list widens to ${p}` } : {}) });
    }
    for (const p of oldAllow) if (!newAllow.has(p)) out.push({ kind: 'access', subject: name, change: 'removed', detail: `loses ${p}` });
    if (old && (was?.mtls !== undefined || was?.jwt !== undefined) && r.auth?.mtls === undefined && r.auth?.jwt === undefined) {
      out.push({ kind: 'access', subject: name, change: 'changed', detail: 'authentication removed: open to every client', risky: 'route becomes open to every client' });
    }
    // Health: would the route be left with no healthy target?
    // Only where the reload changes the route's targets: a route already down before is not the reload's doing.
    if (health) {
      const urls = targetsOf(after, r);
      const unchanged = old !== undefined && same([...targetsOf(before, old)].sort(), [...urls].sort());
      if (!unchanged && urls.length > 0 && urls.every((u) => health.get(u) === false)) {
        out.push({ kind: 'route', subject: name, change: 'changed', detail: 'no healthy target after the reload', risky: `route "${name}" left with no healthy target` });
      }
    }
  }

  const oldPools = new Set(Object.keys(before.upstreams));
  for (const name of oldPools) if (!(name in after.upstreams)) out.push({ kind: 'pool', subject: name, change: 'removed', detail: 'pool removed' });
  for (const [name, pool] of Object.entries(after.upstreams)) {
    const old = before.upstreams[name];
    if (!old) {
      out.push({ kind: 'pool', subject: name, change: 'added', detail: `pool added (${pool.targets.length} target(s))` });
      continue;
    }
    for (const tier of ['targets', 'backups'] as const) {
      const o = new Map(old[tier].map((t) => [targetOrigin(t.url), t.weight]));
      const n = new Map(pool[tier].map((t) => [targetOrigin(t.url), t.weight]));
      for (const [u, w] of n) {
        const ow = o.get(u);
        if (ow === undefined) out.push({ kind: 'pool', subject: name, change: 'added', detail: `${tier}: ${u} added (weight ${w})` });
        else if (ow !== w) out.push({ kind: 'pool', subject: name, change: 'changed', detail: `${tier}: ${u} weight ${ow} -> ${w}` });
      }
      for (const u of o.keys()) if (!n.has(u)) out.push({ kind: 'pool', subject: name, change: 'removed', detail: `${tier}: ${u} removed` });
    }
    const rest = (['balance', 'hashBy', 'healthCheck', 'outlierDetection', 'circuitBreaker', 'tls', 'protocol', 'resolveInterval'] as const).filter((f) => !same(old[f], pool[f]));
    if (rest.length > 0) out.push({ kind: 'pool', subject: name, change: 'changed', detail: `changed: ${rest.join(', ')}` });
  }

  for (const k of Object.keys({ ...before.limits, ...after.limits }) as (keyof GatewaySpec['limits'])[]) {
    if (!same(before.limits[k], after.limits[k])) {
      out.push({ kind: 'limits', subject: `limits.${k}`, change: 'changed', detail: `${stable(before.limits[k])} -> ${stable(after.limits[k])}` });
    }
  }
  return out;
}

/** `~ route api: changed: match` / `RISKY ~ access api: gains spiffe://td/* (allow-list widens …)` */
export function formatChange(c: ConfigChange): string {
  const sign = c.change === 'added' ? '+' : c.change === 'removed' ? '-' : '~';
  return `${c.risky ? 'RISKY ' : ''}${sign} ${c.kind} ${c.subject}: ${c.detail}${c.risky ? ` (${c.risky})` : ''}`;
}

/**
 * Keys a running gateway binds or reads only when it starts (YAML paths). A reload applies everything
 * else live; a change to one of these is reported (log, /status, `tollgate_config_reload_pending_restart`)
 * until a restart, never refused and never silently ignored. `listen.*`, `admin.*` and
 * `redirectHttp.port` are rebound live by the lifecycle (new listener, then the old one stops) and
 * stay pending only when that fails. docs/design.md lists
 * what applies live.
 */
export const RESTART_ONLY_KEYS: readonly string[] = [
  'listen.host',
  'listen.port',
  'listen.proxyProtocol',
  'redirectHttp.port',
  'workers',
  'admin.host',
  'admin.port',
  'admin.allowedHosts',
  'ca.dir',
  'ca.trustDomain',
  'ca.renewal.window',
  'ca.renewal.maxPerHour',
  'ca.revocationPollInterval',
  'ca.api.enabled',
  'ca.api.pathPrefix',
];

function at(spec: unknown, path: string): unknown {
  let v: unknown = spec;
  for (const k of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/** The restart-only keys whose value in `next` differs from the one the gateway `started` with, in RESTART_ONLY_KEYS order. */
export function pendingRestart(started: GatewaySpec, next: GatewaySpec): string[] {
  return RESTART_ONLY_KEYS.filter((k) => !same(at(started, k), at(next, k)));
}
