/** The admin listener (loopback by default): health, readiness, metrics, status, reload, dashboard. */
import Fastify from 'fastify';
import type { Clock } from '../core/clock.js';
import type { AdminServer, GatewayView } from '../runtime/view.js';
import { buildStatus } from './status.js';
import { DASHBOARD_HTML } from './dashboard.js';
import { registerConfigView } from './config-view.js';

export type AdminApp = AdminServer;

/** Starts the admin API for `gw` on host:port (0 = ephemeral); a `ServeAdmin` (runtime/view.ts). */
export async function createAdminApp(gw: GatewayView, opts: { host: string; port: number; clock: Clock }): Promise<AdminApp> {
  const app = Fastify({ logger: false, return503OnClosing: false });
  app.get('/healthz', async (_req, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (gw.draining) return reply.code(503).send({ status: 'draining' });
    return reply.send({ status: 'ready', configHash: gw.holder.current.configHash });
  });
  app.get('/metrics', async (_req, reply) => {
    const now = opts.clock.monotonic(); // ejections are on the monotonic clock
    for (const [name, pr] of gw.holder.current.pools) {
      for (const t of [...pr.pool.primaries, ...pr.pool.backups]) {
        gw.metrics.upstreamHealthy.labels(name, t.url).set(t.healthy && t.ejectedUntil <= now ? 1 : 0);
      }
    }
    const certs = gw.tls.certificates();
    for (const [name, c] of Object.entries(certs)) {
      if (c?.notAfter) gw.metrics.certificateExpiry.labels(name).set(Math.floor(Date.parse(c.notAfter) / 1000));
    }
    reply.header('content-type', gw.metrics.registry.contentType);
    return reply.send(await gw.metrics.registry.metrics());
  });
  app.get('/status', async (_req, reply) => reply.send(buildStatus(gw, opts.clock)));
  registerConfigView(app, gw);
  app.post('/reload', async (_req, reply) => {
    const result = await gw.reload();
    return reply.code(result.result === 'success' ? 200 : 422).send(result);
  });
  app.get('/', async (_req, reply) => reply.header('content-type', 'text/html; charset=utf-8').send(DASHBOARD_HTML));
  await app.listen({ host: opts.host, port: opts.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
  return { port, close: () => app.close() };
}
