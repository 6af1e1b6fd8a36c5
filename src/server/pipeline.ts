/**
 * The data path, one request at a time:
 * request checks → router → identity → policies (authz, limits) → balancer → proxy (with retries).
 * Reads only the snapshot pinned at the start of the request.
 */
import { constants as h2constants, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { Clock } from '../core/clock.js';
import type { Random } from '../core/random.js';
import { GatewayError } from '../core/errors.js';
import type { Identity } from '../core/types.js';
import { ANONYMOUS } from '../core/types.js';
import type { Logger } from '../telemetry/logger.js';
import type { AccessLog, AccessRecord } from '../telemetry/access-log.js';
import type { Metrics } from '../telemetry/metrics.js';
import { identityKey } from '../telemetry/identity-tally.js';
import { normalizePath, splitPathAndQuery } from '../http/normalize-path.js';
import { acceptRequestId, newRequestId } from '../http/request-id.js';
import { continueTraceparent } from '../http/traceparent.js';
import { clientIpOf, forwardedFor, formatXfcc } from '../http/forwarded.js';
import { clientAddressOf } from '../http/client-address.js';
import { checkRequestHeaders, dropFromRequest, forwardedHeader, isWebSocketHandshake } from '../http/request-headers.js';
import { HOP_BY_HOP, connectionTokens, h2ForbiddenHeader, keepTe } from '../http/hop-headers.js';
import { matchRoute, type RouteMatch, type RouteQuery } from '../router/match.js';
import { rewritePath, upstreamPath } from '../router/rewrite.js';
import { applyToList } from '../http/header-policy.js';
import { decorateEdgeAnswer, type ResponsePolicy } from '../http/response-policy.js';
import { answerAtEdge } from './edge-answer.js';
import { evaluateLimits, type LimitVerdict } from '../policy/rate-limit.js';
import { beginAttempt, endAttempt, pick, observeResult, tryAcquire, release } from '../upstream/pool.js';
import { hashKeyOf } from '../upstream/hash-key.js';
import type { TargetState } from '../upstream/target-state.js';
import { decideRetry, retryAllowed } from '../proxy/retry.js';
import { ClientGoneError, RequestBodyError, classifyUpstreamError, faultOf } from '../proxy/classify.js';
import { clientGone, sendAttempt, type AttemptRequest, type AttemptSink, type ClientRequest, type ClientResponse } from '../proxy/forward.js';
import { pickWeighted } from '../proxy/split.js';
import { sendUpgrade } from '../proxy/websocket.js';
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SnapshotHolder } from '../runtime/holder.js';
import type { CompiledRoute, PoolRuntime, RuntimeSnapshot } from '../runtime/snapshot.js';
import { sendError, toGatewayError } from './error-reply.js';
import { peerAddressOf, tlsSocketOf } from '../tls/peer.js';
import { closeIfRevoked } from '../identity/mtls.js';
import { withAuthHeaders, type ForwardAuth } from '../policy/forward-auth.js';
import { beginAttemptSpan, beginTrace, endAttemptSpan, endTrace, type RequestTrace, type Tracing } from '../telemetry/tracing.js';
import { sendDenial } from './forward-auth-reply.js';
import { tlsVersionOf } from '../tls/peer.js';

export interface PipelineDeps {
  readonly holder: SnapshotHolder;
  readonly clock: Clock;
  readonly random: Random;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly accessLog: AccessLog;
  /** True once shutdown began: h1 responses then carry `connection: close`. */
  readonly draining: () => boolean;
}


/**
 * Per-request state; one allocation. It is also the attempt's request and sink (proxy/forward.ts)
 * and the router's query, so a request allocates no option objects or callbacks for those.
 */
class Exchange implements AttemptRequest, AttemptSink, RouteQuery {
  route: CompiledRoute | undefined = undefined;
  routeName = 'none';
  /** Who is calling, as the console counts it (telemetry/identity-tally.ts); set once identity is known. */
  identityKey = 'anonymous';
  status = 0;
  bytes = 0;
  target: TargetState | undefined = undefined;
  pool: PoolRuntime | undefined = undefined;
  attempts = 0;
  tried: Set<TargetState> | undefined = undefined;
  upstreamHeaders: string[] = [];
  upstreamPath = '';
  /** RateLimit fields (and `connection: close` while draining); null when there are none. */
  extraResponseHeaders: Record<string, string> | null = null;
  /** The route's response policy (header policy, CORS, compression), or null. */
  responsePolicy: ResponsePolicy | null = null;
  hashKey = '';
  deadline = 0;
  attemptStart = 0;
  hasBody = false;
  /** Set once the request body was read to its end (a timeout before that is a slow upload: the client's). */
  bodyDone = false;
  /** The request path as received, without the query string (queries may carry secrets: never logged). */
  path = '';
  /** Set for an HTTP/1.1 WebSocket upgrade: the client socket and what it sent after the head. */
  upgrade: { readonly socket: Duplex; readonly head: Buffer } | undefined = undefined;
  // AttemptRequest
  origin = '';
  method: string;
  body: AsyncIterable<Uint8Array> | null = null;
  timeoutMs = 0;
  bodyTimeoutMs = 0;
  // RouteQuery
  host = '';
  /** The request's raw header list, taken once. */
  raw: readonly string[] = [];
  /** The connection's peer (PROXY protocol source or socket address): what x-forwarded-for appends. */
  peer = '';
  /** The client address (http/client-address.ts): limits, hashing, ipAccess and the access log. */
  client = '';
  /** The negotiated TLS version (the access log's `tls`), read while the socket is surely there. */
  tls: string | undefined = undefined;
  /** The request's trace when `tracing` is on (telemetry/tracing.ts); undefined when off. */
  trace: RequestTrace | undefined = undefined;
  /** The `traceparent` sent upstream (tracing off), for the access log's trace id. */
  traceparent = '';
  /** Where the `traceparent` value sits in upstreamHeaders when sampled (each attempt writes its span there). */
  traceparentAt = -1;
  /** What a passed forward auth adds to the upstream request (flat name/value list). */
  authHeaders: readonly string[] = NO_AUTH_HEADERS;

  constructor(
    readonly deps: PipelineDeps,
    readonly snap: RuntimeSnapshot,
    readonly req: ClientRequest,
    readonly res: ClientResponse,
    readonly h2: boolean,
    readonly requestId: string,
    readonly start: number,
  ) {
    this.method = req.method ?? 'GET';
  }

  /** RouteQuery: a request header by lower-case name. */
  header(name: string): string | undefined {
    return headerOf(this.req, name);
  }

  /** AttemptSink: may this status be forwarded, or should it be retried elsewhere? */
  acceptStatus(status: number): boolean {
    const spec = this.route?.retries;
    return spec === undefined || !retryAllowed({ outcome: 'http-5xx', status, attempt: this.attempts, spec, method: this.method, hasBody: this.hasBody });
  }

  /** AttemptSink: one attempt ended. */
  attemptDone(error: Error | null, headersSent: boolean, status: number, bytes: number): void {
    onAttemptDone(this, error, headersSent, status, bytes);
  }
}

const NO_AUTH_HEADERS: readonly string[] = [];

function headerOf(req: ClientRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Handles one request from any listener; never throws. */
export function handleRequest(deps: PipelineDeps, req: ClientRequest, res: ClientResponse): void {
  run(newExchange(deps, req, res));
}

/**
 * Handles an HTTP/1.1 Upgrade request (WebSocket) through the same pipeline; refusals are written to
 * the socket as ordinary JSON error responses.
 */
export function handleUpgrade(deps: PipelineDeps, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  socket.on('error', () => socket.destroy());
  // A refusal is a whole HTTP response on this socket; then the connection ends.
  res.on('finish', () => socket.end());
  const ex = newExchange(deps, req, res);
  // Only a real WebSocket handshake is passed through; any other Upgrade (h2c included) is served as
  // an ordinary request with Upgrade/Connection dropped as hop-by-hop. Its body would be unparsed: refuse.
  if (isWebSocketHandshake(req.method, req.headers)) ex.upgrade = { socket, head };
  else if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) {
    fail(ex, new GatewayError('BAD_REQUEST', 'Upgrade is only supported for WebSocket'));
    return;
  }
  run(ex);
}

function newExchange(deps: PipelineDeps, req: ClientRequest, res: ClientResponse): Exchange {
  const h2 = req.httpVersionMajor === 2;
  const incoming = headerOf(req, 'x-request-id');
  const requestId = acceptRequestId(incoming) ?? newRequestId(deps.random);
  return new Exchange(deps, deps.holder.current, req, res, h2, requestId, deps.clock.monotonic());
}

function run(ex: Exchange): void {
  try {
    const r = route(ex);
    if (r !== undefined) r.catch((err: unknown) => fail(ex, err));
  } catch (err) {
    fail(ex, err);
  }
}

function route(ex: Exchange): Promise<void> | undefined {
  const { req, snap, h2 } = ex;
  const socket = tlsSocketOf(req);
  ex.peer = clientIpOf(peerAddressOf(socket) ?? '');
  ex.client = clientAddressOf(ex.peer, headerOf(req, 'x-forwarded-for'), snap.isTrustedProxy);
  ex.tls = tlsVersionOf(socket);
  if (snap.tracing !== undefined) startTrace(ex, snap.tracing);
  // For HTTP/2 the compat `rawHeaders` getter builds a new array on every access: take it once.
  ex.raw = req.rawHeaders;
  if (h2) checkH2Headers(ex.raw, snap.limits.maxHeaderBytes);
  const url = req.url ?? '';
  if (url.length > snap.limits.maxRequestTargetBytes) throw new GatewayError('URI_TOO_LONG', `Request target exceeds ${snap.limits.maxRequestTargetBytes} bytes`);
  const headerProblem = checkRequestHeaders(ex.raw, h2, snap.limits.headers);
  if (headerProblem !== undefined) throw new GatewayError(headerProblem.code, headerProblem.message);
  if (url.charCodeAt(0) !== 47 /* '/' */) throw new GatewayError('BAD_REQUEST', 'Request target must be an absolute path');
  const { path: rawPath, query } = splitPathAndQuery(url);
  const path = normalizePath(rawPath);
  if (path === undefined) throw new GatewayError('BAD_REQUEST', 'Malformed or disallowed request path');
  const authority = (h2 ? headerOf(req, ':authority') : undefined) ?? headerOf(req, 'host') ?? '';
  ex.host = hostOnly(authority);
  ex.path = path; // the router reads the normalised path; the access log gets the raw one below
  const match: RouteMatch<CompiledRoute> | undefined = matchRoute(snap.routes, ex);
  ex.path = rawPath;
  if (match === undefined) throw new GatewayError('NO_ROUTE', 'No route matches this request');
  const rt = match.value;
  ex.route = rt;
  ex.routeName = rt.name;
  ex.responsePolicy = rt.response ?? null;
  // Client-address rules come before anything else the route asks (identity, limits).
  if (rt.ipAccess !== undefined && !rt.ipAccess(ex.client)) throw new GatewayError('FORBIDDEN', 'This client address may not use this route');
  if (rt.rewrite === undefined) ex.upstreamPath = upstreamPath(match, path) + query;
  else {
    const rewritten = rewritePath(rt.rewrite, path, normalizePath);
    if (rewritten === undefined) throw new GatewayError('BAD_REQUEST', 'The rewritten path is not a valid path');
    ex.upstreamPath = rewritten + query;
  }
  // Redirects and CORS preflights are answered here (issue 16).
  if (rt.redirect !== undefined || rt.cors !== undefined) {
    const answered = answerAtEdge(rt, snap, req, ex.res, ex.requestId, authority, path, query, ex.deps.draining());
    if (answered !== undefined) {
      ex.status = answered === 0 ? 499 : answered;
      finish(ex);
      return undefined;
    }
  }

  const contentLength = headerOf(req, 'content-length');
  if (contentLength !== undefined && Number(contentLength) > snap.limits.maxBodyBytes) {
    throw new GatewayError('PAYLOAD_TOO_LARGE', `Request body exceeds ${snap.limits.maxBodyBytes} bytes`);
  }
  ex.hasBody = h2
    ? !(req as Http2ServerRequest).stream.endAfterHeaders
    : (contentLength !== undefined && contentLength !== '0') || headerOf(req, 'transfer-encoding') !== undefined;

  let identity: Identity = ANONYMOUS;
  if (socket !== undefined) identity = snap.peerIdentity(socket);
  if (socket !== undefined && closeIfRevoked(req, socket)) throw new GatewayError('UNAUTHENTICATED', 'The client certificate was revoked; connection closed');
  if (rt.mtlsAllow !== undefined) {
    const verdict = rt.mtlsAllow(identity.spiffeId);
    if (verdict === 'unauthenticated') throw new GatewayError('UNAUTHENTICATED', 'A valid client certificate is required');
    if (verdict === 'forbidden') throw new GatewayError('FORBIDDEN', 'This identity may not use this route');
  }
  const clientIp = ex.client;
  if (rt.jwt !== undefined) {
    return rt.jwt.verify(headerOf(req, 'authorization')).then((claims) => {
      const withJwt: Identity = { ...identity, jwtClaims: claims };
      return afterIdentity(ex, withJwt, clientIp, authority, path);
    });
  }
  return afterIdentity(ex, identity, clientIp, authority, path);
}

function afterIdentity(ex: Exchange, identity: Identity, clientIp: string, authority: string, path: string, authorized = false): Promise<void> | undefined {
  const rt = ex.route as CompiledRoute;
  if (rt.forwardAuth !== undefined && !authorized) {
    return askForwardAuth(ex, rt.forwardAuth, identity, authority).then((pass) => (pass ? afterIdentity(ex, identity, clientIp, authority, path, true) : undefined));
  }
  if (identity !== ANONYMOUS) ex.identityKey = identityKey(identity);
  if (rt.limits !== undefined) {
    const ctx = { ip: clientIp, routeName: rt.name, identity, header: (n: string) => headerOf(ex.req, n) };
    const v = evaluateLimits(rt.limits, ctx, ex.snap.store, ex.deps.clock.now());
    if (v instanceof Promise) return v.then((verdict) => afterLimits(ex, verdict, identity, clientIp, authority, path));
    afterLimits(ex, v, identity, clientIp, authority, path);
    return undefined;
  }
  afterLimits(ex, undefined, identity, clientIp, authority, path);
  return undefined;
}

function afterLimits(ex: Exchange, verdict: LimitVerdict | undefined, identity: Identity, clientIp: string, authority: string, path: string): void {
  if (verdict !== undefined) {
    if (verdict.quotaRemaining !== undefined && verdict.quotaLimit !== undefined) {
      ex.deps.metrics.identities.observeQuota(ex.identityKey, ex.routeName, verdict.quotaRemaining, verdict.quotaLimit);
      if (verdict.quotaNear !== undefined) ex.deps.metrics.quotaWatch.observe(ex.routeName, verdict.quotaNear.key, verdict.quotaNear.windowEndMs);
    }
    ex.extraResponseHeaders = {
      'ratelimit-policy': verdict.policyHeader,
      ratelimit: verdict.rateLimitHeader,
    };
    if (verdict.error !== undefined) {
      ex.deps.metrics.rateLimitRejections.labels(ex.routeName, verdict.error.code === 'QUOTA_EXCEEDED' ? 'quota' : 'rate').inc();
      throw verdict.error;
    }
  }
  if (ex.deps.draining() && !ex.h2) (ex.extraResponseHeaders ??= {}).connection = 'close';
  const rt = ex.route as CompiledRoute;
  const entry = pickWeighted(rt.split, rt.totalWeight, ex.deps.random);
  ex.pool = entry.pool;
  if (entry.pool.hashBy !== undefined) {
    ex.hashKey = hashKeyOf(entry.pool.hashBy, {
      ip: clientIp,
      identity: identity.spiffeId,
      path,
      header: (n: string) => headerOf(ex.req, n),
      cookie: (n: string) => cookieOf(headerOf(ex.req, 'cookie'), n),
    });
  }
  ex.upstreamHeaders = buildUpstreamHeaders(ex, identity, authority, entry.hostRewrite ?? authority);
  if (rt.forwardAuth !== undefined) ex.upstreamHeaders = withAuthHeaders(ex.upstreamHeaders, rt.forwardAuth.config.responseHeaders, ex.authHeaders);
  if (ex.trace?.sampled === true) ex.traceparentAt = ex.upstreamHeaders.lastIndexOf('traceparent') + 1;
  ex.deadline = ex.start + rt.timeoutMs;
  if (rt.retries !== undefined) entry.pool.retryBudget.recordRequest(ex.deps.clock.now());
  attempt(ex);
}

/** RFC 9113 §8.2.2 and the header size limit, for HTTP/2 requests (h1 is checked by the parser). */
function checkH2Headers(raw: readonly string[], maxHeaderBytes: number): void {
  let size = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (h2ForbiddenHeader(name, value)) throw new GatewayError('BAD_REQUEST', `Connection-specific header "${name}" is not allowed in HTTP/2`);
    size += name.length + value.length + 32;
  }
  if (size > maxHeaderBytes) throw new GatewayError('HEADERS_TOO_LARGE', `Request headers exceed ${maxHeaderBytes} bytes`);
}

function hostOnly(authority: string): string {
  if (authority.charCodeAt(0) === 91 /* '[' */) {
    const end = authority.indexOf(']');
    return (end === -1 ? authority : authority.slice(0, end + 1)).toLowerCase();
  }
  const colon = authority.indexOf(':');
  return (colon === -1 ? authority : authority.slice(0, colon)).toLowerCase();
}

function cookieOf(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Headers we always replace ourselves, and `expect` (answered at the edge: see attempt()); any
 * client-sent copy is dropped.
 */
const REPLACED = new Set(['x-forwarded-client-cert', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id', 'traceparent', 'host', 'expect']);

function buildUpstreamHeaders(ex: Exchange, identity: Identity, authority: string, upstreamHost: string): string[] {
  const { req, snap, raw, h2, peer } = ex;
  const tokens = h2 ? undefined : connectionTokens(req.headers.connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const lower = h2 ? name : name.toLowerCase(); // HTTP/2 field names are lower case on the wire
    if (REPLACED.has(lower) || dropFromRequest(lower, snap.limits.headers)) continue;
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'te' && keepTe(raw[i + 1] as string)) out.push('te', 'trailers');
      continue;
    }
    if (tokens !== undefined && tokens.has(lower)) continue;
    out.push(name, raw[i + 1] as string);
  }
  // Header policy (global, then route) acts on the client's headers only: the gateway's own come after.
  const ops = ex.route?.requestHeaders;
  if (ops !== undefined) applyToList(out, ops);
  // The original authority goes upstream (like Envoy and HAProxy; nginx would send the target's),
  // unless the route or pool has a hostRewrite; x-forwarded-host keeps the original.
  if (authority !== '') out.push('host', upstreamHost, 'x-forwarded-host', authority);
  else if (upstreamHost !== '') out.push('host', upstreamHost);
  out.push(
    'x-forwarded-for',
    forwardedFor(headerOf(req, 'x-forwarded-for'), peer, snap.isTrustedProxy(peer)),
    'forwarded',
    forwardedHeader(headerOf(req, 'forwarded'), peer, authority, snap.isTrustedProxy(peer)),
    'x-forwarded-proto',
    'https',
    'x-request-id',
    ex.requestId,
    'traceparent',
    upstreamTraceparent(ex),
  );
  if (identity.spiffeId !== undefined && identity.certHash !== undefined) {
    out.push('x-forwarded-client-cert', formatXfcc({ by: snap.gatewayId, hash: identity.certHash, uri: identity.spiffeId }));
  }
  return out;
}

function attempt(ex: Exchange): void {
  // A client that already left gets no attempt (and holds no breaker slot or in-flight count).
  if (clientGone(ex.res)) throw new ClientGoneError();
  const pr = ex.pool as PoolRuntime;
  const now = ex.deps.clock.monotonic();
  const remaining = ex.deadline - now;
  if (remaining <= 0) throw new GatewayError('UPSTREAM_TIMEOUT', 'Upstream did not answer in time');
  const target = pick(pr.pool, ex.hashKey, ex.tried ?? NO_TARGETS, ex.deps.clock, ex.target);
  const dispatcher = pr.dispatchers.get(target.origin);
  if (dispatcher === undefined) throw new GatewayError('INTERNAL', 'No connection pool for target');
  if (!tryAcquire(pr.pool)) {
    throw new GatewayError('NO_HEALTHY_UPSTREAM', `Upstream "${pr.name}" is over its connection limits`, { headers: { 'retry-after': '1' } });
  }
  ex.target = target;
  ex.origin = target.origin;
  ex.attempts++;
  ex.attemptStart = now;
  beginAttempt(target);
  const retries = ex.route?.retries;
  // Whole milliseconds: node keeps one timer list per distinct duration, so a fractional `remaining`
  // (a new value on every request) would create and tear down a list and its queue entry each time.
  const whole = Math.ceil(remaining);
  ex.timeoutMs = retries !== undefined && retries.perTryTimeoutMs > 0 ? Math.min(retries.perTryTimeoutMs, whole) : whole;
  if (ex.traceparentAt > 0) {
    ex.upstreamHeaders[ex.traceparentAt] = beginAttemptSpan(ex.snap.tracing as Tracing, ex.trace as RequestTrace, ex.method, pr.name, target.url, ex.attempts);
  }
  if (ex.upgrade !== undefined) {
    sendUpgrade(dispatcher, ex.upgrade.socket, ex.upgrade.head, ex, ex);
    return;
  }
  if (ex.hasBody && ex.attempts === 1 && isExpectContinue(ex.req)) {
    // Expect: 100-continue is answered here, once the request is known to go upstream (never forwarded).
    (ex.res as ServerResponse).writeContinue();
  }
  ex.body = ex.hasBody ? limitedBody(ex, ex.req, ex.snap.limits.maxBodyBytes) : null;
  ex.bodyTimeoutMs = ex.snap.limits.idleTimeoutMs;
  sendAttempt(dispatcher, ex.res, ex, ex);
}

const NO_TARGETS: ReadonlySet<TargetState> = new Set();

function isExpectContinue(req: ClientRequest): boolean {
  const v = req.headers.expect;
  return typeof v === 'string' && v.toLowerCase() === '100-continue';
}

/**
 * One attempt ended. Releases what it held, judges it once (classify.ts: outcome, error, fault), feeds
 * only the upstream's failures back to the pool, then finishes or retries as retry.ts decides.
 */
function onAttemptDone(ex: Exchange, err: Error | null, headersSent: boolean, status: number, bytes: number): void {
  const pr = ex.pool as PoolRuntime;
  const target = ex.target as TargetState;
  endAttempt(target);
  release(pr.pool);
  const now = ex.deps.clock.monotonic();
  const gone = clientGone(ex.res);
  if (ex.trace?.attempt !== undefined) endAttemptSpan(ex.trace, status, err === null ? undefined : gone ? 'client-gone' : classifyUpstreamError(err).outcome);

  if (err === null) {
    const outcome = status >= 500 ? 'http-5xx' : 'ok';
    observeResult(pr.pool, target, outcome, now - ex.attemptStart, now);
    ex.deps.metrics.countUpstream(pr.name, target.url, outcome);
    ex.status = status;
    ex.bytes = bytes;
    finish(ex, undefined, undefined, now);
    return;
  }
  const failure = classifyUpstreamError(err);
  const fault = faultOf(failure.outcome, gone, failure.source, ex.hasBody && !ex.bodyDone);
  if (fault === 'upstream') observeResult(pr.pool, target, failure.outcome, now - ex.attemptStart, now);
  ex.deps.metrics.countUpstream(pr.name, target.url, fault === 'upstream' ? failure.outcome : fault);

  if (gone) {
    // The client left (before or during the response): nothing more to send, never retried.
    ex.status = 499;
    ex.bytes = bytes;
    finish(ex, undefined, 'CLIENT_GONE', now);
    return;
  }
  if (headersSent) {
    // Broken mid-response: the client saw a reset (h2 RST_STREAM, h1 connection closed); logged as cut.
    ex.status = status;
    ex.bytes = bytes;
    finish(ex, err, 'UPSTREAM_BODY_CUT', now);
    return;
  }
  const next = decideRetry(
    {
      outcome: failure.outcome,
      status: failure.outcome === 'http-5xx' ? status : undefined,
      attempt: ex.attempts,
      spec: ex.route?.retries,
      method: ex.method,
      hasBody: ex.hasBody,
      fault,
      clientGone: gone,
      nowMono: now,
      deadline: ex.deadline,
      budget: pr.retryBudget,
      nowWall: ex.deps.clock.now(),
    },
    failure.error,
  );
  if (next !== 'retry') {
    fail(ex, next);
    return;
  }
  (ex.tried ??= new Set()).add(target);
  try {
    attempt(ex);
  } catch (e) {
    fail(ex, e);
  }
}

/** Streams the request body, refusing more than `max` bytes. */
async function* limitedBody(ex: Exchange, req: ClientRequest, max: number): AsyncGenerator<Uint8Array> {
  let seen = 0;
  const chunks = (req as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let done = false;
  try {
    for (;;) {
      let r: IteratorResult<Buffer>;
      try {
        r = await chunks.next();
      } catch (err) {
        done = true;
        // The client broke its own body (reset, aborted upload): not the upstream's failure.
        throw new RequestBodyError('the request body could not be read', { cause: err });
      }
      if (r.done === true) break;
      seen += r.value.length;
      if (seen > max) throw new GatewayError('PAYLOAD_TOO_LARGE', `Request body exceeds ${max} bytes`);
      yield r.value;
    }
    done = true;
    ex.bodyDone = true;
  } finally {
    // Stopped early (over the limit, or the attempt ended): close the body as for-await would.
    if (!done) await chunks.return?.();
  }
}

function fail(ex: Exchange, err: unknown): void {
  if (clientGone(ex.res)) {
    ex.status = 499;
    finish(ex, undefined, 'CLIENT_GONE');
    return;
  }
  const gerr = err instanceof ClientGoneError || err instanceof RequestBodyError ? classifyUpstreamError(err).error : toGatewayError(err);
  const closeAfter = gerr.code === 'PAYLOAD_TOO_LARGE' || ex.deps.draining();
  const policy = ex.route?.response;
  const decorate =
    policy === undefined && ex.snap.responseHeaders === undefined ? undefined : (h: Record<string, string | string[]>) => decorateEdgeAnswer(h, policy, ex.snap.responseHeaders, headerOf(ex.req, 'origin'));
  const status = sendError(ex.res, gerr, ex.requestId, ex.extraResponseHeaders ?? undefined, closeAfter, decorate);
  if (status !== 0 && gerr.code === 'PAYLOAD_TOO_LARGE' && ex.h2) {
    // The h2 counterpart of `connection: close`: once the 413 is out, RST_STREAM(NO_ERROR) tells the
    // client to stop sending the rest of the body (RFC 9113 §8.1), which nobody will read.
    const stream = (ex.res as Http2ServerResponse).stream;
    ex.res.once('finish', () => {
      if (!stream.destroyed) stream.close(h2constants.NGHTTP2_NO_ERROR);
    });
  }
  ex.status = status === 0 ? 499 : status;
  finish(ex, gerr.code === 'INTERNAL' ? (gerr.cause ?? gerr) : undefined, gerr.code);
}

function finish(ex: Exchange, err?: unknown, code?: string, nowMono = ex.deps.clock.monotonic()): void {
  const seconds = (nowMono - ex.start) / 1000;
  ex.deps.metrics.countRequest(ex.routeName, ex.status, seconds);
  ex.deps.metrics.identities.count(ex.identityKey);
  const record: AccessRecord = {
    requestId: ex.requestId,
    route: ex.route === undefined ? null : ex.routeName,
    method: ex.req.method ?? '',
    path: ex.path === '' ? splitPathAndQuery(ex.req.url ?? '').path : ex.path,
    proto: ex.h2 ? 'h2' : 'http/1.1',
    client: ex.client,
    status: ex.status,
    durationMs: Math.round(seconds * 1e4) / 10,
    upstream: ex.pool?.name ?? null,
    target: ex.target?.url ?? null,
    attempts: ex.attempts,
    bytes: ex.bytes,
    code,
    err: err === undefined ? undefined : err instanceof Error ? { type: err.name, message: err.message, code: (err as { code?: unknown }).code } : String(err),
    identity: ex.identityKey,
    traceId: ex.trace !== undefined ? ex.trace.traceId : ex.traceparent === '' ? undefined : ex.traceparent.slice(3, 35),
    host: ex.host,
    tls: ex.tls,
    userAgent: headerOf(ex.req, 'user-agent'),
  };
  if (ex.trace !== undefined) endTrace(ex.trace, ex.route?.name, ex.status, code, record.path, ex.host);
  if (ex.status >= 500 && code === 'INTERNAL') ex.deps.logger.error({ msg: 'request', ...record });
  else ex.deps.accessLog(record);
}

/** The `traceparent` for the upstream: continued as before when tracing is off; the trace's own when on. */
function upstreamTraceparent(ex: Exchange): string {
  const t = ex.trace;
  if (t === undefined) return (ex.traceparent = continueTraceparent(headerOf(ex.req, 'traceparent'), ex.deps.random));
  // Sampled: each attempt writes its CLIENT span's id here (attempt()).
  return t.unsampledHeader;
}

function startTrace(ex: Exchange, tracing: Tracing): void {
  ex.trace = beginTrace(tracing, headerOf(ex.req, 'traceparent'), ex.deps.random, {
    method: ex.method,
    client: ex.client,
    userAgent: headerOf(ex.req, 'user-agent'),
    h2: ex.h2,
    requestId: ex.requestId,
  });
}

/**
 * Asks the route's auth service (policy/forward-auth.ts). Resolves true to go on (with `authHeaders`
 * set); false when the denial was sent and the request finished; rejects with AUTH_UNAVAILABLE.
 */
function askForwardAuth(ex: Exchange, fa: ForwardAuth, identity: Identity, authority: string): Promise<boolean> {
  const sub = identity.jwtClaims?.sub;
  return fa
    .check({
      method: ex.method,
      uri: ex.req.url ?? '',
      host: authority,
      client: ex.client,
      xfcc: identity.spiffeId !== undefined && identity.certHash !== undefined ? formatXfcc({ by: ex.snap.gatewayId, hash: identity.certHash, uri: identity.spiffeId }) : undefined,
      jwtSub: typeof sub === 'string' ? sub : undefined,
      requestId: ex.requestId,
      traceparent: ex.trace === undefined ? undefined : authTraceparent(ex.trace),
      header: (n) => headerOf(ex.req, n),
    })
    .then((verdict) => {
      if (verdict.pass) {
        ex.authHeaders = verdict.headers;
        return true;
      }
      if (ex.deps.draining() && !ex.h2) (ex.extraResponseHeaders ??= {}).connection = 'close';
      const status = sendDenial(ex.res, verdict, ex.requestId, ex.extraResponseHeaders);
      ex.status = status === 0 ? 499 : status;
      finish(ex, undefined, undefined);
      return false;
    });
}

/** The auth request continues the request's trace (as a child of its SERVER span when sampled). */
function authTraceparent(t: RequestTrace): string {
  const server = t.server;
  return server === undefined ? t.unsampledHeader : `00-${t.traceId}-${server.spanContext().spanId}-01`;
}
