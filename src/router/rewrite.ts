/** The path the upstream receives (SPEC §2: the normalised path after `stripPrefix`). */
import type { RouteMatch } from './compile.js';

/**
 * Strips `match.prefixLength` characters from the normalised path, keeping a leading "/":
 * `/api/users` → `/users`, `/api` → `/`, `/api/` → `/`. Returns `path` itself (no allocation)
 * when the route does not strip. The query string is the caller's and is never touched.
 */
export function upstreamPath(match: RouteMatch<unknown>, path: string): string {
  const n = match.prefixLength;
  if (n === 0) return path;
  if (path.length <= n) return '/';
  // The matcher only returns prefix routes on a segment boundary, so what follows starts with "/";
  // the guard keeps a hand-made match from producing a relative path.
  return path.charCodeAt(n) === 47 ? path.slice(n) : `/${path.slice(n)}`;
}
