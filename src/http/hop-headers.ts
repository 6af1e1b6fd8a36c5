/**
 * Hop-by-hop headers (RFC 9110 §7.6.1, SPEC §3): headers that describe one connection and must not be
 * forwarded, plus the HTTP/2 connection-specific headers a request must not carry at all (RFC 9113 §8.2.2).
 */

import { HOP_BY_HOP } from '../core/hop-by-hop.js';

export { HOP_BY_HOP };

/** Connection-specific headers that make an HTTP/2 request malformed (RFC 9113 §8.2.2). */
export const H2_CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

// Shared answers for the values HTTP/1.1 clients send on nearly every request, so the hot path
// doesn't build a Set for them.
const KEEP_ALIVE: ReadonlySet<string> = new Set(['keep-alive']);
const CLOSE: ReadonlySet<string> = new Set(['close']);

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

function addTokens(value: string, into: Set<string>): void {
  let start = 0;
  for (let i = 0; i <= value.length; i++) {
    if (i < value.length && value.charCodeAt(i) !== 0x2c) continue;
    let a = start;
    let b = i;
    while (a < b && isOws(value.charCodeAt(a))) a++;
    while (b > a && isOws(value.charCodeAt(b - 1))) b--;
    if (b > a) into.add(value.slice(a, b).toLowerCase());
    start = i + 1;
  }
}

/**
 * The lower-cased header names listed in a Connection header (one value or several lines), or
 * undefined when it is absent or lists nothing. The set is shared for common values: never mutate it.
 */
export function connectionTokens(value: string | string[] | undefined): ReadonlySet<string> | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') {
    if (value === 'keep-alive' || value === 'Keep-Alive') return KEEP_ALIVE;
    if (value === 'close' || value === 'Close') return CLOSE;
  }
  const tokens = new Set<string>();
  if (typeof value === 'string') addTokens(value, tokens);
  else for (const v of value) addTokens(v, tokens);
  return tokens.size === 0 ? undefined : tokens;
}

/** True when a TE value may be forwarded: exactly the token "trailers" (case-insensitive, one value). */
export function keepTe(value: string | string[] | undefined): boolean {
  if (value === undefined) return false;
  const v = typeof value === 'string' ? value : value.length === 1 ? (value[0] as string) : '';
  const t = v.length === 8 ? v : v.trim();
  return t.length === 8 && t.toLowerCase() === 'trailers';
}

/** True when an Upgrade value asks for WebSocket (the only upgrade the gateway passes through). */
export function isWebSocketUpgrade(value: string | string[] | undefined): boolean {
  if (typeof value !== 'string') return false;
  const t = value.trim();
  return t.length === 9 && t.toLowerCase() === 'websocket';
}

/**
 * True when the request or response header `name` (lower-case) must not be forwarded: the fixed
 * hop-by-hop set, any `proxy-*` header, and every header the Connection header names. Exceptions:
 * `te` is kept when its `value` is exactly "trailers" (gRPC needs it), and `upgrade` is kept when
 * `opts.keepUpgrade` (the caller has seen a WebSocket upgrade, see `isWebSocketUpgrade`), even if
 * Connection lists them. `connection` itself is always dropped: a WebSocket forwarder writes its own
 * `connection: upgrade`. Filter before adding the gateway's own headers (x-forwarded-*, x-request-id,
 * traceparent), so a client can't use Connection to strip them.
 */
export function isHopByHop(
  name: string,
  tokens: ReadonlySet<string> | undefined,
  opts: { readonly keepUpgrade: boolean },
  value?: string | string[],
): boolean {
  if (name === 'te') return !keepTe(value);
  if (name === 'upgrade') return !opts.keepUpgrade;
  if (HOP_BY_HOP.has(name) || name.startsWith('proxy-')) return true;
  return tokens !== undefined && tokens.has(name);
}

/**
 * True when an HTTP/2 request carrying this header (lower-case name) is malformed and must be refused:
 * a connection-specific header, or `te` with any value other than "trailers" (RFC 9113 §8.2.2).
 */
export function h2ForbiddenHeader(name: string, value: string | string[] | undefined): boolean {
  if (H2_CONNECTION_SPECIFIC.has(name)) return true;
  return name === 'te' && !keepTe(value);
}
