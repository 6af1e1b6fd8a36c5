/**
 * Routes → a frozen RouteTable, once per config load (SPEC §2 route selection).
 *
 * Priority, highest first:
 *   1. exact `path`;
 *   2. `pathPrefix`, longest first;
 *   3. "level 0": `pathRegex` routes and routes with no path matcher at all. Both rank like a prefix of
 *      length 0, i.e. below every prefix (even "/"), so a catch-all never steals traffic from a prefix route.
 * Within one level and length: a route with `host` beats one without; remaining ties go to the earlier route.
 * (An exact host does not beat a wildcard host: both "have a host", so the earlier one wins, as SPEC says;
 * `findShadowedRoutes` reports the later one when it can never match.)
 *
 * The table is indexed so that a lookup costs O(path length), not O(route count): a Map for exact paths,
 * a Map keyed by prefix (walked by the matcher from the longest candidate down to "/"), and inside each
 * bucket a Map keyed by exact host.
 */
import type { RouteSpec } from '../spec/schema.js';

/** One route and the payload the caller wants back when it matches (policies, pools: the router never looks inside). */
export interface RouteEntry<T> {
  readonly spec: RouteSpec;
  readonly value: T;
}

/** What a successful lookup returns; one frozen object per route, made at compile time, so matching allocates nothing. */
export interface RouteMatch<T> {
  readonly value: T;
  readonly spec: RouteSpec;
  /**
   * Characters at the start of the request path to strip before forwarding: the length of the route's
   * `pathPrefix` without a trailing "/" when `stripPrefix` is set, else 0 (exact-path and regex routes never strip).
   */
  readonly prefixLength: number;
}

/** A route after compilation: its matchers in the cheapest form to test. */
export interface CompiledRoute<T> {
  /** Position in the config: the final tie-breaker. */
  readonly index: number;
  /** Lower-case host without port, when the route matches one exact host. */
  readonly hostExact: string | undefined;
  /** ".example.com" for `*.example.com`. */
  readonly hostSuffix: string | undefined;
  readonly methods: readonly string[] | undefined;
  /** Flattened [name, value, name, value, …] with lower-case names. */
  readonly headers: readonly string[] | undefined;
  readonly regex: RegExp | undefined;
  readonly match: RouteMatch<T>;
}

/** Routes that share one path key, split by how they match the host; each list in config order. */
export interface RouteBucket<T> {
  readonly byHost: ReadonlyMap<string, readonly CompiledRoute<T>[]> | undefined;
  readonly wildcard: readonly CompiledRoute<T>[];
  readonly anyHost: readonly CompiledRoute<T>[];
}

/** The compiled, frozen routing table. Build with `compileRoutes`, query with `matchRoute`. */
export interface RouteTable<T> {
  /** Route names in config order. */
  readonly names: readonly string[];
  readonly exact: ReadonlyMap<string, RouteBucket<T>>;
  readonly prefixes: ReadonlyMap<string, RouteBucket<T>>;
  /**
   * Which prefix lengths exist, so the matcher slices and looks up only where a route could be:
   * bit PREFIX_WITH_SLASH when some pathPrefix of that length ends in "/", bit PREFIX_BARE when one doesn't.
   */
  readonly prefixLengths: Uint8Array;
  /** pathRegex routes and routes without a path matcher. */
  readonly fallback: RouteBucket<T> | undefined;
}

/** See `RouteTable.prefixLengths`. */
export const PREFIX_WITH_SLASH = 1;
export const PREFIX_BARE = 2;

interface MutableBucket<T> {
  byHost: Map<string, CompiledRoute<T>[]> | undefined;
  wildcard: CompiledRoute<T>[];
  anyHost: CompiledRoute<T>[];
}

/** "API.Example.com:8443" → "api.example.com": the query's host arrives lower-cased with the port removed. */
export function normalizeRouteHost(host: string): string {
  const lower = host.toLowerCase();
  const colon = lower.lastIndexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

function compileRoute<T>(entry: RouteEntry<T>, index: number): CompiledRoute<T> {
  const m = entry.spec.match;
  const host = m.host === undefined ? undefined : normalizeRouteHost(m.host);
  const wildcard = host !== undefined && host.startsWith('*.');
  let headers: string[] | undefined;
  if (m.headers !== undefined) {
    headers = [];
    for (const [name, value] of Object.entries(m.headers)) headers.push(name.toLowerCase(), value);
    if (headers.length === 0) headers = undefined;
  }
  let prefixLength = 0;
  if (entry.spec.stripPrefix && m.pathPrefix !== undefined) {
    prefixLength = m.pathPrefix.endsWith('/') ? m.pathPrefix.length - 1 : m.pathPrefix.length;
  }
  return Object.freeze({
    index,
    hostExact: wildcard ? undefined : host,
    hostSuffix: wildcard ? (host as string).slice(1) : undefined,
    methods: m.methods === undefined ? undefined : Object.freeze([...m.methods]),
    headers: headers === undefined ? undefined : Object.freeze(headers),
    regex: m.pathRegex === undefined ? undefined : new RegExp(m.pathRegex),
    match: Object.freeze({ value: entry.value, spec: entry.spec, prefixLength }),
  });
}

function newBucket<T>(): MutableBucket<T> {
  return { byHost: undefined, wildcard: [], anyHost: [] };
}

function addToBucket<T>(bucket: MutableBucket<T>, route: CompiledRoute<T>): void {
  if (route.hostExact !== undefined) {
    bucket.byHost ??= new Map();
    const list = bucket.byHost.get(route.hostExact);
    if (list === undefined) bucket.byHost.set(route.hostExact, [route]);
    else list.push(route);
  } else if (route.hostSuffix !== undefined) {
    bucket.wildcard.push(route);
  } else {
    bucket.anyHost.push(route);
  }
}

function freezeBucket<T>(b: MutableBucket<T>): RouteBucket<T> {
  if (b.byHost !== undefined) for (const list of b.byHost.values()) Object.freeze(list);
  return Object.freeze({ byHost: b.byHost, wildcard: Object.freeze(b.wildcard), anyHost: Object.freeze(b.anyHost) });
}

function freezeBuckets<T>(m: Map<string, MutableBucket<T>>): ReadonlyMap<string, RouteBucket<T>> {
  const out = new Map<string, RouteBucket<T>>();
  for (const [key, b] of m) out.set(key, freezeBucket(b));
  return out;
}

/**
 * Compiles routes (in config order) into a frozen, indexed table. Pure; runs at load time.
 * Throws an Error naming the route when two routes share a name.
 */
export function compileRoutes<T>(entries: readonly RouteEntry<T>[]): RouteTable<T> {
  const seen = new Set<string>();
  const exact = new Map<string, MutableBucket<T>>();
  const prefixes = new Map<string, MutableBucket<T>>();
  let fallback: MutableBucket<T> | undefined;
  let maxPrefix = 0;

  entries.forEach((entry, index) => {
    const name = entry.spec.name;
    if (seen.has(name)) throw new Error(`routes[${index}].name: duplicate route name "${name}"`);
    seen.add(name);
    const route = compileRoute(entry, index);
    const m = entry.spec.match;
    let bucket: MutableBucket<T>;
    if (m.path !== undefined) {
      bucket = exact.get(m.path) ?? newBucket();
      exact.set(m.path, bucket);
    } else if (m.pathPrefix !== undefined) {
      bucket = prefixes.get(m.pathPrefix) ?? newBucket();
      prefixes.set(m.pathPrefix, bucket);
      if (m.pathPrefix.length > maxPrefix) maxPrefix = m.pathPrefix.length;
    } else {
      fallback ??= newBucket();
      bucket = fallback;
    }
    // Entries arrive in config order, so every list stays sorted by index without a sort.
    addToBucket(bucket, route);
  });

  const prefixLengths = new Uint8Array(maxPrefix + 1);
  for (const p of prefixes.keys()) {
    prefixLengths[p.length] = (prefixLengths[p.length] ?? 0) | (p.endsWith('/') ? PREFIX_WITH_SLASH : PREFIX_BARE);
  }

  return Object.freeze({
    names: Object.freeze(entries.map((e) => e.spec.name)),
    exact: freezeBuckets(exact),
    prefixes: freezeBuckets(prefixes),
    prefixLengths,
    fallback: fallback === undefined ? undefined : freezeBucket(fallback),
  });
}
