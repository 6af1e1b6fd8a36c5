/**
 * Every error the gateway makes itself. The status always comes from STATUS[code];
 * only `message` goes on the wire, `cause` goes to the log.
 */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'BAD_CSR'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NO_ROUTE'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'TOKEN_REUSED'
  | 'PAYLOAD_TOO_LARGE'
  | 'HEADERS_TOO_LARGE'
  | 'URI_TOO_LONG'
  | 'RATE_LIMITED'
  | 'QUOTA_EXCEEDED'
  | 'INTERNAL'
  | 'UPSTREAM_UNAVAILABLE'
  | 'NO_HEALTHY_UPSTREAM'
  | 'STORE_UNAVAILABLE'
  | 'CA_UNAVAILABLE'
  | 'OVERLOADED'
  | 'AUTH_UNAVAILABLE'
  | 'REQUEST_TIMEOUT'
  | 'UPSTREAM_TIMEOUT';

export const STATUS = {
  BAD_REQUEST: 400,
  BAD_CSR: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NO_ROUTE: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  TOKEN_REUSED: 409,
  PAYLOAD_TOO_LARGE: 413,
  HEADERS_TOO_LARGE: 431,
  URI_TOO_LONG: 414,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  INTERNAL: 500,
  UPSTREAM_UNAVAILABLE: 502,
  NO_HEALTHY_UPSTREAM: 503,
  STORE_UNAVAILABLE: 503,
  CA_UNAVAILABLE: 503,
  OVERLOADED: 503,
  AUTH_UNAVAILABLE: 503,
  REQUEST_TIMEOUT: 408,
  UPSTREAM_TIMEOUT: 504,
} as const satisfies Record<ErrorCode, number>;

export interface GatewayErrorOptions {
  cause?: unknown;
  headers?: Readonly<Record<string, string>>;
  /** True when another attempt (on another target) may succeed. */
  retryable?: boolean;
}

/** An error with a public code and message; `cause` stays in the logs. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: GatewayErrorOptions = {}) {
    // Expected errors on the request path (404, 429, 502 …) need no stack: capturing one costs more
    // than the rest of a rejected request. The cause, when there is one, keeps its own.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    Error.stackTraceLimit = limit;
    this.name = 'GatewayError';
    this.code = code;
    this.status = STATUS[code];
    this.headers = opts.headers ?? {};
    this.retryable = opts.retryable ?? false;
  }
}

/** The JSON body of every error the gateway answers itself (SPEC §3). */
export function errorBody(code: ErrorCode, message: string, requestId: string): string {
  return JSON.stringify({ error: { code, message, requestId } });
}

/** The message used when a caller names only a code. */
export const DEFAULT_MESSAGE: Readonly<Record<ErrorCode, string>> = {
  BAD_REQUEST: 'The request is malformed',
  BAD_CSR: 'The CSR is malformed',
  UNAUTHENTICATED: 'Authentication required',
  FORBIDDEN: 'Forbidden',
  NO_ROUTE: 'No route',
  NOT_FOUND: 'Not found',
  METHOD_NOT_ALLOWED: 'Method not allowed',
  TOKEN_REUSED: 'The token was already used',
  PAYLOAD_TOO_LARGE: 'The request body is too large',
  HEADERS_TOO_LARGE: 'Request headers are too large',
  RATE_LIMITED: 'Rate limit exceeded',
  QUOTA_EXCEEDED: 'Quota exceeded',
  INTERNAL: 'Internal error',
  UPSTREAM_UNAVAILABLE: 'Upstream unavailable',
  NO_HEALTHY_UPSTREAM: 'No healthy upstream',
  STORE_UNAVAILABLE: 'The shared store is unavailable',
  CA_UNAVAILABLE: 'The certificate authority cannot record or check its state right now; retry shortly',
  UPSTREAM_TIMEOUT: 'Upstream timed out',
  URI_TOO_LONG: 'The request target is too long',
  OVERLOADED: 'The gateway is overloaded; retry shortly',
  AUTH_UNAVAILABLE: 'The authorization service is unavailable',
  REQUEST_TIMEOUT: 'The request body did not arrive in time',
};

/** An error answer, ready for any writer (node response, fastify reply, raw socket). */
export interface RenderedError {
  readonly code: ErrorCode;
  readonly status: number;
  /** content-type, content-length, cache-control, x-request-id, then the error's own headers. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * The one place an error answer is made (SPEC §3): status from STATUS, body from `errorBody`.
 * `message` overrides the error's (or the code's default) message.
 */
export function renderError(err: ErrorCode | GatewayError, requestId: string, message?: string): RenderedError {
  const code = typeof err === 'string' ? err : err.code;
  const text = message ?? (typeof err === 'string' ? DEFAULT_MESSAGE[code] : err.message);
  const body = errorBody(code, text, requestId);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    'x-request-id': requestId,
  };
  if (typeof err !== 'string') Object.assign(headers, err.headers);
  return { code, status: STATUS[code], headers, body };
}

/** The code for a 4xx status a framework chose itself (fastify's body limits, media type …). */
export function codeForClientStatus(status: number): ErrorCode {
  if (status === STATUS.PAYLOAD_TOO_LARGE) return 'PAYLOAD_TOO_LARGE';
  if (status === STATUS.HEADERS_TOO_LARGE) return 'HEADERS_TOO_LARGE';
  return 'BAD_REQUEST';
}
