/**
 * Redirects as a route action (issue 16): `redirect: { scheme, host, path, prefix, status }`,
 * answered at the edge. Pure: builds the Location from the canonical request path.
 */

export interface RedirectSpecLike {
  readonly scheme?: 'http' | 'https' | undefined;
  readonly host?: string | undefined;
  readonly path?: string | undefined;
  readonly prefix?: string | undefined;
  readonly stripQuery?: boolean | undefined;
  readonly status: 301 | 302 | 307 | 308;
}

export interface CompiledRedirect {
  readonly status: number;
  readonly scheme: string;
  readonly host: string | undefined;
  readonly path: string | undefined;
  readonly prefix: string | undefined;
  /** Characters of the route's pathPrefix (without a trailing "/") that `prefix` replaces. */
  readonly prefixLength: number;
  readonly stripQuery: boolean;
}

export function compileRedirect(spec: RedirectSpecLike, pathPrefix: string | undefined): CompiledRedirect {
  const base = pathPrefix === undefined ? 0 : pathPrefix.endsWith('/') ? pathPrefix.length - 1 : pathPrefix.length;
  return Object.freeze({
    status: spec.status,
    scheme: spec.scheme ?? 'https',
    host: spec.host,
    path: spec.path,
    prefix: spec.prefix,
    prefixLength: base,
    stripQuery: spec.stripQuery ?? false,
  });
}

/** host[:port] as it may appear in a Location: no userinfo, path, or stray characters. */
const AUTHORITY = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

/**
 * The Location for a request (its authority, canonical path and query string, "" or "?…"), or
 * undefined when the request's authority cannot be put in a Location (the caller answers 400).
 */
export function redirectLocation(r: CompiledRedirect, authority: string, path: string, query: string): string | undefined {
  const host = r.host ?? authority;
  if (!AUTHORITY.test(host)) return undefined;
  let p = path;
  if (r.path !== undefined) p = r.path;
  else if (r.prefix !== undefined) {
    const rest = path.length <= r.prefixLength ? '' : path.slice(r.prefixLength);
    const pre = r.prefix.endsWith('/') ? r.prefix.slice(0, -1) : r.prefix;
    p = rest === '' ? (pre === '' ? '/' : r.prefix) : pre + rest;
  }
  return `${r.scheme}://${host}${p}${r.stripQuery ? '' : query}`;
}
