/**
 * The public port: a plain TCP server in front of the TLS server, handing it each connection
 * (`emit('connection')`, what its own listener would do). Being ours, it can be replaced by a reload
 * (new address: the new front binds, then the old one closes) and switch PROXY protocol on and off
 * for new connections without a rebind.
 *
 * With `listen.proxyProtocol`, each connection must come from a trusted proxy and start with a PROXY
 * protocol v1/v2 header (as HAProxy's `accept-proxy`: no header, a malformed one, or an untrusted peer
 * → the connection is closed). The header is read within a deadline and a size bound; the bytes after
 * it are put back and the TLS server's own connection checks then see the declared address.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import { parseProxyHeader, V2_MAX_BYTES } from '../http/proxy-protocol.js';
import { setProxiedAddress } from '../tls/peer.js';
import { alpnOf, CLIENT_HELLO_MAX_BYTES } from '../tls/client-hello.js';

export type ProxyRefusal = 'untrusted_peer' | 'invalid_header' | 'header_timeout';

export interface FrontOptions {
  /** Whether new connections must start with a PROXY header (read per connection: reloads switch it). */
  proxyProtocol(): boolean;
  /** Whether the TCP peer may send a PROXY header (read per connection: `trustedProxies` reloads). */
  isTrusted(ip: string): boolean;
  /** How long the header may take to arrive (read per connection). */
  timeoutMs(): number;
  onRefused?(reason: ProxyRefusal, detail: string): void;
  /**
   * tls-alpn-01 (RFC 8737): while `pending()`, a connection whose ClientHello offers exactly
   * `acme-tls/1` goes to `server` instead (node picks the certificate before ALPN is known, so the
   * ClientHello is read here first). Absent or not pending: no bytes are read ahead.
   */
  alpnChallenge?: { pending(): boolean; readonly server: TlsServer };
}

/** Creates (does not start) the front; `close()` it to stop accepting (its connections go on). */
export function createFront(tls: TlsServer, opts: FrontOptions): Server {
  // The same socket options the TLS server would give the sockets it accepts itself.
  const t = tls as TlsServer & { allowHalfOpen?: boolean; noDelay?: boolean; keepAlive?: boolean; keepAliveInitialDelay?: number; highWaterMark?: number };
  const socketOptions = { allowHalfOpen: t.allowHalfOpen, noDelay: t.noDelay, keepAlive: t.keepAlive, keepAliveInitialDelay: t.keepAliveInitialDelay, highWaterMark: t.highWaterMark };
  return createServer(socketOptions, (socket: Socket) => {
    if (opts.proxyProtocol()) readProxyHeader(tls, socket, opts);
    else handOff(tls, socket, opts, Buffer.alloc(0));
  });
}

/** Gives `socket` (with `head` read from it already) to the TLS server, or to the ALPN challenge one. */
function handOff(tls: TlsServer, socket: Socket, opts: FrontOptions, head: Buffer): void {
  const alpn = opts.alpnChallenge;
  if (alpn === undefined || !alpn.pending()) {
    if (head.length > 0) socket.unshift(head);
    tls.emit('connection', socket);
    return;
  }
  let buf = head;
  const route = (): void => {
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.pause();
    const offered = alpnOf(buf.subarray(0, CLIENT_HELLO_MAX_BYTES));
    if (buf.length > 0) socket.unshift(buf);
    const isChallenge = Array.isArray(offered) && offered.length === 1 && offered[0] === 'acme-tls/1';
    (isChallenge ? alpn.server : tls).emit('connection', socket);
  };
  // A ClientHello that does not arrive in time goes on to the TLS server, whose handshake timeout ends it.
  const timer = setTimeout(route, opts.timeoutMs());
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (buf.length >= CLIENT_HELLO_MAX_BYTES || alpnOf(buf) !== 'incomplete') route();
  };
  socket.once('close', () => clearTimeout(timer));
  if (head.length > 0 && alpnOf(head) !== 'incomplete') {
    route();
    return;
  }
  socket.on('data', onData);
}

function readProxyHeader(tls: TlsServer, socket: Socket, opts: FrontOptions): void {
  const refuse = (reason: ProxyRefusal, detail: string): void => {
    opts.onRefused?.(reason, detail);
    socket.destroy();
  };
  const peer = socket.remoteAddress ?? '';
  if (!opts.isTrusted(peer)) {
    refuse('untrusted_peer', peer);
    return;
  }
  let buf: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => {
    socket.removeListener('data', onData);
    refuse('header_timeout', peer);
  }, opts.timeoutMs());
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const h = parseProxyHeader(buf.length > V2_MAX_BYTES ? buf.subarray(0, V2_MAX_BYTES) : buf);
    if (h.state === 'incomplete') return;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    if (h.state === 'invalid') {
      refuse('invalid_header', h.reason);
      return;
    }
    socket.pause();
    if (h.source !== undefined) {
      setProxiedAddress(socket, h.source);
      // The TLS server's own `connection` listeners (connection caps, the handshake guard) read this.
      Object.defineProperty(socket, 'remoteAddress', { value: h.source, configurable: true });
    }
    // TLSSocket reads what is buffered on the socket it wraps before its first read from the handle.
    handOff(tls, socket, opts, buf.subarray(h.length));
  };
  socket.on('data', onData);
  socket.once('close', () => clearTimeout(timer));
  socket.on('error', () => socket.destroy());
}
