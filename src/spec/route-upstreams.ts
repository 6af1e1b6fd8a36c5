/**
 * The pools a route sends to, as one weighted list whether the config names one `upstream` or a
 * weighted `upstreams` split. The schema allows exactly one of the two; this is the one place that
 * turns either into the list, for the compiler, the status page and the config diff.
 */
import type { RouteSpec } from './schema.js';

export interface RouteUpstream {
  readonly name: string;
  readonly weight: number;
}

/** Every pool the route names, in config order, weight 0 included (a split being drained). */
export function routeUpstreams(route: Pick<RouteSpec, 'upstream' | 'upstreams'>): readonly RouteUpstream[] {
  if (route.upstreams !== undefined) return route.upstreams;
  return route.upstream === undefined ? [] : [{ name: route.upstream, weight: 1 }];
}

/** The pools that receive traffic (weight above 0). */
export function activeRouteUpstreams(route: Pick<RouteSpec, 'upstream' | 'upstreams'>): readonly RouteUpstream[] {
  return routeUpstreams(route).filter((u) => u.weight > 0);
}
