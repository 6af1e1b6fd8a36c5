/**
 * Load-time analysis for `tollgate check`: routes that can never be selected. Conservative: a route is
 * reported only when one single other route matches every request it matches and always wins priority
 * (see compile.ts for the order). Shadowing by a combination of routes is not reported.
 */
import type { RouteSpec } from '../spec/schema.js';
import { normalizeRouteHost } from './compile.js';

interface Shape {
  readonly index: number;
  /** 3 exact path, 2 prefix, 1 regex or no path matcher (see compile.ts). */
  readonly level: 1 | 2 | 3;
  /** The path, the prefix, the regex source, or undefined for "any path". */
  readonly key: string | undefined;
  readonly host: string | undefined;
  readonly methods: ReadonlySet<string> | undefined;
  readonly headers: ReadonlyMap<string, string>;
}

function shapeOf(spec: RouteSpec, index: number): Shape {
  const m = spec.match;
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(m.headers ?? {})) headers.set(name.toLowerCase(), value);
  const level = m.path !== undefined ? 3 : m.pathPrefix !== undefined ? 2 : 1;
  return {
    index,
    level,
    key: m.path ?? m.pathPrefix ?? m.pathRegex,
    host: m.host === undefined ? undefined : normalizeRouteHost(m.host),
    methods: m.methods === undefined ? undefined : new Set(m.methods),
    headers,
  };
}

function hostCovers(outer: string | undefined, inner: string | undefined): boolean {
  if (outer === undefined) return true;
  if (inner === undefined) return false;
  if (!outer.startsWith('*.')) return outer === inner;
  const suffix = outer.slice(1); // ".example.com"
  if (inner.startsWith('*.')) return inner === outer || inner.endsWith(suffix);
  return inner.length > suffix.length && inner.endsWith(suffix);
}

/** True when every request `inner` accepts on host, method and headers is also accepted by `outer`. */
function matchersCover(outer: Shape, inner: Shape): boolean {
  if (!hostCovers(outer.host, inner.host)) return false;
  if (outer.methods !== undefined) {
    if (inner.methods === undefined) return false;
    for (const method of inner.methods) if (!outer.methods.has(method)) return false;
  }
  for (const [name, value] of outer.headers) if (inner.headers.get(name) !== value) return false;
  return true;
}

/** Same level and path key: does `a` beat `b` on the tie-breakers (host first, then config order)? */
function winsTie(a: Shape, b: Shape): boolean {
  const ah = a.host !== undefined;
  const bh = b.host !== undefined;
  return ah !== bh ? ah : a.index < b.index;
}

/** Does `outer` match every path `inner` matches, at the same priority level? */
function samePathSet(outer: Shape, inner: Shape): boolean {
  if (outer.level !== inner.level) return false;
  // At level 1 a route without a path matcher covers every regex route.
  if (outer.level === 1 && outer.key === undefined) return true;
  return outer.key === inner.key;
}

function groupKey(s: Shape): string {
  return s.level === 1 ? '1' : `${s.level}:${s.key}`;
}

/**
 * Lists routes that can never match because another route always wins for every request they match
 * (`by` is that route's index; usually earlier, but a `pathPrefix: /` route shadows regex and catch-all
 * routes wherever they appear). Sorted by `index`; each shadowed route appears once.
 */
export function findShadowedRoutes(routes: readonly RouteSpec[]): { index: number; by: number }[] {
  const shapes = routes.map(shapeOf);
  const groups = new Map<string, Shape[]>();
  for (const s of shapes) {
    const key = groupKey(s);
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [s]);
    else list.push(s);
  }
  // A prefix of "/" matches every normalised path and outranks every level-1 route.
  const rootPrefixes = groups.get('2:/') ?? [];

  const out: { index: number; by: number }[] = [];
  for (const s of shapes) {
    const group = groups.get(groupKey(s)) as Shape[];
    let by: number | undefined;
    for (const other of group) {
      if (other.index >= s.index) break;
      if (samePathSet(other, s) && winsTie(other, s) && matchersCover(other, s)) {
        by = other.index;
        break;
      }
    }
    if (by === undefined && s.level === 1) {
      for (const root of rootPrefixes) {
        if (matchersCover(root, s)) {
          by = root.index;
          break;
        }
      }
    }
    if (by !== undefined) out.push({ index: s.index, by });
  }
  return out;
}
