/**
 * Compiles a validated config into an immutable RuntimeSnapshot. The only caller of the compile*
 * functions of the data-plane modules.
 */
import { durationMs } from '../core/duration.js';
import type { Clock } from '../core/clock.js';
import type { Identity } from '../core/types.js';
import type { GatewaySpec, RetriesSpec, RouteSpec } from '../spec/schema.js';
import { activeRouteUpstreams } from '../spec/route-upstreams.js';
import { compileRoutes, type RouteEntry } from '../router/compile.js';
import { compileTrustedProxies } from '../http/forwarded.js';
import { compileLimitPolicy } from '../policy/rate-limit.js';
import { compileMtlsAllow } from '../policy/authz.js';
import { compileIpAccess } from '../policy/ip-access.js';
import { compileJwtAuth } from '../identity/jwt.js';
import type { CounterStore } from '../store/counter-store.js';
import { compileForwardAuthFor, compileTracingFor } from './compile-observe.js';
import type { ResourceLease } from './resources.js';
import type { Random } from '../core/random.js';
import type { Logger } from '../telemetry/logger.js';
import type { CompiledRetries, CompiledRoute, PoolRuntime, RuntimeSnapshot } from '../runtime/snapshot.js';
import type { PoolRegistry } from './registries.js';
import { compileGlobalResponseHeaders, compileRoutePolicy, hostRewriteFor } from './compile-policy.js';

export interface CompileDeps {
  readonly pools: PoolRegistry;
  readonly store: CounterStore;
  readonly gatewayId: string;
  readonly peerIdentity: (socket: unknown) => Identity;
  readonly generation: number;
  readonly configHash: string;
  readonly loadedAt: string;
  /** The config file's directory (jwksFile paths are already absolute after validation). */
  readonly baseDir: string;
  /** The gateway's clock: JWT exp/nbf are judged by it. */
  readonly clock: Clock;
  /** Forward-auth pools and the tracer come from here (shared across reloads while unchanged). */
  readonly resources: ResourceLease;
  readonly random: Random;
  readonly logger: Logger;
}

const ms = durationMs;

function compileRetries(spec: RetriesSpec | undefined): CompiledRetries | undefined {
  if (spec === undefined) return undefined;
  return Object.freeze({
    attempts: spec.attempts,
    perTryTimeoutMs: spec.perTryTimeout === undefined ? 0 : ms(spec.perTryTimeout),
    on: new Set<string>(spec.on),
    nonIdempotent: spec.nonIdempotent,
  });
}

function compileRoute(route: RouteSpec, pools: ReadonlyMap<string, PoolRuntime>, baseDir: string, clock: Clock, spec: GatewaySpec, resources: ResourceLease): CompiledRoute {
  const split = activeRouteUpstreams(route).map((r) => Object.freeze({ pool: pools.get(r.name) as PoolRuntime, weight: r.weight, hostRewrite: hostRewriteFor(route, spec, r.name) }));
  return Object.freeze({
    name: route.name,
    stripPrefix: route.stripPrefix,
    timeoutMs: ms(route.timeout),
    retries: compileRetries(route.retries),
    split: Object.freeze(split),
    totalWeight: split.reduce((a, s) => a + s.weight, 0),
    mtlsAllow: route.auth?.mtls ? compileMtlsAllow(route.auth.mtls.allow) : undefined,
    jwt: route.auth?.jwt ? compileJwtAuth(route.auth.jwt, baseDir, clock) : undefined,
    limits: compileLimitPolicy(route.name, route.rateLimit, route.quota),
    ipAccess: route.ipAccess === undefined ? undefined : compileIpAccess(route.ipAccess, `routes.${route.name}.ipAccess`),
    ...compileRoutePolicy(route, spec),
    forwardAuth: route.auth?.forward ? compileForwardAuthFor(route.auth.forward, resources) : undefined,
  });
}

/** Builds the snapshot; pools come from the registry so unchanged ones keep their state. */
export function compileSnapshot(spec: GatewaySpec, deps: CompileDeps): RuntimeSnapshot {
  const pools = new Map<string, PoolRuntime>();
  for (const [name, up] of Object.entries(spec.upstreams)) pools.set(name, deps.pools.obtain(name, up, spec.dns));
  const entries: RouteEntry<CompiledRoute>[] = spec.routes.map((r) => ({ spec: r, value: compileRoute(r, pools, deps.baseDir, deps.clock, spec, deps.resources) }));
  const tracing = compileTracingFor(spec.tracing, deps.resources, deps.random, deps.clock, deps.logger);
  return Object.freeze({
    generation: deps.generation,
    configHash: deps.configHash,
    loadedAt: deps.loadedAt,
    routes: compileRoutes(entries),
    pools,
    limits: Object.freeze({
      maxHeaderBytes: spec.limits.maxHeaderBytes,
      maxBodyBytes: spec.limits.maxBodyBytes,
      idleTimeoutMs: ms(spec.limits.idleTimeout),
      maxRequestTargetBytes: spec.limits.maxRequestTargetBytes,
      headers: Object.freeze({
        maxHeaderCount: spec.limits.maxHeaderCount,
        underscores: spec.security.underscoresInHeaders,
        strip: new Set(spec.security.stripRequestHeaders.map((h) => h.toLowerCase())),
      }),
    }),
    responseHeaders: compileGlobalResponseHeaders(spec),
    isTrustedProxy: compileTrustedProxies(spec.trustedProxies),
    store: deps.store,
    gatewayId: deps.gatewayId,
    peerIdentity: deps.peerIdentity,
    tracing,
    resources: deps.resources.keys,
  });
}
