/**
 * Compiles a route's header policy, rewrite, redirect, CORS and compression (issue 16) into the
 * CompiledRoute fields the data path reads; global settings are folded in here, once per snapshot.
 */
import { durationMs } from '../core/duration.js';
import type { GatewaySpec, RouteSpec } from '../spec/schema.js';
import { compileHeaderOps, type CompiledHeaderOps } from '../http/header-policy.js';
import { compileCors } from '../http/cors.js';
import { compileCompression } from '../http/compress.js';
import { compileRedirect } from '../http/redirect.js';
import { compileResponsePolicy } from '../http/response-policy.js';
import { compileRewrite } from '../router/rewrite.js';
import type { CompiledRoute } from '../runtime/snapshot.js';

export type RoutePolicyFields = Pick<CompiledRoute, 'requestHeaders' | 'response' | 'rewrite' | 'redirect' | 'cors'>;

export function compileRoutePolicy(route: RouteSpec, spec: GatewaySpec): RoutePolicyFields {
  const prefix = route.match.pathPrefix;
  const cors =
    route.cors === undefined
      ? undefined
      : compileCors({
          origins: route.cors.origins,
          methods: route.cors.methods,
          headers: route.cors.headers,
          exposeHeaders: route.cors.exposeHeaders,
          credentials: route.cors.credentials,
          maxAgeSeconds: route.cors.maxAge === undefined ? undefined : Math.floor(durationMs(route.cors.maxAge) / 1000),
        });
  const g = spec.compression;
  const r = route.compression;
  const compression =
    (r?.enabled ?? g.enabled) ? compileCompression({ types: r?.types ?? g.types, minBytes: r?.minBytes ?? g.minBytes, level: r?.level ?? g.level }) : undefined;
  return {
    requestHeaders: compileHeaderOps([spec.headers?.request, route.headers?.request]),
    response: compileResponsePolicy(compileHeaderOps([spec.headers?.response, route.headers?.response]), cors, compression),
    rewrite: route.rewrite === undefined ? undefined : compileRewrite(route.rewrite, prefix),
    redirect: route.redirect === undefined ? undefined : compileRedirect(route.redirect, prefix),
    cors,
  };
}

/** The Host a route sends to a pool: the route's `hostRewrite`, else the pool's. */
export function hostRewriteFor(route: RouteSpec, spec: GatewaySpec, pool: string): string | undefined {
  return route.hostRewrite ?? spec.upstreams[pool]?.hostRewrite;
}

/** The global response header policy, for answers made before a route matched. */
export function compileGlobalResponseHeaders(spec: GatewaySpec): CompiledHeaderOps | undefined {
  return compileHeaderOps([spec.headers?.response]);
}
