/**
 * Per-request route lookup against a compiled RouteTable. No throw, no allocation beyond the prefix
 * keys sliced from the path (only at lengths where some route has a prefix).
 */
import { PREFIX_BARE, PREFIX_WITH_SLASH, type CompiledRoute, type RouteBucket, type RouteMatch, type RouteTable } from './compile.js';

export type { RouteMatch } from './compile.js';

/** The parts of a request the router looks at. */
export interface RouteQuery {
  method: string;
  /** Lower-case, port removed. */
  host: string;
  /** Already normalised (see http/normalize-path.ts). */
  path: string;
  /** Header value by lower-case name. */
  header(name: string): string | undefined;
}

function matchesRest<T>(r: CompiledRoute<T>, q: RouteQuery): boolean {
  const methods = r.methods;
  if (methods !== undefined) {
    let ok = false;
    for (let i = 0; i < methods.length; i++) {
      if (methods[i] === q.method) {
        ok = true;
        break;
      }
    }
    if (!ok) return false;
  }
  const headers = r.headers;
  if (headers !== undefined) {
    for (let i = 0; i < headers.length; i += 2) {
      if (q.header(headers[i] as string) !== headers[i + 1]) return false;
    }
  }
  return r.regex === undefined || r.regex.test(q.path);
}

function firstMatch<T>(list: readonly CompiledRoute<T>[], q: RouteQuery): CompiledRoute<T> | undefined {
  for (let i = 0; i < list.length; i++) {
    const r = list[i] as CompiledRoute<T>;
    if (matchesRest(r, q)) return r;
  }
  return undefined;
}

function matchBucket<T>(b: RouteBucket<T>, q: RouteQuery): RouteMatch<T> | undefined {
  // Host-specific routes first: the earliest that fully matches, exact or wildcard.
  let best: CompiledRoute<T> | undefined;
  if (b.byHost !== undefined) {
    const list = b.byHost.get(q.host);
    if (list !== undefined) best = firstMatch(list, q);
  }
  const wild = b.wildcard;
  if (wild.length > 0) {
    const host = q.host;
    // TODO: a linear scan; index wildcard suffixes by label if configs with thousands of wildcard hosts on one prefix appear.
    for (let i = 0; i < wild.length; i++) {
      const r = wild[i] as CompiledRoute<T>;
      if (best !== undefined && r.index > best.index) break;
      const suffix = r.hostSuffix as string;
      if (host.length > suffix.length && host.endsWith(suffix) && matchesRest(r, q)) {
        best = r;
        break;
      }
    }
  }
  if (best !== undefined) return best.match;
  return firstMatch(b.anyHost, q)?.match;
}

/**
 * Returns the highest-priority route matching the request (SPEC §2: exact path, then the longest
 * segment-aware prefix, then regex/catch-all routes; host-specific before host-less; then config order),
 * or undefined when none does. Never throws; cost grows with the path's length, not the route count.
 */
export function matchRoute<T>(table: RouteTable<T>, q: RouteQuery): RouteMatch<T> | undefined {
  const path = q.path;

  if (table.exact.size > 0) {
    const b = table.exact.get(path);
    if (b !== undefined) {
      const m = matchBucket(b, q);
      if (m !== undefined) return m;
    }
  }

  const prefixes = table.prefixes;
  if (prefixes.size > 0) {
    const lengths = table.prefixLengths;
    const max = lengths.length - 1;
    const n = path.length;
    // Candidates, longest first: the whole path; then at every "/" (right to left) the part up to and
    // including it ("/api/" matches what starts with it) and the part before it ("/api" matches "/api/…").
    if (n <= max && lengths[n] !== 0) {
      const b = prefixes.get(path);
      if (b !== undefined) {
        const m = matchBucket(b, q);
        if (m !== undefined) return m;
      }
    }
    // lastIndexOf jumps straight to the next "/" to the left; starting at the longest configured prefix
    // skips the part of a long path that no prefix can reach.
    for (let i = n === 0 ? -1 : path.lastIndexOf('/', Math.min(n - 1, max)); i >= 0; i = i === 0 ? -1 : path.lastIndexOf('/', i - 1)) {
      const withSlash = i + 1;
      if (withSlash < n && withSlash <= max && ((lengths[withSlash] as number) & PREFIX_WITH_SLASH) !== 0) {
        const b = prefixes.get(path.slice(0, withSlash));
        if (b !== undefined) {
          const m = matchBucket(b, q);
          if (m !== undefined) return m;
        }
      }
      if (i > 0 && ((lengths[i] as number) & PREFIX_BARE) !== 0) {
        const b = prefixes.get(path.slice(0, i));
        if (b !== undefined) {
          const m = matchBucket(b, q);
          if (m !== undefined) return m;
        }
      }
    }
  }

  return table.fallback === undefined ? undefined : matchBucket(table.fallback, q);
}
