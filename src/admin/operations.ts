/**
 * Admin operations beyond SPEC §5 (docs/admin.md): runtime overrides and quota lookups.
 *
 *   GET    /overrides                                   every override in force
 *   POST   /overrides/targets  {upstream, target, state: drain|healthy|unhealthy, reason?}
 *   DELETE /overrides/targets?upstream=U&target=T
 *   POST   /overrides/tiers    {upstream, tier: primary|backup, reason?}
 *   DELETE /overrides/tiers?upstream=U
 *   GET    /quotas?key=K[&route=R]                      quota use of a key, without counting
 *
 * State-changing requests pass app.ts's guards first (Host, cross-origin, bearer token).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import { compileLimitPolicy } from '../policy/rate-limit.js';
import { limitKeyFor } from '../policy/limit-key.js';
import { OverrideRefused, type OverrideActor, type TargetAdminState } from '../runtime/overrides.js';
import type { GatewayView } from '../runtime/view.js';
import { quotaWindow } from '../store/quota-window.js';
import { StoreUnavailableError } from '../store/counter-store.js';
import { adminError } from './error.js';

/** The admin's JSON error shape (the public one without a request id). */

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}

function refused(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof OverrideRefused) return adminError(reply, err.status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', err.message);
  throw err;
}

/**
 * Registers the override and quota endpoints. `actor` says who is asking (client address, and whether
 * the admin token was required and presented).
 */
export function registerOperations(app: FastifyInstance, gw: GatewayView, opts: { clock: Clock; actor: (req: FastifyRequest) => OverrideActor }): void {
  const unavailable = (reply: FastifyReply): FastifyReply => adminError(reply, 'NOT_FOUND', 'runtime overrides are not available in this process');

  app.get('/overrides', async (_req, reply) => {
    if (gw.overrides === undefined) return unavailable(reply);
    return reply.header('cache-control', 'no-store').send({ overrides: gw.overrides.list() });
  });

  app.post('/overrides/targets', async (req, reply) => {
    const ov = gw.overrides;
    if (ov === undefined) return unavailable(reply);
    const upstream = str(field(req.body, 'upstream'));
    const target = str(field(req.body, 'target'));
    const state = str(field(req.body, 'state'));
    const reason = field(req.body, 'reason');
    if (upstream === undefined || target === undefined || state === undefined) {
      return adminError(reply, 'BAD_REQUEST', 'body must be JSON {"upstream": "…", "target": "<url or host:port>", "state": "drain|healthy|unhealthy"}');
    }
    if (reason !== undefined && typeof reason !== 'string') return adminError(reply, 'BAD_REQUEST', 'reason must be a string');
    try {
      return reply.send({ override: ov.setTarget(upstream, target, state as TargetAdminState, opts.actor(req), reason) });
    } catch (err) {
      return refused(reply, err);
    }
  });

  app.delete('/overrides/targets', async (req, reply) => {
    const ov = gw.overrides;
    if (ov === undefined) return unavailable(reply);
    const q = req.query as Record<string, unknown>;
    const upstream = str(q.upstream);
    const target = str(q.target);
    if (upstream === undefined || target === undefined) return adminError(reply, 'BAD_REQUEST', 'query must name upstream and target');
    const cleared = ov.clearTarget(upstream, target, opts.actor(req));
    if (cleared === undefined) return adminError(reply, 'NOT_FOUND', `no override on target "${target}" of upstream "${upstream}"`);
    return reply.send({ cleared });
  });

  app.post('/overrides/tiers', async (req, reply) => {
    const ov = gw.overrides;
    if (ov === undefined) return unavailable(reply);
    const upstream = str(field(req.body, 'upstream'));
    const tier = str(field(req.body, 'tier'));
    const reason = field(req.body, 'reason');
    if (upstream === undefined || tier === undefined) return adminError(reply, 'BAD_REQUEST', 'body must be JSON {"upstream": "…", "tier": "primary|backup"}');
    if (reason !== undefined && typeof reason !== 'string') return adminError(reply, 'BAD_REQUEST', 'reason must be a string');
    try {
      return reply.send({ override: ov.setTier(upstream, tier as 'primary' | 'backup', opts.actor(req), reason) });
    } catch (err) {
      return refused(reply, err);
    }
  });

  app.delete('/overrides/tiers', async (req, reply) => {
    const ov = gw.overrides;
    if (ov === undefined) return unavailable(reply);
    const upstream = str((req.query as Record<string, unknown>).upstream);
    if (upstream === undefined) return adminError(reply, 'BAD_REQUEST', 'query must name upstream');
    const cleared = ov.clearTier(upstream, opts.actor(req));
    if (cleared === undefined) return adminError(reply, 'NOT_FOUND', `no forced tier on upstream "${upstream}"`);
    return reply.send({ cleared });
  });

  app.get('/quotas', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const key = str(q.key);
    const routeName = str(q.route);
    if (key === undefined) return adminError(reply, 'BAD_REQUEST', 'query must name key (an IP, SPIFFE id, header or claim value, as the route\'s quota.by counts it)');
    if (key.length > 1024) return adminError(reply, 'BAD_REQUEST', 'key is too long');
    const routes = gw.spec.routes.filter((r) => routeName === undefined || r.name === routeName);
    if (routeName !== undefined && routes.length === 0) return adminError(reply, 'NOT_FOUND', `no route "${routeName}"`);
    const withQuota = routes.filter((r) => r.quota !== undefined);
    if (routeName !== undefined && withQuota.length === 0) return adminError(reply, 'NOT_FOUND', `route "${routeName}" has no quota`);
    const store = gw.holder.current.store;
    const now = opts.clock.now(); // quota windows are UTC wall-clock windows
    const quotas = [];
    try {
      for (const r of withQuota) {
        const part = compileLimitPolicy(r.name, undefined, r.quota)?.quota;
        if (part === undefined) continue;
        const window = quotaWindow(now, part.per);
        const clientKey = limitKeyFor(r.quota?.by ?? 'ip', key);
        const counted = store.peekQuota === undefined ? 0 : await store.peekQuota(part.prefix + clientKey, window, now);
        const used = Math.min(counted, part.limit);
        quotas.push({
          route: r.name,
          by: r.quota?.by,
          key: clientKey,
          used,
          limit: part.limit,
          remaining: part.limit - used,
          percent: Math.round((used / part.limit) * 1000) / 10,
          per: part.per,
          windowStart: new Date(window.startMs).toISOString(),
          resetAt: new Date(window.endMs).toISOString(),
          resetSeconds: Math.ceil((window.endMs - now) / 1000),
        });
      }
    } catch (err) {
      if (err instanceof StoreUnavailableError || (err instanceof GatewayError && err.code === 'STORE_UNAVAILABLE')) {
        return adminError(reply, 'STORE_UNAVAILABLE', 'the counter store did not answer');
      }
      throw err;
    }
    return reply.header('cache-control', 'no-store').send({ key, at: new Date(now).toISOString(), quotas });
  });
}
