/**
 * The gateway process: load → compile → listen; reload swaps snapshots; shutdown drains.
 * Signals are wired by the CLI (cli/commands/start.ts) so tests can run several gateways in one process.
 */
import type { Http2SecureServer } from 'node:http2';
import { dirname } from 'node:path';
import type { Server as HttpServer } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { AcmeManager } from './acme.js';
import { systemClock, type Clock } from '../core/clock.js';
import { systemRandom, type Random } from '../core/random.js';
import { durationMs } from '../core/duration.js';
import { loadConfigFile, type LoadedConfig } from '../config/load.js';
import { ConfigError, formatIssue } from '../config/validate.js';
import { pendingRestart as restartKeysChanged } from '../config/diff.js';
import type { GatewaySpec } from '../spec/schema.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { createMetrics, type Metrics } from '../telemetry/metrics.js';
import { createAccessLog } from '../telemetry/access-log.js';
import { createLineWriter } from '../telemetry/line-writer.js';
import { SnapshotHolder } from '../runtime/holder.js';
import type { PoolRuntime, RuntimeSnapshot } from '../runtime/snapshot.js';
import { createPublicApp, type PublicApp } from '../server/app.js';
import { applyListenerTls, limitHandshakes, listen, type ListenerLimits, type ListenerTls } from '../server/listener.js';
import { prepareReload, tlsChanged, type LiveConfig, type PreparedReload, type ReloadDeps } from './reload.js';
import type { Scheduler } from '../core/scheduler.js';
import { compileSnapshot } from './compile.js';
import { PoolRegistry } from './registries.js';
import type { AdminServer, ClusterView, ReloadResult, ServeAdmin } from '../runtime/view.js';
import { OverrideRegistry } from './overrides.js';
import type { OverrideRecord } from '../runtime/overrides.js';
import { SharedResources } from './resources.js';
import { createTlsSource, type TlsSource } from './tls-source.js';
import { createStoreFor, type ClusterStoreLink, type ManagedStore } from './store-factory.js';
import { createEdgeGuard, type EdgeGuard, type EdgeGuardOptions } from '../policy/edge-guard.js';
import { guardCaPlugin } from './edge-guard.js';
import type { Sampler } from '../server/overload.js';
import { createFront } from '../server/proxy-front.js';
import { acceptRequestId, newRequestId } from '../http/request-id.js';
import type { Server as NetServer } from 'node:net';

export type { ReloadResult } from '../runtime/view.js';

export interface GatewayOptions {
  readonly configPath: string;
  readonly logger?: Logger;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly dataPath?: 'direct' | 'fastify';
  /** Overrides for tests: listen on these ports instead of the config's (0 = ephemeral). */
  readonly ports?: { readonly public?: number; readonly admin?: number; readonly redirect?: number };
  /** Set in a node:cluster worker (control/cluster.ts). */
  readonly cluster?: ClusterWorkerRole;
  /** Per-IP edge guard limits overriding `limits.newConnectionsPerIp` / `limits.caFailuresPerIp` (tests). */
  readonly edgeGuard?: Pick<EdgeGuardOptions, 'handshakes' | 'caFailures'>;
  /** Overload sampler replacing the process's event-loop delay and heap (tests). */
  readonly overloadSampler?: Sampler;
  /**
   * Serves the admin API (admin/app.ts `createAdminApp`, passed in by the composition root so control/
   * does not import admin/). Without it there is no admin listener and `adminPort` is 0.
   */
  readonly admin?: ServeAdmin;
  /** Timers of the ACME renewal (tests drive it with a ManualScheduler); default: real timers. */
  readonly acmeScheduler?: Scheduler;
}

/** How a gateway runs as one worker of a `workers > 1` group. */
export interface ClusterWorkerRole {
  /** The primary's memory store (used when `store.type` is memory). */
  readonly store: ClusterStoreLink;
  /** Whether this worker binds the admin listener: exactly one worker of the group does. */
  readonly admin: boolean;
  /** What the admin's POST /reload runs: a reload of every worker, through the primary. */
  reloadAll(): Promise<ReloadResult>;
  /** The group's reports, through the primary: the admin's /metrics and /status sum them. */
  readonly view?: ClusterView;
  /** Hands the admin worker's runtime overrides to the primary, for every other worker. */
  shareOverrides?(records: readonly OverrideRecord[]): void;
}

export interface Gateway {
  readonly publicPort: number;
  readonly adminPort: number;
  readonly redirectPort: number | undefined;
  readonly holder: SnapshotHolder;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly tls: TlsSource;
  readonly app: PublicApp;
  readonly lastReload: ReloadResult | undefined;
  /** The last reload results, oldest first (bounded). */
  readonly reloadHistory: readonly ReloadResult[];
  readonly draining: boolean;
  readonly spec: GatewaySpec;
  /** Restart-only keys (YAML paths) the config in force changed since start (config/diff.ts). */
  readonly pendingRestart: readonly string[];
  /** Operator overrides set on the admin API (drain, forced health, forced tier); survive reloads. */
  readonly overrides: OverrideRegistry;
  reload(): Promise<ReloadResult>;
  /** Drains (up to shutdown.drainTimeout) and closes everything. */
  shutdown(): Promise<void>;
}

const ms = durationMs;
const ALLOWED: Promise<boolean> = Promise.resolve(true);

/** Reload results kept for the admin console. */
const RELOAD_HISTORY = 20;

function listenerLimits(spec: GatewaySpec): ListenerLimits {
  return {
    maxHeaderBytes: spec.limits.maxHeaderBytes,
    headersTimeoutMs: ms(spec.limits.headersTimeout),
    idleTimeoutMs: ms(spec.limits.idleTimeout),
    maxConcurrentStreams: spec.limits.maxConcurrentStreams,
    maxConnections: spec.limits.maxConnections,
    maxConnectionsPerIp: spec.limits.maxConnectionsPerIp,
    requestBodyTimeoutMs: ms(spec.limits.requestBodyTimeout),
    overload: { maxEventLoopDelayMs: ms(spec.limits.overload.maxEventLoopDelay), maxHeapFraction: spec.limits.overload.maxHeapFraction },
  };
}

/** Starts a gateway from a config file; rejects (ConfigError) when the config is invalid. */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom;
  const logger = opts.logger ?? createLogger();
  const ownProcess = opts.logger === undefined || opts.cluster !== undefined;
  const metrics = createMetrics({ defaults: ownProcess, now: () => clock.now() });
  // A gateway that owns its process logs to stdout: access lines go out batched on that fd
  // (telemetry/line-writer.ts); in-process gateways (tests) log through their logger's destination.
  const accessOut = ownProcess ? createLineWriter(1) : undefined;
  const firstLoaded: LoadedConfig = await loadConfigFile(opts.configPath);
  for (const w of firstLoaded.warnings) logger.warn({ msg: 'config warning', problem: formatIssue(w) });
  const spec = firstLoaded.spec;

  const tls = await createTlsSource(spec, { clock, logger, metrics, acmeScheduler: opts.acmeScheduler });
  const storeDeps = { clock, logger, metrics, cluster: opts.cluster?.store };
  const firstStore: ManagedStore = await createStoreFor(spec.store, storeDeps);
  // Shared counting must be settled (connected, or known down) before the first request.
  await firstStore.ready();
  // The edge guard is rebuilt when a reload changes its limits (its counts start afresh, as a changed
  // rate limit's bucket does); the listener and the CA API reach it through `guardNow`.
  let guardLimits = { ...edgeGuardLimits(spec), ...opts.edgeGuard };
  const newGuard = (): EdgeGuard => createEdgeGuard({ ...guardLimits, onError: (err) => logger.warn({ msg: 'edge guard error; allowing', err: String(err) }) });
  let guard = newGuard();
  const guardNow: EdgeGuard = {
    allowHandshake: (ip) => (guardLimits.handshakes.points > 0 ? guard.allowHandshake(ip) : ALLOWED),
    recordCaFailure: (ip) => guard.recordCaFailure(ip),
    caBlocked: (ip) => guard.caBlocked(ip),
  };
  // Overrides are checked against the config in force and put on every pool held (`registry` and `live`
  // are assigned below, before any override can be set: the admin API starts last).
  const overrides: OverrideRegistry = new OverrideRegistry({
    clock,
    logger,
    spec: () => live.loaded.spec,
    pools: (): Iterable<PoolRuntime> => registry.runtimes(),
    share: opts.cluster?.shareOverrides,
  });
  const registry: PoolRegistry = new PoolRegistry({
    clock,
    random,
    logger,
    metrics,
    idleTimeoutMs: ms(spec.limits.idleTimeout),
    upstreamTls: { current: () => tls.workloadCredentials() },
    overrides,
  });

  const resources = new SharedResources();
  const build = (cfg: LoadedConfig, st: ManagedStore, generation: number): RuntimeSnapshot =>
    compileSnapshot(cfg.spec, {
      resources: resources.lease(),
      random,
      logger,
      pools: registry,
      store: st.store,
      gatewayId: tls.gatewayId,
      peerIdentity: (socket) => tls.peerIdentity(socket as TLSSocket),
      generation,
      configHash: cfg.hash,
      loadedAt: clock.now() === 0 ? '' : new Date(clock.now()).toISOString(),
      baseDir: dirname(cfg.path),
      clock,
    });
  const holder = new SnapshotHolder(build(firstLoaded, firstStore, 1));
  // Pools with DNS targets serve from their first answer (or, for a name that never resolved, none).
  await registry.resolved();

  let draining = false;
  const accessLog = createAccessLog(logger, clock, accessOut, spec.accessLog.fields);
  const startTls = tls.listenerTls();
  const app = await createPublicApp({
    tls: startTls,
    limits: listenerLimits(spec),
    pipeline: { holder, clock, random, metrics, logger, accessLog, draining: () => draining },
    random,
    fixed: guardCaPlugin(tls.caPlugin(), guardNow, {
      get retryAfterSec() {
        return guardLimits.caFailures.blockSec;
      },
      onRefused: () => metrics.edgeGuardRejections.labels('ca').inc(),
    }),
    dataPath: opts.dataPath,
    overloadSampler: opts.overloadSampler,
  });
  const live: LiveConfig = { loaded: firstLoaded, store: firstStore, listenerTls: tls.listenerTls(), generation: 1 };
  tls.onRotate((listenerTls: ListenerTls) => {
    live.listenerTls = listenerTls;
    applyListenerTls(app.server, listenerTls);
  });
  // A certificate that arrived (ACME) while the app was being built, before anyone listened for it.
  if (tlsChanged(startTls, live.listenerTls)) applyListenerTls(app.server, live.listenerTls);
  // clientAuth: require refuses revoked certificates too: node's own verification sees only the chain.
  app.server.on('secureConnection', (socket: TLSSocket) => {
    if (tls.refuses(socket)) socket.destroy();
  });

  limitHandshakes(app.server, guardNow.allowHandshake, () => metrics.edgeGuardRejections.labels('handshake').inc());

  // The public port is a TCP front handing sockets to the TLS server (server/proxy-front.ts), so a
  // reload can move it and switch listen.proxyProtocol for new connections.
  let proxyProtocol = spec.listen.proxyProtocol;
  const alpnChallenge = spec.tls.acme?.challenge === 'tls-alpn-01' && tls.acme !== undefined ? acmeAlpnServer(tls.acme, ms(spec.limits.headersTimeout)) : undefined;
  const newFront = (): NetServer =>
    createFront(app.server, {
      proxyProtocol: () => proxyProtocol,
      isTrusted: (ip) => holder.current.isTrustedProxy(ip),
      timeoutMs: () => ms(live.loaded.spec.limits.headersTimeout),
      onRefused: (reason, detail) => {
        metrics.connectionsRejected.labels(`proxy_protocol_${reason}`).inc();
        logger.warn({ msg: 'PROXY protocol connection refused', reason, detail });
      },
      alpnChallenge,
    });
  let front: NetServer = newFront();
  let publicPort = await listen(front, spec.listen.host, opts.ports?.public ?? spec.listen.port);
  // node:http starts its HTTP/1.1 connection checker (headersTimeout) on the server's 'listening':
  // the TLS server never listens itself, so it is told.
  app.server.emit('listening');
  let redirect: HttpServer | undefined;
  let redirectPort: number | undefined;
  let redirectHost = spec.listen.host;
  if (spec.redirectHttp) {
    redirect = createRedirectServer(() => publicPort, random, (token) => tls.acmeChallenge(token));
    redirectPort = await listenPlain(redirect, spec.listen.host, opts.ports?.redirect ?? spec.redirectHttp.port);
  }

  let lastReload: ReloadResult | undefined;
  let pendingRestart: readonly string[] = [];
  // The admin console's reload history: the last RELOAD_HISTORY results, oldest first.
  const reloadHistory: ReloadResult[] = [];
  const recordReload = (r: ReloadResult): ReloadResult => {
    lastReload = r;
    reloadHistory.push(r);
    if (reloadHistory.length > RELOAD_HISTORY) reloadHistory.shift();
    return r;
  };
  let reloading: Promise<ReloadResult> | undefined;

  const reloadDeps: ReloadDeps = {
    live,
    holder,
    server: app.server,
    registry,
    resources,
    tls,
    createStore: (st) => createStoreFor(st, storeDeps),
    build,
    listenerLimits,
  };
  const refused = (err: unknown, at: string): ReloadResult => {
    metrics.configReloads.labels('failure').inc();
    const message = err instanceof Error ? err.message : String(err);
    logger.error({ msg: 'config reload failed; the running config stays', err: message });
    return recordReload({ result: 'failure', error: message, at, configHash: holder.current.configHash });
  };

  const doReload = async (): Promise<ReloadResult> => {
    const at = new Date(clock.now()).toISOString();
    let next: LoadedConfig;
    try {
      next = await loadConfigFile(opts.configPath);
    } catch (err) {
      const message = err instanceof ConfigError ? err.issues.map(formatIssue).join('; ') : String(err);
      metrics.configReloads.labels('failure').inc();
      logger.error({ msg: 'config reload refused; the running config stays', problems: err instanceof ConfigError ? err.issues.map(formatIssue) : [message] });
      return recordReload({ result: 'failure', error: message, at, configHash: holder.current.configHash });
    }
    let prepared: PreparedReload;
    try {
      prepared = await prepareReload(next, reloadDeps);
    } catch (err) {
      return refused(err, at);
    }
    try {
      await prepared.commit();
    } catch (err) {
      return refused(err, at);
    }
    for (const w of next.warnings) logger.warn({ msg: 'config warning', problem: formatIssue(w) });
    metrics.configReloads.labels('success').inc();
    await rebindSideListeners(next.spec);
    accessLog.setFields(next.spec.accessLog.fields);
    const nextGuard = { ...edgeGuardLimits(next.spec), ...opts.edgeGuard };
    if (JSON.stringify(nextGuard) !== JSON.stringify(guardLimits)) {
      guardLimits = nextGuard;
      guard = newGuard();
    }
    // Never silently ignored: what only a restart applies is reported until the restart (or a revert).
    pendingRestart = restartKeysChanged(bound, next.spec);
    metrics.reloadPendingRestart.reset();
    for (const key of pendingRestart) metrics.reloadPendingRestart.labels(key).set(1);
    logger.info({ msg: 'config reloaded', configHash: next.hash, generation: live.generation });
    if (pendingRestart.length > 0) logger.warn({ msg: 'config reloaded; these changes take effect only after a restart', pendingRestart });
    return recordReload({ result: 'success', error: null, at, configHash: next.hash, pendingRestart });
  };

  // Assigned once the gateway object exists (the admin API serves it); read by closures before then.
  const adminRef: { app?: AdminServer; serve?: (a: GatewaySpec['admin']) => Promise<AdminServer> } = {};
  // What the listeners were bound with: the start config, but for the ones a reload rebinds.
  let bound: GatewaySpec = spec;
  /**
   * The listeners a reload moves: `listen.host`/`port`, `redirectHttp` and `admin` get a new listener
   * first, then the old one closes (its connections finish; the admin's close is not awaited, since
   * POST /reload itself may be running on it). `listen.proxyProtocol` switches for new connections in
   * place. A bind that fails leaves the old listener and the key pending, with an error in the log.
   */
  const rebindSideListeners = async (next: GatewaySpec): Promise<void> => {
    const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
    proxyProtocol = next.listen.proxyProtocol;
    let listenNow = { ...next.listen, host: bound.listen.host, port: bound.listen.port };
    if (bound.listen.host !== next.listen.host || bound.listen.port !== next.listen.port) {
      const fresh = newFront();
      try {
        const port = await listen(fresh, next.listen.host, opts.ports?.public ?? next.listen.port);
        front.close();
        front = fresh;
        publicPort = port;
        listenNow = next.listen;
        logger.info({ msg: 'public listener rebound', public: `https://${next.listen.host}:${port}` });
      } catch (err) {
        fresh.close();
        logger.error({ msg: 'public listener could not be rebound; the old one stays', err: String(err) });
      }
    }
    bound = { ...bound, listen: listenNow };
    // The redirect listener lives on listen.host: it moves with it, too.
    if (!same(bound.redirectHttp, next.redirectHttp) || (redirect !== undefined && redirectHost !== bound.listen.host)) {
      try {
        let fresh: HttpServer | undefined;
        let freshPort: number | undefined;
        if (next.redirectHttp) {
          fresh = createRedirectServer(() => publicPort, random, (token) => tls.acmeChallenge(token));
          freshPort = await listenPlain(fresh, bound.listen.host, opts.ports?.redirect ?? next.redirectHttp.port);
        }
        redirect?.close();
        redirect = fresh;
        redirectPort = freshPort;
        redirectHost = bound.listen.host;
        bound = { ...bound, redirectHttp: next.redirectHttp };
        logger.info({ msg: 'redirect listener rebound', port: redirectPort ?? null });
      } catch (err) {
        logger.error({ msg: 'redirect listener could not be rebound; the old one stays', err: String(err) });
      }
    }
    // A process without an admin listener (a cluster worker other than the admin one) has none to move.
    if (adminRef.serve === undefined) bound = { ...bound, admin: next.admin };
    else if (!same(bound.admin, next.admin)) {
      try {
        const fresh = await adminRef.serve(next.admin);
        const old = adminRef.app;
        adminRef.app = fresh;
        void old?.close();
        bound = { ...bound, admin: next.admin };
        logger.info({ msg: 'admin listener rebound', admin: `http://${next.admin.host}:${fresh.port}` });
      } catch (err) {
        logger.error({ msg: 'admin listener could not be rebound; the old one stays', err: String(err) });
      }
    }
  };
  const gateway: Gateway = {
    get publicPort() {
      return publicPort;
    },
    get adminPort() {
      return adminRef.app?.port ?? 0;
    },
    get redirectPort() {
      return redirectPort;
    },
    holder,
    metrics,
    logger,
    tls,
    app,
    get lastReload() {
      return lastReload;
    },
    reloadHistory,
    get draining() {
      return draining;
    },
    get spec() {
      return live.loaded.spec;
    },
    get pendingRestart() {
      return pendingRestart;
    },
    overrides,
    reload: () => {
      // Reloads are serialised; a reload asked for during one runs after it.
      const run = (reloading ?? Promise.resolve()).then(doReload, doReload);
      reloading = run;
      return run;
    },
    shutdown: async () => {
      if (draining) return;
      draining = true;
      logger.info({ msg: 'draining', inFlight: app.inFlight() });
      await drain(app, ms(live.loaded.spec.shutdown.drainTimeout), clock, front);
      redirect?.close();
      await registry.closeAll();
      await resources.closeAll();
      await live.store.close();
      tls.close();
      await adminRef.app?.close();
      logger.info({ msg: 'stopped' });
      await accessOut?.end();
      logger.flush?.();
    },
  };
  const cluster = opts.cluster;
  if (opts.admin !== undefined && (cluster === undefined || cluster.admin)) {
    // In a cluster the admin's reload goes through the primary, so it reloads every worker.
    const served: Gateway = cluster === undefined ? gateway : (Object.create(gateway, { reload: { value: () => cluster.reloadAll() }, cluster: { value: cluster.view } }) as Gateway);
    const serveAdmin = opts.admin;
    adminRef.serve = (a) =>
      serveAdmin(served, { host: a.host, port: opts.ports?.admin ?? a.port, clock, allowedHosts: a.allowedHosts, token: a.token, tokenFile: a.tokenFile });
    try {
      adminRef.app = await adminRef.serve(spec.admin);
    } catch (err) {
      // No admin API (port taken, a non-loopback admin without a token): nothing of this gateway stays up.
      await gateway.shutdown();
      throw err;
    }
  }
  const adminUrl = adminRef.app === undefined ? null : `http://${spec.admin.host}:${adminRef.app.port}`;
  logger.info({ msg: 'listening', public: `https://${spec.listen.host}:${publicPort}`, admin: adminUrl, configHash: firstLoaded.hash });
  return gateway;
}

/** Stops accepting, lets in-flight requests finish (up to `timeoutMs`), then closes what is left. */
async function drain(app: PublicApp, timeoutMs: number, clock: Clock, front: NetServer): Promise<void> {
  const server: Http2SecureServer = app.server;
  // The front is what accepts; the TLS server (never listening itself) is closed last, so its idle
  // sweep, body timer and HTTP/1.1 header checker run through the drain.
  const closed = new Promise<void>((resolve) => front.close(() => resolve()));
  // HTTP/2: GOAWAY, streams in flight finish. HTTP/1.1: idle keep-alive sockets close now; busy ones
  // close after their response (it carries `connection: close`).
  for (const session of app.tracker.sessions) session.close();
  const closeIdle = (): void => {
    for (const socket of app.tracker.sockets) {
      const s = socket as TLSSocket & { _httpMessage?: unknown };
      if (s.alpnProtocol !== 'h2' && !s._httpMessage) s.destroy();
    }
  };
  closeIdle();
  const deadline = clock.monotonic() + timeoutMs;
  while (app.inFlight() > 0 && clock.monotonic() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    closeIdle();
  }
  for (const socket of app.tracker.sockets) socket.destroy();
  await closed;
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** The edge guard's limits from `limits` (whole seconds, as rate-limiter-flexible counts). */
function edgeGuardLimits(spec: GatewaySpec): Required<Pick<EdgeGuardOptions, 'handshakes' | 'caFailures'>> {
  const sec = (d: string): number => Math.max(1, Math.ceil(ms(d) / 1000));
  const conn = spec.limits.newConnectionsPerIp;
  const ca = spec.limits.caFailuresPerIp;
  return {
    handshakes: { points: conn.count, durationSec: sec(conn.per) },
    caFailures: { maxFailures: ca.count, windowSec: sec(ca.per), blockSec: sec(ca.block) },
  };
}

/**
 * The tls-alpn-01 responder (RFC 8737): the acmeIdentifier certificate for the SNI name, ALPN
 * `acme-tls/1`, and nothing after the handshake (the connection is closed).
 */
function acmeAlpnServer(acme: AcmeManager, handshakeTimeoutMs: number): { pending(): boolean; server: TlsServer } {
  const server = createTlsServer({
    ALPNProtocols: ['acme-tls/1'],
    handshakeTimeout: handshakeTimeoutMs,
    SNICallback: (name, cb) => {
      const ctx = acme.alpnChallengeContext(name);
      cb(ctx === undefined ? new Error('no tls-alpn-01 challenge for this name') : null, ctx);
    },
  });
  server.on('secureConnection', (socket: TLSSocket) => socket.end());
  server.on('tlsClientError', () => undefined);
  return { pending: () => acme.alpnPending(), server };
}

const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

function createRedirectServer(httpsPortNow: () => number, random: Random, acmeChallenge: (token: string) => string | undefined): HttpServer {
  return createHttpServer((req, res) => {
    const httpsPort = httpsPortNow();
    // http-01 (RFC 8555 §8.3): the ACME CA fetches the key authorization over plain HTTP.
    const url = req.url ?? '/';
    const answer = url.startsWith(ACME_CHALLENGE_PREFIX) ? acmeChallenge(url.slice(ACME_CHALLENGE_PREFIX.length)) : undefined;
    if (answer !== undefined) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(answer) });
      res.end(answer);
      return;
    }
    const host = (req.headers.host ?? 'localhost').replace(/:\d+$/, '');
    const portPart = httpsPort === 443 ? '' : `:${httpsPort}`;
    // Like every answer of the gateway: the client's request id when valid, else a new one.
    const header = req.headers['x-request-id'];
    const requestId = acceptRequestId(typeof header === 'string' ? header : undefined) ?? newRequestId(random);
    res.writeHead(308, { location: `https://${host}${portPart}${req.url ?? '/'}`, 'content-length': 0, 'x-request-id': requestId });
    res.end();
  });
}

function listenPlain(server: HttpServer, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a !== null ? a.port : port);
    });
  });
}
