/**
 * A failed upstream attempt judged once, where it is reported: what kind of failure it was (the
 * `retries.on` word), the error the client gets for it, and whose fault it was. `faultOf` is the only
 * place that decides whether a failure counts against the target (outlier detection, peak-EWMA, passive
 * health, the upstream outcome metric).
 */
import { GatewayError } from '../core/errors.js';
import type { UpstreamOutcome } from '../core/types.js';

/** Raised by the proxy itself when a try runs out of time before response headers. */
export class UpstreamTimeoutError extends Error {
  override name = 'UpstreamTimeoutError';
  readonly code = 'TOLLGATE_UPSTREAM_TIMEOUT';
}

/** Raised when the client went away during an attempt; never retried, never answered, logged as 499. */
export class ClientGoneError extends Error {
  override name = 'ClientGoneError';
  readonly code = 'TOLLGATE_CLIENT_GONE';
  constructor(message = 'client closed the connection') {
    super(message);
  }
}

/** Raised by the request-body stream when reading the client's body failed (the client broke it). */
export class RequestBodyError extends Error {
  override name = 'RequestBodyError';
  readonly code = 'TOLLGATE_REQUEST_BODY';
}

/** A response the caller chose not to forward (a status listed in `retries.on`, to retry elsewhere). */
export class RetryableStatusError extends Error {
  override name = 'RetryableStatusError';
  constructor(readonly status: number) {
    super(`upstream answered ${status}`);
  }
}

/** Who an attempt's failure is attributed to. Only 'upstream' is evidence against the target. */
export type Fault = 'upstream' | 'client' | 'gateway';

/** Where an error came from, as far as the error itself tells. */
export type ErrorSource = 'upstream' | 'client' | 'gateway';

/** A failed attempt's outcome word, the error the client gets when nothing else is tried, and its source. */
export interface ClassifiedFailure {
  readonly outcome: Exclude<UpstreamOutcome, 'ok'>;
  readonly error: GatewayError;
  readonly source: ErrorSource;
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

/**
 * Translates an attempt's error into its outcome and the error to send. undici wraps some errors (the
 * request body's among them), so `cause` is followed a few levels. A GatewayError from the body stream
 * (PAYLOAD_TOO_LARGE) is the client's; any other GatewayError is the gateway's; anything unknown from the
 * connection counts as a reset.
 */
export function classifyUpstreamError(err: unknown): ClassifiedFailure {
  if (err instanceof RetryableStatusError) {
    const error = new GatewayError(err.status === 504 ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE', `Upstream answered ${err.status}`, { cause: err });
    return { outcome: 'http-5xx', error, source: 'upstream' };
  }
  let e: unknown = err;
  for (let depth = 0; depth < 3 && e !== null && typeof e === 'object'; depth++) {
    if (e instanceof GatewayError) return { outcome: 'reset', error: e, source: e.code === 'PAYLOAD_TOO_LARGE' ? 'client' : 'gateway' };
    if (e instanceof ClientGoneError || e instanceof RequestBodyError) {
      return { outcome: 'reset', error: new GatewayError('BAD_REQUEST', 'The request body could not be read', { cause: err }), source: 'client' };
    }
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (CONNECT_FAILURES.has(code)) return { outcome: 'connect-failure', error: new GatewayError('UPSTREAM_UNAVAILABLE', 'Upstream connect failed', { cause: err }), source: 'upstream' };
      if (TIMEOUTS.has(code)) return { outcome: 'timeout', error: new GatewayError('UPSTREAM_TIMEOUT', 'Upstream did not answer in time', { cause: err }), source: 'upstream' };
    }
    e = (e as { cause?: unknown }).cause;
  }
  return { outcome: 'reset', error: new GatewayError('UPSTREAM_UNAVAILABLE', 'Upstream connection failed', { cause: err }), source: 'upstream' };
}

/**
 * Whose fault a failed attempt was — the one place this is decided. The client's when it went away
 * (`clientGone`), when its body broke or was over the limit (`source` 'client'), or when the attempt timed
 * out while the request body was still being sent (a slow upload); the gateway's for its own errors;
 * otherwise the upstream's.
 */
export function faultOf(outcome: Exclude<UpstreamOutcome, 'ok'>, clientGone: boolean, source: ErrorSource, bodyPending = false): Fault {
  if (clientGone || source === 'client') return 'client';
  if (source === 'gateway') return 'gateway';
  if (outcome === 'timeout' && bodyPending) return 'client';
  return 'upstream';
}
