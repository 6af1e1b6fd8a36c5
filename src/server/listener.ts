/**
 * The public TLS listener: node:http2 secure server with HTTP/1.1 fallback (ALPN), the edge limits,
 * and the raw-socket error answers (431/400 for what the HTTP/1.1 parser refuses).
 */
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session, type SecureServerOptions } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { type ErrorCode, renderError, STATUS } from '../core/errors.js';
import type { Random } from '../core/random.js';
import { newRequestId } from '../http/request-id.js';
import { startIdleSweep, type IdleSweep } from './idle-sweep.js';

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
}

export interface ListenerTls {
  readonly certPem: string;
  readonly keyPem: string;
  /** Trust anchors for client certificates (PEM). */
  readonly clientCaPem: string[];
  readonly clientAuth: 'none' | 'optional' | 'require';
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
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

/** Tracks connections so shutdown can drain them. */
export interface ConnectionTracker {
  readonly sockets: Set<Duplex>;
  readonly sessions: Set<Http2Session>;
}

/** Each public server's idle sweep, for applyLimits on reload. */
const sweeps = new WeakMap<Http2SecureServer, IdleSweep>();

/** Creates (does not start) the public server. */
export function createPublicServer(
  tls: ListenerTls,
  limits: ListenerLimits,
  handler: RequestHandler,
  random: Random,
): { server: Http2SecureServer; tracker: ConnectionTracker } {
  const server = createSecureServer(
    {
      ...secureContextOptions(tls),
      allowHTTP1: true,
      ALPNProtocols: ['h2', 'http/1.1'],
      requestCert: tls.clientAuth !== 'none',
      rejectUnauthorized: tls.clientAuth === 'require',
      handshakeTimeout: limits.headersTimeoutMs,
      settings: {
        maxConcurrentStreams: limits.maxConcurrentStreams,
        // A little above the limit so an oversized request reaches us and gets a JSON 431.
        maxHeaderListSize: limits.maxHeaderBytes * 2,
        enablePush: false,
      },
      maxSessionMemory: 32,
      maxHeaderListPairs: 256,
      // Bound the number of streams that can be refused or reset per session (rapid reset).
      maxSessionRejectedStreams: 100,
      maxSessionInvalidFrames: 1000,
      unknownProtocolTimeout: limits.headersTimeoutMs,
    } as SecureServerOptions,
    handler,
  );
  const tracker: ConnectionTracker = { sockets: new Set(), sessions: new Set() };
  const sweep = startIdleSweep(tracker.sockets as Set<TLSSocket>, limits.idleTimeoutMs);
  sweeps.set(server, sweep);
  server.once('close', () => sweep.stop());
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
    session.once('close', () => tracker.sessions.delete(session));
    session.on('error', () => {
      /* session errors end the session; nothing else to do */
    });
  });
  server.on('tlsClientError', () => {
    /* failed handshakes (no or bad client cert with clientAuth: require, scanners): nothing to answer */
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, random));
  return { server, tracker };
}

/** Timeouts and sizes of `limits`; also applied again on reload. */
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
export function listen(server: Http2SecureServer, host: string, port: number): Promise<number> {
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
