/** Writes the errors the gateway makes itself, always as SPEC §3 JSON. */
import { GatewayError, renderError } from '../core/errors.js';
import type { ClientResponse } from '../proxy/forward.js';

/** Anything that is not a GatewayError becomes a generic 500; its cause belongs in the log. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('INTERNAL', 'Internal error', { cause: err });
}

/**
 * Sends `err` as JSON on `res` when nothing was sent yet; returns the status written (0 when the
 * response had already started or the client is gone).
 */
export function sendError(
  res: ClientResponse,
  err: GatewayError,
  requestId: string,
  extraHeaders?: Readonly<Record<string, string>>,
  close = false,
  /** Header policy and CORS for the answer (issue 16); applied before the gateway's own fields. */
  decorate?: (headers: Record<string, string | string[]>) => void,
): number {
  if (res.headersSent || res.destroyed || res.writableEnded) return 0;
  const rendered = renderError(err, requestId);
  const headers: Record<string, string | string[]> = extraHeaders ? { ...rendered.headers, ...extraHeaders, ...err.headers } : { ...rendered.headers };
  if (decorate !== undefined) {
    decorate(headers);
    // What the answer needs to be read stays the gateway's.
    Object.assign(headers, rendered.headers, extraHeaders, err.headers);
  }
  if (close && !('stream' in res)) headers.connection = 'close';
  res.writeHead(rendered.status, headers);
  res.end(rendered.body);
  return rendered.status;
}
