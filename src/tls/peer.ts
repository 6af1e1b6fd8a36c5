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
