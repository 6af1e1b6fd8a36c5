/**
 * The CA API (SPEC §4), a fastify plugin mounted on the public listener:
 *
 *   GET  {prefix}/roots  PEM trust anchors
 *   POST {prefix}/sign   { csr, ttl? } with a one-time bearer token, or a client certificate this CA
 *                        issued for the same identity (renewal) → 201 { certificate, chain, serial, notAfter }
 *   GET  {prefix}/crl    { revoked: [{ serial, reason, revokedAt }] }
 *
 * Anything else under the prefix is answered here too (404/405), so the CA's path space is never
 * proxied. The plugin renders its own errors in the SPEC §3 shape so it works without the server's
 * error handler (and under fastify.inject).
 */
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, RawServerBase, RouteGenericInterface } from 'fastify';

/** A request on any fastify server flavour (http, https, http2). */
export type AnyFastifyRequest = FastifyRequest<RouteGenericInterface, RawServerBase>;
type AnyFastifyReply = FastifyReply<RouteGenericInterface, RawServerBase>;
import type { Clock } from '../core/clock.js';
import { parseDuration } from '../core/duration.js';
import { DEFAULT_MESSAGE, errorBody, GatewayError } from '../core/errors.js';
import type { ErrorCode } from '../core/errors.js';
import type { Identity } from '../core/types.js';
import { bearerToken } from '../identity/jwt.js';
import { CaError, type Authority } from './authority.js';
import { parseCsr } from './requests.js';
import { CaStateWriteError } from './store.js';
import { clientIpOf } from '../http/forwarded.js';
import { peerAddressOf, tlsSocketOf } from '../tls/peer.js';

/** What the CA API needs from the gateway. */
export interface CaApiDeps {
  readonly authority: Authority;
  /** `ca.api.pathPrefix`, e.g. "/.well-known/tollgate/ca" (no trailing slash). */
  readonly pathPrefix: string;
  readonly trustDomain: string;
  readonly maxTTLMs: number;
  readonly defaultTTLMs: number;
  readonly clock: Clock;
  /** The identity of the request's verified, unrevoked client certificate (ANONYMOUS when none). */
  peerIdentity(req: AnyFastifyRequest): Identity;
  /** Called after each issued certificate (for `tollgate_ca_certificates_issued_total`). */
  onIssued?(): void;
  /** `ca.renewal`: renewal by certificate only in the last `window` of its lifetime, at most `maxPerHour` per identity. */
  readonly renewal?: { readonly window: number; readonly maxPerHour: number };
  /** One call per CA API request, answered (the access log line, route "ca"). */
  onRequest?(record: CaRequestRecord): void;
  /** Where the cause of a 500, or of a 503 CA_UNAVAILABLE (state not written), goes. */
  onFailure?(err: unknown, requestId: string): void;
}

/** What the access log gets for one CA API request. */
export interface CaRequestRecord {
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly proto: 'h2' | 'http/1.1';
  /** The connection's client address (the PROXY protocol source when there is one). */
  readonly client: string;
  readonly status: number;
  readonly code: string | undefined;
  readonly durationMs: number;
}

/** Renewals per identity in the last hour (timestamps), bounded in identities. */
export class RenewalLimiter {
  readonly #seen = new Map<string, number[]>();
  constructor(
    private readonly maxPerHour: number,
    private readonly maxIds = 10_000,
  ) {}
  /** Records a renewal of `id` at `nowMs`; false (nothing recorded) when the hour's budget is used. */
  take(id: string, nowMs: number): boolean {
    const recent = (this.#seen.get(id) ?? []).filter((t) => nowMs - t < 3_600_000);
    if (recent.length >= this.maxPerHour) {
      this.#seen.set(id, recent);
      return false;
    }
    recent.push(nowMs);
    this.#seen.delete(id);
    this.#seen.set(id, recent);
    if (this.#seen.size > this.maxIds) this.#seen.delete(this.#seen.keys().next().value as string);
    return true;
  }
}

const errorCodes = new WeakMap<object, string>();

/** The 201 body of POST /sign. `chain` is the leaf followed by the intermediate: what to present. */
export interface SignResponse {
  readonly certificate: string;
  readonly chain: string;
  readonly serial: string;
  readonly notAfter: string;
}

const BODY_LIMIT = 64 * 1024;
/** Retry-After of a CA_UNAVAILABLE caused by storage: a full disk is not freed in a second. */
const CA_RETRY_AFTER_S = 30;

/** Who may get a certificate, and with which extra names. */
interface Grant {
  readonly spiffeId: string;
  readonly dns: ReadonlySet<string>;
  readonly ip: ReadonlySet<string>;
  /** Present for bootstrap tokens: consumed once the request is otherwise valid. */
  readonly token?: { readonly jti: string; readonly expMs: number };
}

function requestIdOf(req: AnyFastifyRequest, reply: AnyFastifyReply): string {
  const existing = reply.getHeader('x-request-id');
  if (typeof existing === 'string') return existing;
  reply.header('x-request-id', req.id);
  return String(req.id);
}

function sendError(req: AnyFastifyRequest, reply: AnyFastifyReply, code: ErrorCode, status: number, message: string, headers?: Readonly<Record<string, string>>): AnyFastifyReply {
  const requestId = requestIdOf(req, reply);
  errorCodes.set(reply, code);
  if (headers) reply.headers(headers);
  return reply.code(status).type('application/json').send(errorBody(code, message, requestId));
}

/** The CA's own errors at the HTTP edge: what the caller did wrong, never a 500. */
const CA_ERROR_STATUS: Record<CaError['code'], { code: ErrorCode; status: number }> = {
  INVALID: { code: 'BAD_REQUEST', status: 400 },
  MISMATCH: { code: 'BAD_REQUEST', status: 400 },
  NOT_FOUND: { code: 'NO_ROUTE', status: 404 },
  EXISTS: { code: 'TOKEN_REUSED', status: 409 },
};

/** Maps fastify's own errors (bad JSON, too large, unsupported type) and ours onto the SPEC shape. */
function handleError(deps: CaApiDeps, err: FastifyError | GatewayError | Error, req: AnyFastifyRequest, reply: AnyFastifyReply): AnyFastifyReply {
  if (err instanceof GatewayError) return sendError(req, reply, err.code, err.status, err.message, err.headers);
  if (err instanceof CaError) {
    const m = CA_ERROR_STATUS[err.code];
    return sendError(req, reply, m.code, m.status, err.message);
  }
  if (err instanceof CaStateWriteError) {
    // Disk full and the like: not a bug, and nothing half-written; the caller may retry later.
    deps.onFailure?.(err, requestIdOf(req, reply));
    return sendError(req, reply, 'CA_UNAVAILABLE', 503, DEFAULT_MESSAGE.CA_UNAVAILABLE, { 'retry-after': String(CA_RETRY_AFTER_S) });
  }
  const status = (err as FastifyError).statusCode;
  if (status === 413) return sendError(req, reply, 'PAYLOAD_TOO_LARGE', 413, 'The request body is too large');
  if (status === 415) return sendError(req, reply, 'BAD_REQUEST', 400, 'The CA API expects application/json');
  if (status !== undefined && status >= 400 && status < 500) return sendError(req, reply, 'BAD_REQUEST', 400, 'The request is malformed');
  deps.onFailure?.(err, requestIdOf(req, reply));
  return sendError(req, reply, 'INTERNAL', 500, 'Internal error');
}

async function authenticate(req: AnyFastifyRequest, deps: CaApiDeps): Promise<Grant> {
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const claims = await deps.authority.verifyToken(bearerToken(authorization));
    // A bootstrap token names an identity only: extra DNS/IP names need `tollgate ca issue`.
    return { spiffeId: claims.sub, dns: new Set(), ip: new Set(), token: { jti: claims.jti, expMs: claims.expMs } };
  }
  const peer = deps.peerIdentity(req);
  if (peer.spiffeId === undefined || peer.certHash === undefined) {
    throw new GatewayError('UNAUTHENTICATED', 'A bearer token or a valid client certificate is required', {
      headers: { 'www-authenticate': 'Bearer' },
    });
  }
  // Only certificates this CA issued renew here: a client CA trusted through tls.clientCAs must not
  // be able to mint identities of the built-in CA.
  const record = await deps.authority.findIssuedByHash(peer.certHash);
  if (record === undefined || record.spiffeId !== peer.spiffeId || deps.authority.isRevoked(record.serial)) {
    throw new GatewayError('UNAUTHENTICATED', 'The client certificate was not issued by this CA');
  }
  if (deps.renewal !== undefined) {
    const now = deps.clock.now();
    const notBefore = Date.parse(record.notBefore);
    const notAfter = Date.parse(record.notAfter);
    const opensAt = notAfter - (notAfter - notBefore) * deps.renewal.window;
    if (now < opensAt) {
      throw new GatewayError('FORBIDDEN', `Too early to renew: renewal opens at ${new Date(opensAt).toISOString()} (the last ${Math.round(deps.renewal.window * 100)}% of the certificate's lifetime)`);
    }
    if (!renewalLimiter(deps, deps.renewal.maxPerHour).take(record.spiffeId, now)) {
      throw new GatewayError('RATE_LIMITED', `Too many renewals for ${record.spiffeId}: at most ${deps.renewal.maxPerHour} per hour`, { headers: { 'retry-after': '3600' } });
    }
  }
  return { spiffeId: record.spiffeId, dns: new Set(record.dns), ip: new Set(record.ip) };
}

const limiters = new WeakMap<CaApiDeps, RenewalLimiter>();
function renewalLimiter(deps: CaApiDeps, maxPerHour: number): RenewalLimiter {
  let l = limiters.get(deps);
  if (l === undefined) limiters.set(deps, (l = new RenewalLimiter(maxPerHour)));
  return l;
}

function requestedTtl(raw: unknown, deps: CaApiDeps): number {
  if (raw === undefined || raw === null) return Math.min(deps.defaultTTLMs, deps.maxTTLMs);
  const ms = typeof raw === 'string' ? parseDuration(raw) : undefined;
  if (ms === undefined || ms <= 0) throw new GatewayError('BAD_REQUEST', '"ttl" must be a duration like "24h"');
  if (ms > deps.maxTTLMs) throw new GatewayError('FORBIDDEN', 'The requested ttl is over the CA maximum');
  return ms;
}

/** Builds the CA API plugin. Register it on the public listener's fastify instance without a prefix. */
export function caApiPlugin(deps: CaApiDeps): FastifyPluginAsync<Record<never, never>, RawServerBase> {
  const prefix = deps.pathPrefix.replace(/\/+$/, '');
  return async function caApi(app: FastifyInstance<RawServerBase>): Promise<void> {
    // Encapsulated: these parsers and this error handler apply to the CA routes only.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch {
        done(new GatewayError('BAD_REQUEST', 'The body is not valid JSON'), undefined);
      }
    });
    app.setErrorHandler((err: FastifyError | GatewayError | Error, req: AnyFastifyRequest, reply: AnyFastifyReply) => {
      return handleError(deps, err, req, reply);
    });
    const started = new WeakMap<object, number>();
    app.addHook('onRequest', async (req) => {
      started.set(req, deps.clock.now());
    });
    app.addHook('onResponse', async (req, reply) => {
      const url = req.raw.url ?? '';
      const q = url.indexOf('?');
      deps.onRequest?.({
        requestId: String(reply.getHeader('x-request-id') ?? req.id),
        method: req.method,
        path: q === -1 ? url : url.slice(0, q),
        proto: req.raw.httpVersion === '2.0' ? 'h2' : 'http/1.1',
        client: clientIpOf(peerAddressOf(tlsSocketOf(req.raw)) ?? req.ip),
        status: reply.statusCode,
        code: errorCodes.get(reply),
        durationMs: deps.clock.now() - (started.get(req) ?? deps.clock.now()),
      });
    });
    // No setNotFoundHandler: without a register prefix it would claim the whole server's 404 handler.
    // The `${prefix}/*` route at the end answers unknown CA paths (404/405) instead.

    app.get(`${prefix}/roots`, async (req, reply) => {
      requestIdOf(req, reply);
      return reply.type('application/pem-certificate-chain').header('cache-control', 'no-cache').send(deps.authority.rootPem);
    });

    app.get(`${prefix}/crl`, async (req, reply) => {
      requestIdOf(req, reply);
      return reply.header('cache-control', 'no-cache').send({ revoked: deps.authority.revocations() });
    });

    app.post(`${prefix}/sign`, { bodyLimit: BODY_LIMIT }, async (req, reply) => {
      const grant = await authenticate(req, deps);
      const body = req.body;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        throw new GatewayError('BAD_CSR', 'The request body must be JSON like {"csr": "<PEM>", "ttl": "24h"}');
      }
      const { csr: csrPem, ttl } = body as { csr?: unknown; ttl?: unknown };
      const csr = await parseCsr(csrPem, deps.trustDomain);
      if (csr.spiffeId !== grant.spiffeId) {
        throw new GatewayError('FORBIDDEN', `The CSR names ${csr.spiffeId}, but the credentials are for ${grant.spiffeId}`);
      }
      const extra = [...csr.dns.filter((d) => !grant.dns.has(d)), ...csr.ip.filter((i) => !grant.ip.has(i))];
      if (extra.length > 0) throw new GatewayError('FORBIDDEN', `The CSR asks for names the credentials do not cover: ${extra.join(', ')}`);
      const ttlMs = requestedTtl(ttl, deps);
      // A token is spent together with the record of the certificate it bought (atomically, in any replica).
      const issued = await deps.authority.issue({ id: csr.spiffeId, dns: csr.dns, ip: csr.ip, ttlMs, publicKey: csr.publicKeyDer, token: grant.token });
      deps.onIssued?.();
      requestIdOf(req, reply);
      const res: SignResponse = {
        certificate: issued.certPem,
        chain: issued.chainPem,
        serial: issued.serial,
        notAfter: issued.notAfter.toISOString(),
      };
      return reply.code(201).header('cache-control', 'no-store').send(res);
    });

    const allowed: Record<string, string> = { roots: 'GET, HEAD', crl: 'GET, HEAD', sign: 'POST' };
    app.all(`${prefix}/*`, async (req, reply) => {
      const rest = (req.params as { '*': string })['*'];
      const allow = allowed[rest];
      if (allow === undefined) return sendError(req, reply, 'NO_ROUTE', 404, 'No such CA API endpoint');
      reply.header('allow', allow);
      return sendError(req, reply, 'METHOD_NOT_ALLOWED', 405, 'Method not allowed on this CA API endpoint');
    });
  };
}
