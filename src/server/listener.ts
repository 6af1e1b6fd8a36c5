/**
 * The public TLS listener: node:http2 secure server with HTTP/1.1 fallback (ALPN), the edge limits,
 * and the raw-socket error answers (431/400 for what the HTTP/1.1 parser refuses).
 */
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session, type SecureServerOptions } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Server as NetServer } from 'node:net';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { type ErrorCode, renderError, STATUS } from '../core/errors.js';
import type { Random } from '../core/random.js';
import { newRequestId } from '../http/request-id.js';
import { GatewayError } from '../core/errors.js';
import { startIdleSweep, trackStreams, type IdleSweep } from './idle-sweep.js';
import { createOverloadManager, type OverloadManager, type OverloadReason, type OverloadThresholds, type Sampler } from './overload.js';
import { sendError } from './error-reply.js';
import { compileSniTable, matchSni, type SniTable } from '../tls/sni.js';

/** Mozilla "intermediate" (TLS 1.2 suites; TLS 1.3 suites are OpenSSL's defaults). */
export const INTERMEDIATE_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface ListenerLimits {
  readonly maxHeaderBytes: number;
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConcurrentStreams: number;
  /** Open client connections in total; 0 = no cap. */
  readonly maxConnections?: number;
  /** Open client connections per client IP; 0 = no cap. */
  readonly maxConnectionsPerIp?: number;
  /** Total time for a request body to arrive; 0 = no bound. */
  readonly requestBodyTimeoutMs?: number;
  /** Overload manager thresholds; absent = off. */
  readonly overload?: OverloadThresholds;
}

/** What the listener reports (metrics) and the test hook for the overload sampler. */
export interface ListenerHooks {
  /** A new connection closed at accept by a cap. */
  onConnectionRejected?(reason: 'max_connections' | 'max_connections_per_ip'): void;
  /** A connection or request shed by the overload manager. */
  onShed?(kind: 'connection' | 'request'): void;
  onOverloadChange?(overloaded: boolean, reason: OverloadReason | undefined): void;
  /** A request body cut: too slow, or left unread after the response. */
  onBodyCut?(kind: 'body_timeout' | 'unread_body'): void;
  /** Overload sampler (tests); default: event-loop delay and heap of this process. */
  overloadSampler?: Sampler;
}

/** After a response to a request whose body is still arriving (HTTP/1.1): this much more, then close. */
export const UNREAD_BODY_LINGER_MS = 1000;
export const UNREAD_BODY_LINGER_BYTES = 64 * 1024;

export interface ListenerTls {
  readonly certPem: string;
  readonly keyPem: string;
  /** Trust anchors for client certificates (PEM). */
  readonly clientCaPem: string[];
  readonly clientAuth: 'none' | 'optional' | 'require';
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  /**
   * Further serving certificates chosen by SNI (`tls.certificates`); a client whose SNI none of them
   * names (or that sends none) gets `certPem`/`keyPem`. Each shares the client-certificate trust above.
   */
  readonly sni?: readonly SniCertificate[];
}

/** A serving certificate for the names it lists (exact or `*.` wildcards). */
export interface SniCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  readonly names: readonly string[];
}

export type RequestHandler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;

/** TLS options for the listener and for `setSecureContext` on rotation/reload. */
export function secureContextOptions(tls: ListenerTls): SecureServerOptions {
  return {
    cert: tls.certPem,
    key: tls.keyPem,
    ca: tls.clientCaPem.length > 0 ? tls.clientCaPem : undefined,
    minVersion: tls.minVersion,
    ciphers: INTERMEDIATE_CIPHERS,
    honorCipherOrder: false,
  };
}

/** Each public server's SNI table in force, replaced by applyListenerTls. */
const sniTables = new WeakMap<Http2SecureServer, SniTable<SecureContext>>();

/**
 * Compiles the SNI table of `tls`: one secure context per certificate, with the same trust, version
 * and ciphers as the default one. Throws when a key does not match its certificate (a refused reload).
 */
export function compileSniContexts(tls: ListenerTls): SniTable<SecureContext> {
  const base = secureContextOptions(tls);
  return compileSniTable((tls.sni ?? []).map((c) => ({ names: c.names, value: createSecureContext({ ...base, cert: c.certPem, key: c.keyPem }) })));
}

/**
 * Puts `tls` in force on a running listener: the default certificate (`setSecureContext`, open
 * connections untouched) and the SNI table, compiled by the caller beforehand when it must not fail here.
 */
export function applyListenerTls(server: Http2SecureServer, tls: ListenerTls, table: SniTable<SecureContext> = compileSniContexts(tls)): void {
  server.setSecureContext(secureContextOptions(tls));
  sniTables.set(server, table);
}

/** Tracks connections so shutdown can drain them. */
export interface ConnectionTracker {
  readonly sockets: Set<Duplex>;
  readonly sessions: Set<Http2Session>;
}

/** Each public server's idle sweep, for applyLimits on reload. */
const sweeps = new WeakMap<Http2SecureServer, IdleSweep>();
/** Each public server's limits in force (connection caps, body timeout), replaced by applyLimits. */
const current = new WeakMap<Http2SecureServer, { limits: ListenerLimits; overload: OverloadManager }>();
const OVERLOAD_OFF: OverloadThresholds = { maxEventLoopDelayMs: 0, maxHeapFraction: 0 };

type ClientReq = IncomingMessage | Http2ServerRequest;
type ClientRes = ServerResponse | Http2ServerResponse;

/** Whether a request carries a body still to be read. */
function hasBody(req: ClientReq): boolean {
  const stream = (req as Http2ServerRequest).stream as (Http2ServerRequest['stream'] & { endAfterHeaders?: boolean }) | undefined;
  if (stream !== undefined) return stream.endAfterHeaders === false;
  const h = req.headers;
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
}

/** Creates (does not start) the public server. */
export function createPublicServer(
  tls: ListenerTls,
  limits: ListenerLimits,
  handler: RequestHandler,
  random: Random,
  hooks: ListenerHooks = {},
): { server: Http2SecureServer; tracker: ConnectionTracker; overload: OverloadManager } {
  const overload = createOverloadManager(limits.overload ?? OVERLOAD_OFF, { sampler: hooks.overloadSampler, onChange: hooks.onOverloadChange });
  // Request bodies being read, with the time they started (limits.requestBodyTimeout).
  const bodies = new Map<ClientReq, { since: number; res: ClientRes }>();
  let bodyTimer: NodeJS.Timeout | undefined;
  const cutSlowBodies = (): void => {
    const bound = current.get(server)?.limits.requestBodyTimeoutMs ?? 0;
    if (bound <= 0) return;
    const t = performance.now();
    for (const [req, w] of bodies) {
      if (t - w.since < bound) continue;
      bodies.delete(req);
      hooks.onBodyCut?.('body_timeout');
      if (w.res.headersSent) {
        req.destroy();
        continue;
      }
      sendError(w.res, new GatewayError('REQUEST_TIMEOUT', 'The request body did not arrive in time'), newRequestId(random), undefined, true);
      w.res.once('finish', () => req.destroy());
    }
  };
  const watchBody = (req: ClientReq, res: ClientRes): void => {
    bodies.set(req, { since: performance.now(), res });
    const done = (): void => {
      bodies.delete(req);
    };
    req.once('end', done);
    req.once('close', done);
    if (bodyTimer === undefined) {
      bodyTimer = setInterval(cutSlowBodies, 250);
      bodyTimer.unref();
    }
    if ((req as Http2ServerRequest).stream === undefined) res.once('finish', () => lingerUnreadBody(req as IncomingMessage));
  };
  // A body nobody will read (the gateway answered without forwarding it, or the upstream answered
  // early): node would keep draining it for as long as the client sends. Allow a little, then close.
  const lingerUnreadBody = (req: IncomingMessage): void => {
    if (req.complete || req.socket.destroyed) return;
    let bytes = 0;
    const cut = (): void => {
      clearTimeout(timer);
      if (req.complete || req.socket.destroyed) return;
      hooks.onBodyCut?.('unread_body');
      req.socket.destroy();
    };
    const timer = setTimeout(cut, UNREAD_BODY_LINGER_MS);
    timer.unref();
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > UNREAD_BODY_LINGER_BYTES) cut();
    });
    req.once('end', () => clearTimeout(timer));
    req.once('close', () => clearTimeout(timer));
  };
  const entry: RequestHandler = (req, res) => {
    if (overload.overloaded) {
      hooks.onShed?.('request');
      sendError(res, new GatewayError('OVERLOADED', 'The gateway is overloaded; retry shortly', { headers: { 'retry-after': '1' } }), newRequestId(random), undefined, true);
      return;
    }
    if (hasBody(req)) watchBody(req, res);
    handler(req, res);
  };
  const server: Http2SecureServer = createSecureServer(
    {
      ...secureContextOptions(tls),
      // Unknown or absent SNI: a falsy context makes node use the server's default one.
      SNICallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => {
        const table = sniTables.get(server);
        cb(null, table === undefined ? undefined : matchSni(table, servername));
      },
      allowHTTP1: true,
      ALPNProtocols: ['h2', 'http/1.1'],
      requestCert: tls.clientAuth !== 'none',
      rejectUnauthorized: tls.clientAuth === 'require',
      handshakeTimeout: limits.headersTimeoutMs,
      settings: h2Settings(limits),
      maxSessionMemory: 32,
      maxHeaderListPairs: 256,
      // Bound the number of streams that can be refused or reset per session (rapid reset).
      maxSessionRejectedStreams: 100,
      maxSessionInvalidFrames: 1000,
      unknownProtocolTimeout: limits.headersTimeoutMs,
    } as SecureServerOptions,
    entry,
  );
  // Expect: 100-continue arrives as 'checkContinue' instead of 'request' (h1 and h2): same entry.
  server.on('checkContinue', entry);
  sniTables.set(server, compileSniContexts(tls));
  const tracker: ConnectionTracker = { sockets: new Set(), sessions: new Set() };
  const sweep = startIdleSweep(tracker.sockets as Set<TLSSocket>, limits.idleTimeoutMs, { sessions: tracker.sessions });
  sweeps.set(server, sweep);
  current.set(server, { limits, overload });
  server.once('close', () => {
    sweep.stop();
    overload.stop();
    if (bodyTimer !== undefined) clearInterval(bodyTimer);
  });
  // Connection caps and overload, counted on the TCP `connection` event: a refused socket is closed
  // before its ClientHello is read (no handshake work; the client sees a reset).
  let open = 0;
  const perIp = new Map<string, number>();
  server.on('connection', (socket: Duplex & { remoteAddress?: string }) => {
    if (overload.overloaded) {
      hooks.onShed?.('connection');
      socket.destroy();
      return;
    }
    const l = current.get(server)?.limits ?? limits;
    const max = l.maxConnections ?? 0;
    if (max > 0 && open >= max) {
      hooks.onConnectionRejected?.('max_connections');
      socket.destroy();
      return;
    }
    const ip = socket.remoteAddress ?? '';
    const maxIp = l.maxConnectionsPerIp ?? 0;
    const n = perIp.get(ip) ?? 0;
    if (maxIp > 0 && n >= maxIp) {
      hooks.onConnectionRejected?.('max_connections_per_ip');
      socket.destroy();
      return;
    }
    open++;
    perIp.set(ip, n + 1);
    socket.once('close', () => {
      open--;
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left <= 0) perIp.delete(ip);
      else perIp.set(ip, left);
    });
  });
  applyLimits(server, limits);
  // How often node:http checks HTTP/1.1 connections against headersTimeout (default 30 s). Read when
  // the server starts listening, so it is set here, before listen.
  (server as Http2SecureServer & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.max(
    100,
    Math.min(1000, Math.floor(limits.headersTimeoutMs / 4)),
  );
  server.on('secureConnection', (socket: TLSSocket) => {
    tracker.sockets.add(socket);
    socket.once('close', () => tracker.sockets.delete(socket));
  });
  server.on('session', (session: Http2Session) => {
    tracker.sessions.add(session);
    trackStreams(session);
    session.once('close', () => tracker.sessions.delete(session));
    session.on('error', () => {
      /* session errors end the session; nothing else to do */
    });
  });
  server.on('tlsClientError', () => {
    /* failed handshakes (no or bad client cert with clientAuth: require, scanners): nothing to answer */
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, random));
  return { server, tracker, overload };
}

function h2Settings(limits: ListenerLimits): { maxConcurrentStreams: number; maxHeaderListSize: number; enablePush: false } {
  return {
    maxConcurrentStreams: limits.maxConcurrentStreams,
    // A little above the limit so an oversized request reaches us and gets a JSON 431.
    maxHeaderListSize: limits.maxHeaderBytes * 2,
    enablePush: false,
  };
}

/** Timeouts and sizes of `limits`; also applied again on reload (new connections and sessions get them). */
export function applyLimits(server: Http2SecureServer, limits: ListenerLimits): void {
  const s = server as Http2SecureServer & {
    maxHeaderSize?: number;
    headersTimeout: number;
    requestTimeout: number;
    keepAliveTimeout?: number;
  };
  // HTTP/1.1 (allowHTTP1 reuses node:http's connection handling, which reads these fields).
  s.maxHeaderSize = limits.maxHeaderBytes;
  s.headersTimeout = limits.headersTimeoutMs;
  s.requestTimeout = 0;
  // No per-socket idle timers (neither node's keep-alive timer nor `server.setTimeout`): both
  // protocols' idle connections, between requests or within one, are closed by the idle sweep.
  s.keepAliveTimeout = 0;
  sweeps.get(server)?.setIdleTimeout(limits.idleTimeoutMs);
  // HTTP/2 SETTINGS sent to new sessions (sessions already open keep theirs).
  server.updateSettings(h2Settings(limits));
  // The TLS handshake bound and the unknown-ALPN bound, read per new connection. node keeps them
  // behind symbols; found by description (test/gateway/reload-live.test.ts checks they take effect).
  for (const sym of Object.getOwnPropertySymbols(server)) {
    const bag = server as unknown as Record<symbol, unknown>;
    if (sym.description === 'handshake-timeout' && typeof bag[sym] === 'number') bag[sym] = limits.headersTimeoutMs;
    const opts = bag[sym] as { unknownProtocolTimeout?: unknown } | undefined;
    if (sym.description === 'options' && typeof opts?.unknownProtocolTimeout === 'number') opts.unknownProtocolTimeout = limits.headersTimeoutMs;
  }
  const c = current.get(server);
  if (c !== undefined) {
    c.limits = limits;
    c.overload.setThresholds(limits.overload ?? OVERLOAD_OFF);
  }
}

function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, random: Random): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let code: ErrorCode = 'BAD_REQUEST';
  let message = 'Malformed HTTP request';
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    code = 'HEADERS_TOO_LARGE';
    message = 'Request headers are too large';
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    // Headers did not arrive in time: close without an answer, like a slowloris deserves.
    socket.destroy();
    return;
  } else if (err.code === 'HPE_UNEXPECTED_CONTENT_LENGTH' || err.code === 'HPE_INVALID_TRANSFER_ENCODING' || err.code === 'HPE_INVALID_CONTENT_LENGTH') {
    message = 'Ambiguous or invalid message framing';
  }
  if ((socket as Duplex & { _httpMessage?: unknown })._httpMessage || !socket.writable) {
    socket.destroy();
    return;
  }
  const r = renderError(code, newRequestId(random), message);
  const reason = r.status === STATUS.HEADERS_TOO_LARGE ? 'Request Header Fields Too Large' : 'Bad Request';
  let head = `HTTP/1.1 ${r.status} ${reason}\r\n`;
  for (const [name, value] of Object.entries(r.headers)) head += `${name}: ${value}\r\n`;
  socket.end(`${head}connection: close\r\n\r\n${r.body}`);
}

/** Listens and resolves with the bound port. */
export function listen(server: NetServer, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.removeListener('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
    });
  });
}

/**
 * Limits new connections per client IP (the edge guard's handshake limit). Counted on the TCP
 * `connection` event, before TLS: a refused socket is destroyed as soon as the verdict is known,
 * which with the in-process guard is before the ClientHello is read, so a flood costs no
 * handshake work. There is no TLS session yet to carry an HTTP 429; the client sees a reset.
 */
export function limitHandshakes(server: Http2SecureServer, allow: (ip: string) => Promise<boolean>, onRefused: (ip: string) => void): void {
  server.on('connection', (socket: Duplex & { remoteAddress?: string }) => {
    const ip = socket.remoteAddress;
    if (ip === undefined) return;
    allow(ip).then(
      (ok) => {
        if (ok || socket.destroyed) return;
        onRefused(ip);
        socket.destroy();
      },
      () => undefined, // the guard fails open
    );
  });
}
