/** Upstream errors (undici, node:net) translated once, where they enter, into `retries.on` words. */
import type { UpstreamOutcome } from '../core/types.js';

/** Raised by the proxy itself when a try or the route runs out of time. */
export class UpstreamTimeoutError extends Error {
  override name = 'UpstreamTimeoutError';
  readonly code = 'TOLLGATE_UPSTREAM_TIMEOUT';
}

/** Raised when the client went away; never retried, never answered. */
export class ClientGoneError extends Error {
  override name = 'ClientGoneError';
  readonly code = 'TOLLGATE_CLIENT_GONE';
}

const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
]);
const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'TOLLGATE_UPSTREAM_TIMEOUT']);

/** What kind of failure an upstream error is. Anything unknown counts as a reset (the connection broke). */
export function classifyUpstreamError(err: unknown): Exclude<UpstreamOutcome, 'ok' | 'http-5xx'> {
  let e: unknown = err;
  // undici wraps some socket errors; look one level into `cause`.
  for (let depth = 0; depth < 2 && e !== null && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (CONNECT_FAILURES.has(code)) return 'connect-failure';
      if (TIMEOUTS.has(code)) return 'timeout';
    }
    e = (e as { cause?: unknown }).cause;
  }
  return 'reset';
}
