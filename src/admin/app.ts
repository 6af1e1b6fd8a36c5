/** The admin listener (loopback by default): health, readiness, metrics, status, reload, dashboard. */
import Fastify from 'fastify';
import type { Clock } from '../core/clock.js';
import { codeForClientStatus } from '../core/errors.js';
import type { AdminServer, GatewayView } from '../runtime/view.js';
import { buildStatus } from './status.js';
import { clusterMetrics, clusterStatus, refreshScrapeGauges } from './cluster-report.js';
import { createConsoleSampler } from './console-sampler.js';
import { buildConsoleModel } from './console-model.js';
import { CONSOLE_CSP, renderConsoleBody, renderConsolePage } from './console-page.js';
import { registerConfigView } from './config-view.js';
import { compileAdminHostPolicy, crossOriginRefusal, isAdminHostAllowed } from './guard.js';
import { bearerMatches, resolveAdminToken } from './auth.js';
import { registerOperations } from './operations.js';
import { adminError } from './error.js';

export type AdminApp = AdminServer;

function isStateChanging(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

/**
 * Starts the admin API for `gw` on host:port (0 = ephemeral). Every request must name a loopback
 * host, `host` or one of `allowedHosts` (else 403 FORBIDDEN: DNS rebinding), and a state-changing one
 * must not come from another origin (else 403 FORBIDDEN: CSRF; see admin/guard.ts) and, when a token is
 * configured, must carry it (else 401 UNAUTHENTICATED; see admin/auth.ts). Rejects, without listening,
 * when `host` is not loopback and no token is configured, or the token file cannot be read.
 */
export async function createAdminApp(
  gw: GatewayView,
  opts: {
    host: string;
    port: number;
    clock: Clock;
    allowedHosts?: readonly string[];
    token?: string;
    tokenFile?: string;
    env?: Readonly<Record<string, string | undefined>>;
  },
): Promise<AdminApp> {
  const token = resolveAdminToken(opts.host, { token: opts.token, tokenFile: opts.tokenFile, env: opts.env });
  // Admin bodies are small JSON documents.
  const app = Fastify({ logger: false, return503OnClosing: false, bodyLimit: 64 * 1024 });
  const hosts = compileAdminHostPolicy(opts.host, opts.allowedHosts);
  // Fastify's own refusals (bad JSON, unsupported media type, body too large) in the admin's JSON shape.
  app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    const code = status === 500 ? 'INTERNAL' : codeForClientStatus(status);
    return adminError(reply, code, status === 500 ? 'Internal error' : err.message, { status });
  });
  app.addHook('onRequest', async (req, reply) => {
    const h = req.headers;
    if (!isAdminHostAllowed(hosts, h.host)) {
      return adminError(reply, 'FORBIDDEN', 'Host not allowed on the admin API');
    }
    const why = crossOriginRefusal(req.method, {
      origin: h.origin,
      'sec-fetch-site': typeof h['sec-fetch-site'] === 'string' ? h['sec-fetch-site'] : undefined,
      'content-type': h['content-type'],
      host: h.host,
    });
    if (why !== undefined) {
      return adminError(reply, 'FORBIDDEN', `Cross-origin request refused (${why})`);
    }
    if (token !== undefined && isStateChanging(req.method) && !bearerMatches(token, h.authorization)) {
      return adminError(reply, 'UNAUTHENTICATED', 'This admin request needs the admin bearer token', { headers: { 'www-authenticate': 'Bearer realm="tollgate-admin"' } });
    }
    return undefined;
  });
  app.get('/healthz', async (_req, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (gw.draining) return reply.code(503).send({ status: 'draining' });
    return reply.send({ status: 'ready', configHash: gw.holder.current.configHash });
  });
  app.get('/metrics', async (_req, reply) => {
    if (gw.cluster !== undefined) {
      // A worker of a group: every worker's registry, summed (admin/cluster-report.ts).
      const { reports, missing } = await gw.cluster.gather();
      const { contentType, text } = await clusterMetrics(reports, missing);
      return reply.header('content-type', contentType).send(text);
    }
    refreshScrapeGauges(gw, opts.clock);
    reply.header('content-type', gw.metrics.registry.contentType);
    return reply.send(await gw.metrics.registry.metrics());
  });
  app.get('/status', async (_req, reply) => {
    if (gw.cluster === undefined) return reply.send(buildStatus(gw, opts.clock));
    const { reports, missing } = await gw.cluster.gather();
    return reply.send(clusterStatus(reports, missing, gw.cluster.workers));
  });
  registerConfigView(app, gw);
  registerOperations(app, gw, {
    clock: opts.clock,
    // Past the hook above, a state-changing request carried the token whenever one is configured.
    actor: (req) => ({ address: req.socket.remoteAddress ?? 'unknown', auth: token === undefined ? 'none' : 'token' }),
  });
  app.post('/reload', async (_req, reply) => {
    const result = await gw.reload();
    return reply.code(result.result === 'success' ? 200 : 422).send(result);
  });
  // The live console (admin/console-*.ts): server-rendered, so it reads with JavaScript off.
  const sampler = createConsoleSampler(gw, opts.clock);
  app.addHook('onClose', async () => sampler.close());
  const html = (reply: { header(k: string, v: string): unknown }): void => {
    reply.header('content-type', 'text/html; charset=utf-8');
    reply.header('cache-control', 'no-store');
    reply.header('content-security-policy', CONSOLE_CSP);
    reply.header('x-content-type-options', 'nosniff');
  };
  // The page polls about as often as the sampler records, within 1–5 s.
  const refreshMs = (): number => Math.min(5000, Math.max(1000, sampler.intervalMs));
  app.get('/', async (_req, reply) => {
    html(reply);
    return reply.send(renderConsolePage(buildConsoleModel(gw, opts.clock, sampler), refreshMs()));
  });
  app.get('/console.fragment', async (_req, reply) => {
    html(reply);
    return reply.send(renderConsoleBody(buildConsoleModel(gw, opts.clock, sampler)));
  });
  app.get('/console.json', async (_req, reply) => reply.header('cache-control', 'no-store').send(buildConsoleModel(gw, opts.clock, sampler)));
  await app.listen({ host: opts.host, port: opts.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
  return { port, close: () => app.close() };
}
