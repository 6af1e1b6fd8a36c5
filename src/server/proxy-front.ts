/**
 * `listen.proxyProtocol`: a plain TCP server in front of the TLS server. Each connection must come
 * from a trusted proxy and start with a PROXY protocol v1/v2 header (as HAProxy's `accept-proxy`:
 * no header, a malformed one, or an untrusted peer → the connection is closed). The header is read
 * within a deadline and a size bound; the bytes after it are put back and the socket is handed to
 * the TLS server (`emit('connection')`), whose own connection checks then see the declared address.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import { parseProxyHeader, V2_MAX_BYTES } from '../http/proxy-protocol.js';
import { setProxiedAddress } from '../tls/peer.js';

export type ProxyRefusal = 'untrusted_peer' | 'invalid_header' | 'header_timeout';

export interface ProxyFrontOptions {
  /** Whether the TCP peer may send a PROXY header (read per connection: `trustedProxies` reloads). */
  isTrusted(ip: string): boolean;
  /** How long the header may take to arrive (read per connection). */
  timeoutMs(): number;
  onRefused?(reason: ProxyRefusal, detail: string): void;
}

/** Creates (does not start) the TCP front; `close()` it to stop accepting. */
export function createProxyFront(tls: TlsServer, opts: ProxyFrontOptions): Server {
  return createServer({ pauseOnConnect: false }, (socket: Socket) => {
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
      if (buf.length > h.length) socket.unshift(buf.subarray(h.length));
      tls.emit('connection', socket);
    };
    socket.on('data', onData);
    socket.once('close', () => clearTimeout(timer));
    socket.on('error', () => socket.destroy());
  });
}

/**
 * A plain TCP listener handing each connection to `tls` as its own listener would: used when a reload
 * moves the public listener (`listen.host`/`port`) without `proxyProtocol`.
 */
export function createPassThroughFront(tls: TlsServer): Server {
  return createServer((socket: Socket) => {
    tls.emit('connection', socket);
  });
}
