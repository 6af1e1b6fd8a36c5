/**
 * CORS per route (issue 16; the Fetch standard's CORS protocol). Pure: the pipeline asks
 * `isPreflight`, answers a preflight at the edge with `preflightHeaders`, and the response path adds
 * `actualHeaders` to a proxied response.
 */
import { addVary } from './header-policy.js';

export interface CorsSpec {
  /** Exact origins (`https://app.example.com`), `https://*.example.com` (any subdomain), or `*`. */
  readonly origins: readonly string[];
  readonly methods: readonly string[];
  /** Request headers a preflight may ask for (case-insensitive); `*` allows any (not with credentials). */
  readonly headers: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly credentials: boolean;
  /** Preflight cache lifetime in whole seconds, or undefined for no Access-Control-Max-Age. */
  readonly maxAgeSeconds: number | undefined;
}

export interface CompiledCors {
  readonly anyOrigin: boolean;
  readonly exact: ReadonlySet<string>;
  /** `["https://", ".example.com"]` pairs for `https://*.example.com`. */
  readonly wildcards: readonly (readonly [string, string])[];
  readonly credentials: boolean;
  readonly methods: ReadonlySet<string>;
  readonly allowMethods: string;
  readonly anyHeader: boolean;
  readonly headers: ReadonlySet<string>;
  readonly allowHeaders: string;
  readonly exposeHeaders: string | undefined;
  readonly maxAge: string | undefined;
}

export function compileCors(spec: CorsSpec): CompiledCors {
  const exact = new Set<string>();
  const wildcards: [string, string][] = [];
  let anyOrigin = false;
  for (const o of spec.origins) {
    if (o === '*') anyOrigin = true;
    else if (o.includes('://*.')) {
      const [scheme, rest] = o.split('://*') as [string, string];
      wildcards.push([`${scheme}://`, rest.toLowerCase()]);
    } else exact.add(o.toLowerCase());
  }
  const methods = new Set(spec.methods.map((m) => m.toUpperCase()));
  const anyHeader = spec.headers.includes('*');
  const headers = new Set(spec.headers.map((h) => h.toLowerCase()));
  return Object.freeze({
    anyOrigin,
    exact,
    wildcards: Object.freeze(wildcards),
    credentials: spec.credentials,
    methods,
    allowMethods: [...methods].join(', '),
    anyHeader,
    headers,
    allowHeaders: [...headers].filter((h) => h !== '*').join(', '),
    exposeHeaders: spec.exposeHeaders.length === 0 ? undefined : spec.exposeHeaders.join(', '),
    maxAge: spec.maxAgeSeconds === undefined ? undefined : String(spec.maxAgeSeconds),
  });
}

/** Whether `origin` (the request's Origin header) may use the route. */
export function originAllowed(cors: CompiledCors, origin: string): boolean {
  if (cors.anyOrigin) return true;
  const lower = origin.toLowerCase();
  if (cors.exact.has(lower)) return true;
  for (const [scheme, suffix] of cors.wildcards) {
    // One label or more before the suffix, nothing else: "https://a.b.example.com" but not "https://example.com".
    if (lower.startsWith(scheme) && lower.endsWith(suffix) && lower.length > scheme.length + suffix.length && !lower.slice(scheme.length, -suffix.length).includes('/')) {
      const host = lower.slice(scheme.length, lower.length - suffix.length);
      if (/^[a-z0-9.-]+$/.test(host) && !host.endsWith('.')) return true;
    }
  }
  return false;
}

/** The value for Access-Control-Allow-Origin: `*` only for any origin without credentials. */
function allowOrigin(cors: CompiledCors, origin: string): string {
  return cors.anyOrigin && !cors.credentials ? '*' : origin;
}

/** A CORS preflight: OPTIONS with Origin and Access-Control-Request-Method. */
export function isPreflight(method: string, origin: string | undefined, requestMethod: string | undefined): boolean {
  return method === 'OPTIONS' && origin !== undefined && requestMethod !== undefined;
}

/**
 * The headers of a successful preflight answer (204), or undefined when the origin, the method or
 * one of the requested headers is not allowed.
 */
export function preflightHeaders(cors: CompiledCors, origin: string, requestMethod: string, requestHeaders: string | undefined): Record<string, string> | undefined {
  if (!originAllowed(cors, origin)) return undefined;
  const method = requestMethod.trim();
  // CORS-safelisted methods need no listing (Fetch §3.2.2) but are listed in the answer all the same.
  if (!cors.methods.has(method) && method !== 'GET' && method !== 'HEAD' && method !== 'POST') return undefined;
  let allowHeaders = cors.allowHeaders;
  if (requestHeaders !== undefined && requestHeaders.trim() !== '') {
    const asked = requestHeaders.split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
    if (cors.anyHeader && !cors.credentials) allowHeaders = asked.join(', ');
    else if (!asked.every((h) => cors.headers.has(h))) return undefined;
  }
  const out: Record<string, string> = {
    'access-control-allow-origin': allowOrigin(cors, origin),
    'access-control-allow-methods': cors.allowMethods,
    vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
  };
  if (allowHeaders !== '') out['access-control-allow-headers'] = allowHeaders;
  if (cors.credentials) out['access-control-allow-credentials'] = 'true';
  if (cors.maxAge !== undefined) out['access-control-max-age'] = cors.maxAge;
  return out;
}

/**
 * Adds the CORS headers of an actual (non-preflight) response in place: the upstream's own
 * Access-Control-* headers are dropped (the route's policy answers), `Vary: Origin` is always added
 * (the answer depends on Origin), and an allowed Origin is echoed.
 */
export function applyActualCors(headers: Record<string, string | string[]>, cors: CompiledCors, origin: string | undefined): void {
  for (const name in headers) if (name.startsWith('access-control-')) delete headers[name];
  addVary(headers, 'Origin');
  if (origin === undefined || !originAllowed(cors, origin)) return;
  headers['access-control-allow-origin'] = allowOrigin(cors, origin);
  if (cors.credentials) headers['access-control-allow-credentials'] = 'true';
  if (cors.exposeHeaders !== undefined) headers['access-control-expose-headers'] = cors.exposeHeaders;
}
