/**
 * Forward auth (Traefik's forwardAuth; Envoy's ext_authz over HTTP): before a request goes upstream,
 * an HTTP service is asked about it with a bodiless GET carrying what the request was —
 * `x-forwarded-method`, `x-forwarded-proto`, `x-forwarded-host`, `x-forwarded-uri` (the request-target
 * as received, query included), `x-forwarded-for` (the client address alone), the caller's identity
 * (`x-forwarded-client-cert` for a client certificate, `x-forwarded-jwt-sub` for a JWT subject),
 * `x-request-id`, `traceparent`, and the configured client headers.
 *
 * A 2xx passes and its configured `responseHeaders` go on the upstream request (client-sent copies
 * of those names never do, allowed or not). Any other answer is the verdict and goes back to the
 * client: its status, its body up to `maxBodyBytes`, and only a fixed set of safe headers. A timeout
 * or connection failure follows `failureMode`.
 */
import type { Dispatcher } from 'undici';
import { GatewayError } from '../core/errors.js';

export interface ForwardAuthConfig {
  /** The auth URL's path and query (its origin is the dispatcher's). */
  readonly path: string;
  /** Lower-case client header names copied to the auth request. */
  readonly copy: readonly string[];
  /** Lower-case auth-answer header names copied to the upstream request. */
  readonly responseHeaders: ReadonlySet<string>;
  readonly timeoutMs: number;
  readonly failureMode: 'deny' | 'allow';
  readonly maxBodyBytes: number;
}

/** What the auth service is told about one request. */
export interface AuthQuery {
  readonly method: string;
  /** The request-target as received (path and query). */
  readonly uri: string;
  readonly host: string;
  readonly client: string;
  /** x-forwarded-client-cert for the client certificate, when there is one. */
  readonly xfcc: string | undefined;
  readonly jwtSub: string | undefined;
  readonly requestId: string;
  readonly traceparent: string | undefined;
  header(name: string): string | undefined;
}

/** The service's verdict: pass (with the headers for the upstream) or deny (the answer for the client). */
export type AuthVerdict =
  | { readonly pass: true; readonly headers: readonly string[]; readonly failedOpen: boolean }
  | { readonly pass: false; readonly status: number; readonly headers: Readonly<Record<string, string | string[]>>; readonly body: Buffer };

export interface ForwardAuth {
  readonly config: ForwardAuthConfig;
  check(q: AuthQuery): Promise<AuthVerdict>;
}

/** Headers of a denial that reach the client; everything else the auth service said stays behind. */
const SAFE_DENIAL_HEADERS = new Set([
  'content-type',
  'content-language',
  'www-authenticate',
  'location',
  'set-cookie',
  'cache-control',
  'retry-after',
  'vary',
]);

/** Visible ASCII and spaces: what may go into a header value we build from identity data. */
const SAFE_VALUE = /^[\x20-\x7e]*$/;

const NO_HEADERS: readonly string[] = Object.freeze([]);

/** The forward-auth step of a route, asking through `dispatcher` (a pool to the auth URL's origin, built at compile time). */
export function compileForwardAuth(config: ForwardAuthConfig, dispatcher: Dispatcher): ForwardAuth {
  return { config, check: (q) => ask(config, dispatcher, q) };
}

async function ask(config: ForwardAuthConfig, dispatcher: Dispatcher, q: AuthQuery): Promise<AuthVerdict> {
  const headers: string[] = [];
  for (const name of config.copy) {
    const v = q.header(name);
    if (v !== undefined) headers.push(name, v);
  }
  headers.push('x-forwarded-method', q.method, 'x-forwarded-proto', 'https', 'x-forwarded-host', q.host, 'x-forwarded-uri', q.uri);
  headers.push('x-forwarded-for', q.client, 'x-request-id', q.requestId);
  if (q.traceparent !== undefined) headers.push('traceparent', q.traceparent);
  if (q.xfcc !== undefined) headers.push('x-forwarded-client-cert', q.xfcc);
  if (q.jwtSub !== undefined && SAFE_VALUE.test(q.jwtSub)) headers.push('x-forwarded-jwt-sub', q.jwtSub);

  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), config.timeoutMs);
  try {
    const res = await dispatcher.request({
      path: config.path,
      method: 'GET',
      headers,
      signal: abort.signal,
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
    });
    if (res.statusCode >= 200 && res.statusCode < 300) {
      await res.body.dump({ limit: config.maxBodyBytes });
      return { pass: true, headers: pick(res.headers, config.responseHeaders), failedOpen: false };
    }
    const safe: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(res.headers)) {
      if (value !== undefined && SAFE_DENIAL_HEADERS.has(name)) safe[name] = value;
    }
    return { pass: false, status: res.statusCode, headers: safe, body: await capped(res.body, config.maxBodyBytes) };
  } catch (err) {
    if (config.failureMode === 'allow') return { pass: true, headers: NO_HEADERS, failedOpen: true };
    throw new GatewayError('AUTH_UNAVAILABLE', abort.signal.aborted ? 'The authorization service did not answer in time' : 'The authorization service is unavailable', {
      cause: err,
    });
  } finally {
    clearTimeout(timer);
  }
}

function pick(from: Record<string, string | string[] | undefined>, names: ReadonlySet<string>): readonly string[] {
  if (names.size === 0) return NO_HEADERS;
  const out: string[] = [];
  for (const name of names) {
    const v = from[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const one of v) out.push(name, one);
    else out.push(name, v);
  }
  return out;
}

/** The body up to `max` bytes; the rest is not read (the connection is then closed by undici). */
async function capped(body: Dispatcher.ResponseData['body'], max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    const room = max - size;
    if (chunk.length >= room) {
      chunks.push(chunk.subarray(0, room));
      size = max;
      body.destroy();
      break;
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return Buffer.concat(chunks, size);
}

/**
 * The upstream request's headers on a forward-auth route: client-sent copies of the `responseHeaders`
 * names dropped, the auth answer's values (when it passed) appended.
 */
export function withAuthHeaders(upstream: string[], names: ReadonlySet<string>, fromAuth: readonly string[]): string[] {
  if (names.size === 0) return upstream;
  const out: string[] = [];
  for (let i = 0; i < upstream.length; i += 2) {
    const name = upstream[i] as string;
    if (names.has(name.toLowerCase())) continue;
    out.push(name, upstream[i + 1] as string);
  }
  for (const v of fromAuth) out.push(v);
  return out;
}
