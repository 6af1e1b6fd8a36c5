/**
 * Request header checks and stripping before anything goes upstream (SPEC §3, issue 10): header
 * count, names and values (RFC 9110 §5.1/§5.5, RFC 9113 §8.2.1), Host rules (RFC 9112 §3.2,
 * RFC 9113 §8.3.1), and the headers only the gateway may set (identity and client address).
 * Pure functions over the raw header list (`[name, value, name, value, …]`).
 */

/** What a request's headers are checked against; built once per snapshot. */
export interface HeaderPolicy {
  /** Most header fields a request may carry (pseudo-headers not counted). */
  readonly maxHeaderCount: number;
  /** `drop`: header names with "_" are not forwarded (nginx's default); `allow`: forwarded. */
  readonly underscores: 'drop' | 'allow';
  /** Extra lower-case names the gateway strips (`security.stripRequestHeaders`). */
  readonly strip: ReadonlySet<string>;
}

export const DEFAULT_HEADER_POLICY: HeaderPolicy = { maxHeaderCount: 100, underscores: 'drop', strip: new Set() };

export type HeaderProblem = { readonly code: 'BAD_REQUEST' | 'HEADERS_TOO_LARGE'; readonly message: string };

/**
 * Headers an upstream commonly trusts as proxy-attested identity or client address; a client's copy
 * is never forwarded (the gateway sets its own x-forwarded-*, forwarded and x-forwarded-client-cert).
 */
export const IDENTITY_HEADERS: ReadonlySet<string> = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-client-cert',
  'x-real-ip',
  'client-cert',
  'client-cert-chain',
  'x-client-cert',
  'x-client-ip',
  'true-client-ip',
]);
const IDENTITY_PREFIXES = ['x-ssl-client-', 'x-envoy-'] as const;

/** Names whose underscore spelling ("Content_Length") would frame or route a request differently upstream. */
const FRAMING_WITH_UNDERSCORE: ReadonlySet<string> = new Set(['content_length', 'transfer_encoding']);

/** True when `lower` (a lower-case name) is the gateway's alone: never forwarded from a client. */
export function isGatewayOwned(lower: string, policy: HeaderPolicy): boolean {
  if (IDENTITY_HEADERS.has(lower) || policy.strip.has(lower)) return true;
  for (const p of IDENTITY_PREFIXES) if (lower.startsWith(p)) return true;
  return false;
}

/** True when a header with this lower-case name is dropped for its underscore. */
export function dropForUnderscore(lower: string, policy: HeaderPolicy): boolean {
  return policy.underscores === 'drop' && lower.indexOf('_') !== -1;
}

/**
 * True when a client's header (lower-case name) is not forwarded, besides the hop-by-hop set: the
 * gateway's own headers, underscore names under `underscores: drop`, and any `proxy-*` header
 * (hop-by-hop for a proxy: Proxy-Authorization, Proxy-Connection and the rest).
 */
export function dropFromRequest(lower: string, policy: HeaderPolicy): boolean {
  return lower.startsWith('proxy-') || isGatewayOwned(lower, policy) || dropForUnderscore(lower, policy);
}

/** RFC 9110 §5.6.2 tchar. */
const TCHAR = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;

function badName(name: string, h2: boolean): boolean {
  if (name.length === 0) return true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || TCHAR[c] !== 1) return true;
    if (h2 && c >= 0x41 && c <= 0x5a) return true; // RFC 9113 §8.2.1: field names are lower case
  }
  return false;
}

/** RFC 9110 §5.5: CR, LF and NUL never appear in a field value (RFC 9113 §8.2.1 makes them malformed). */
function badValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0x00) return true;
  }
  return false;
}

function problem(code: HeaderProblem['code'], message: string): HeaderProblem {
  return { code, message };
}

/**
 * Checks a request's raw headers; undefined when they may go on. Refuses (400) bad field names or
 * values, the underscore spelling of a framing header, Host rules (h1: exactly one Host; h2: Host, when
 * present, agrees with :authority), HTTP/2 pseudo-headers after regular ones, and (431) more than
 * `maxHeaderCount` fields. Stripping is not done here: see `isGatewayOwned`, `dropForUnderscore`.
 */
export function checkRequestHeaders(raw: readonly string[], h2: boolean, policy: HeaderPolicy): HeaderProblem | undefined {
  let count = 0;
  let hosts = 0;
  let host: string | undefined;
  let authority: string | undefined;
  let regularSeen = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (h2 && name.charCodeAt(0) === 0x3a /* ':' */) {
      if (regularSeen) return problem('BAD_REQUEST', 'HTTP/2 pseudo-header after a regular header');
      if (name === ':authority') authority = value;
      if (badValue(value)) return problem('BAD_REQUEST', 'Invalid character in a header value');
      continue;
    }
    regularSeen = true;
    if (++count > policy.maxHeaderCount) return problem('HEADERS_TOO_LARGE', `More than ${policy.maxHeaderCount} request headers`);
    if (badName(name, h2)) return problem('BAD_REQUEST', 'Invalid header name');
    if (badValue(value)) return problem('BAD_REQUEST', 'Invalid character in a header value');
    const lower = h2 ? name : name.toLowerCase();
    if (lower === 'host') {
      hosts++;
      host = value;
    } else if (FRAMING_WITH_UNDERSCORE.has(lower)) {
      return problem('BAD_REQUEST', `Header "${name}" is not allowed`);
    }
  }
  if (hosts > 1) return problem('BAD_REQUEST', 'More than one Host header');
  if (!h2 && hosts === 0) return problem('BAD_REQUEST', 'Missing Host header');
  if (h2 && host !== undefined && authority !== undefined && host.trim().toLowerCase() !== authority.toLowerCase()) {
    return problem('BAD_REQUEST', 'Host and :authority disagree');
  }
  return undefined;
}

/** True when a request-target is longer than `max` characters (→ 414 URI_TOO_LONG). */
export function targetTooLong(url: string, max: number): boolean {
  return url.length > max;
}

/** True for a real WebSocket opening handshake (RFC 6455 §4.1) in these (lower-case keyed) headers. */
export function isWebSocketHandshake(method: string | undefined, headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  if (method !== 'GET') return false;
  const up = headers.upgrade;
  if (typeof up !== 'string' || up.trim().toLowerCase() !== 'websocket') return false;
  const conn = headers.connection;
  const connText = Array.isArray(conn) ? conn.join(',') : (conn ?? '');
  if (!connText.toLowerCase().split(',').some((t) => t.trim() === 'upgrade')) return false;
  const key = headers['sec-websocket-key'];
  if (typeof key !== 'string' || !/^[A-Za-z0-9+/]{22}==$/.test(key.trim())) return false;
  const version = headers['sec-websocket-version'];
  return typeof version === 'string' && version.trim() === '13';
}

const TOKEN_VALUE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function forwardedValue(v: string): string {
  return TOKEN_VALUE.test(v) ? v : `"${v.replace(/["\\]/g, (m) => `\\${m}`)}"`;
}

/**
 * The `forwarded` header (RFC 7239 §4) to send upstream: the gateway's own element
 * `for=<client>;proto=https;host=<authority>` (IPv6 as `"[…]"`, §6), replacing the client's value, or
 * appended to it when the peer is a trusted proxy — exactly as x-forwarded-for.
 */
export function forwardedHeader(received: string | undefined, clientIp: string, authority: string, trusted: boolean): string {
  const node = clientIp.indexOf(':') !== -1 ? `"[${clientIp}]"` : clientIp === '' ? 'unknown' : clientIp;
  let own = `for=${node};proto=https`;
  if (authority !== '') own += `;host=${forwardedValue(authority)}`;
  if (trusted && received !== undefined) {
    const kept = received.trim();
    if (kept !== '' && !badValue(kept)) return `${kept}, ${own}`;
  }
  return own;
}
