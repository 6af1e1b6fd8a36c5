/**
 * Wiring of the edge guard (policy/edge-guard.ts) into the gateway. New connections per IP are
 * limited in the listener (server/listener.ts `limitHandshakes`); this file holds the guard around
 * the CA API: failed attempts per client IP. Limits come from `limits.newConnectionsPerIp` and
 * `limits.caFailuresPerIp`.
 *
 * The CA API plugin (ca/http.ts) exposes no failure hook, so this wraps it from outside: the
 * wrapper is an encapsulating fastify plugin whose hooks apply to the CA routes only (the proxied
 * data path never enters fastify's routing). A refusal of a credential (401 UNAUTHENTICATED,
 * 403 FORBIDDEN, 409 TOKEN_REUSED) counts as a failure; once an IP has used up its failures it is
 * blocked for `blockSec` and every CA request from it gets 429 RATE_LIMITED. A malformed request
 * (400) is not counted: it guesses nothing.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { GatewayError, renderError, STATUS } from '../core/errors.js';
import type { EdgeGuard } from '../policy/edge-guard.js';
import { clientIpOf } from '../http/forwarded.js';
import { peerAddressOf, tlsSocketOf } from '../tls/peer.js';

/** The client's address as the guard counts it: the PROXY protocol source when there is one. */
function ipOf(req: { raw: Parameters<typeof tlsSocketOf>[0]; ip: string }): string {
  return clientIpOf(peerAddressOf(tlsSocketOf(req.raw)) ?? req.ip);
}

const CREDENTIAL_REFUSED: ReadonlySet<number> = new Set([STATUS.UNAUTHENTICATED, STATUS.FORBIDDEN, STATUS.TOKEN_REUSED]);

/** The fixed routes of the public app (the CA API) and their prefix. */
export interface FixedRoutes {
  readonly prefix: string;
  readonly plugin: FastifyPluginAsync;
}

/**
 * Wraps the CA API plugin so failed attempts are counted per IP and blocked IPs get 429 with
 * `Retry-After: retryAfterSec`. `onRefused` is called for every 429 (metrics).
 */
export function guardCaPlugin(fixed: FixedRoutes, guard: EdgeGuard, opts: { retryAfterSec: number; onRefused: () => void }): FixedRoutes;
export function guardCaPlugin(fixed: FixedRoutes | undefined, guard: EdgeGuard, opts: { retryAfterSec: number; onRefused: () => void }): FixedRoutes | undefined;
export function guardCaPlugin(fixed: FixedRoutes | undefined, guard: EdgeGuard, opts: { retryAfterSec: number; onRefused: () => void }): FixedRoutes | undefined {
  if (fixed === undefined) return undefined;
  const plugin: FastifyPluginAsync = async (app: FastifyInstance) => {
    app.addHook('onRequest', async (req, reply) => {
      if (!(await guard.caBlocked(ipOf(req)))) return;
      opts.onRefused();
      const err = new GatewayError('RATE_LIMITED', 'Too many failed CA requests from this address', { headers: { 'retry-after': String(opts.retryAfterSec) } });
      const r = renderError(err, String(req.id));
      await reply.code(r.status).headers(r.headers).send(r.body);
    });
    app.addHook('onResponse', async (req, reply) => {
      if (CREDENTIAL_REFUSED.has(reply.statusCode)) await guard.recordCaFailure(ipOf(req));
    });
    await app.register(fixed.plugin);
  };
  return { prefix: fixed.prefix, plugin };
}
