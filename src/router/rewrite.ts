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

/** A route's compiled `rewrite` (issue 16): prefix replacement or a regex substitution, never both. */
export interface CompiledRewrite {
  /** Characters of the route's pathPrefix (without a trailing "/") replaced by `prefix`; with `prefix` only. */
  readonly prefixLength: number;
  readonly prefix: string | undefined;
  readonly regex: RegExp | undefined;
  readonly substitution: string;
}

export interface RewriteSpecLike {
  readonly prefix?: string | undefined;
  readonly regex?: { readonly pattern: string; readonly substitution: string } | undefined;
}

/** Compiles `rewrite` for a route whose match has `pathPrefix` (undefined for other routes). */
export function compileRewrite(spec: RewriteSpecLike, pathPrefix: string | undefined): CompiledRewrite {
  const base = pathPrefix === undefined ? 0 : pathPrefix.endsWith('/') ? pathPrefix.length - 1 : pathPrefix.length;
  return Object.freeze({
    prefixLength: base,
    prefix: spec.prefix,
    // Global: every match is replaced, as Envoy's regex_rewrite does.
    regex: spec.regex === undefined ? undefined : new RegExp(spec.regex.pattern, 'g'),
    substitution: spec.regex?.substitution ?? '',
  });
}

/**
 * Replaces the matched prefix with `rewrite.prefix` (`/api` → `/v2`: `/api/users` → `/v2/users`), or
 * substitutes `rewrite.regex` over the canonical path. Returns the rewritten path, or undefined when
 * the result is not a canonical path (it is re-canonicalised by `canonical`: "//" merged, dot segments
 * resolved; climbing above "/" or an encoded slash refuses).
 */
export function rewritePath(rw: CompiledRewrite, path: string, canonical: (p: string) => string | undefined): string | undefined {
  let out: string;
  if (rw.prefix !== undefined) {
    const rest = path.length <= rw.prefixLength ? '' : path.slice(rw.prefixLength);
    const p = rw.prefix.endsWith('/') ? rw.prefix.slice(0, -1) : rw.prefix;
    out = rest === '' ? (p === '' ? '/' : rw.prefix) : rest.charCodeAt(0) === 47 ? p + rest : `${p}/${rest}`;
  } else {
    out = path.replace(rw.regex as RegExp, rw.substitution);
  }
  if (out.charCodeAt(0) !== 47) out = `/${out}`;
  return canonical(out);
}

