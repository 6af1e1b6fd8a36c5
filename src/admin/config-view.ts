/** Admin `GET /config`: the running spec, for `tollgate check --diff`. Secrets in URLs are redacted. */
import type { FastifyInstance } from 'fastify';
import type { GatewayView } from '../runtime/view.js';
import type { GatewaySpec } from '../spec/schema.js';

/** The spec with any password in the Redis URL, and the admin token, replaced by `***`. */
export function redactSpec(spec: GatewaySpec): GatewaySpec {
  let url = spec.store.redis.url;
  try {
    const u = new URL(url);
    if (u.password !== '') {
      u.password = '***';
      url = u.toString();
    }
  } catch {
    // not a URL: left as written
  }
  // The admin token is a secret: only whether one is set is shown.
  const admin = spec.admin.token === undefined ? spec.admin : { ...spec.admin, token: '***' };
  return { ...spec, admin, store: { ...spec.store, redis: { ...spec.store.redis, url } } };
}

export function registerConfigView(app: FastifyInstance, gw: GatewayView): void {
  app.get('/config', async (_req, reply) => reply.send({ configHash: gw.holder.current.configHash, spec: redactSpec(gw.spec) }));
}
