/**
 * Finding the TLS socket behind a request: the one place that knows how node exposes it for
 * HTTP/1.1 and for HTTP/2 (compat API).
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { TLSSocket } from 'node:tls';

/**
 * The TLS socket of a raw request, or undefined on a plain connection. For HTTP/2 it is the session's
 * socket (one object per connection, so per-socket caches hit across streams), not the per-stream
 * proxy `req.socket`.
 */
export function tlsSocketOf(raw: IncomingMessage | Http2ServerRequest): TLSSocket | undefined {
  const stream = (raw as Http2ServerRequest).stream as Http2ServerRequest['stream'] | undefined;
  const socket = (stream?.session?.socket ?? raw.socket) as TLSSocket | undefined;
  return socket !== undefined && socket !== null && (socket as { encrypted?: boolean }).encrypted === true ? socket : undefined;
}

/** Client addresses declared by a PROXY protocol header, by the raw TCP socket they came on. */
const proxied = new WeakMap<object, string>();

/** Records the address a PROXY header declared for the raw TCP socket `raw` (before TLS starts on it). */
export function setProxiedAddress(raw: object, address: string): void {
  proxied.set(raw, address);
}

/**
 * The connection's peer address: the PROXY protocol source when one was declared for the TCP socket
 * under this TLS socket (node keeps it as `_parent`), else the socket's own remote address.
 */
export function peerAddressOf(socket: TLSSocket | undefined): string | undefined {
  if (socket === undefined) return undefined;
  const raw = (socket as TLSSocket & { _parent?: object | null })._parent;
  return (raw !== undefined && raw !== null ? proxied.get(raw) : undefined) ?? socket.remoteAddress;
}

const TLS_VERSION = Symbol('tollgate.tlsVersion');

/** The negotiated TLS version ("TLSv1.3"), read once per socket; undefined on a plain connection. */
export function tlsVersionOf(socket: TLSSocket | undefined): string | undefined {
  if (socket === undefined) return undefined;
  const s = socket as TLSSocket & { [TLS_VERSION]?: string };
  let v = s[TLS_VERSION];
  if (v === undefined) {
    v = socket.getProtocol() ?? '';
    s[TLS_VERSION] = v;
  }
  return v === '' ? undefined : v;
}
