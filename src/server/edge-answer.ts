/**
 * Answers a route gives at the edge, without an upstream (issue 16): redirects and CORS preflights.
 * Both carry x-request-id and the route's response header policy. Checked after routing and
 * `ipAccess`, before identity and limits (a preflight carries no credentials).
 */
import { GatewayError } from '../core/errors.js';
import { isPreflight, preflightHeaders } from '../http/cors.js';
import { redirectLocation } from '../http/redirect.js';
import { decorateEdgeAnswer } from '../http/response-policy.js';
import type { ClientRequest, ClientResponse } from '../proxy/forward.js';
import type { CompiledRoute, RuntimeSnapshot } from '../runtime/snapshot.js';

function headerOf(req: ClientRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function send(res: ClientResponse, status: number, headers: Record<string, string | string[]>, close: boolean): number {
  if (res.headersSent || res.writableEnded) return 0;
  if (close && !('stream' in res)) headers.connection = 'close';
  (res as { writeHead(s: number, h: Record<string, string | string[]>): unknown }).writeHead(status, headers);
  res.end();
  return status;
}

/**
 * Answers the request when the route redirects or it is a CORS preflight; returns the status written
 * (0 when the client was gone), or undefined to go on. Throws GatewayError to refuse (403 for a
 * preflight the route's CORS policy does not allow).
 */
export function answerAtEdge(rt: CompiledRoute, snap: RuntimeSnapshot, req: ClientRequest, res: ClientResponse, requestId: string, authority: string, path: string, query: string, close: boolean): number | undefined {
  const method = req.method ?? 'GET';
  if (rt.cors !== undefined) {
    const origin = headerOf(req, 'origin');
    const requestMethod = headerOf(req, 'access-control-request-method');
    if (isPreflight(method, origin, requestMethod)) {
      const h = preflightHeaders(rt.cors, origin as string, requestMethod as string, headerOf(req, 'access-control-request-headers'));
      if (h === undefined) throw new GatewayError('FORBIDDEN', 'CORS preflight refused: origin, method or headers not allowed on this route');
      const headers: Record<string, string | string[]> = h;
      if (rt.response?.ops !== undefined) decorateEdgeAnswer(headers, { ops: rt.response.ops, cors: undefined, compression: undefined }, undefined, undefined);
      headers['content-length'] = '0';
      headers['x-request-id'] = requestId;
      return send(res, 204, headers, close);
    }
  }
  if (rt.redirect !== undefined) {
    const location = redirectLocation(rt.redirect, authority, path, query);
    if (location === undefined) throw new GatewayError('BAD_REQUEST', 'The request authority cannot be redirected');
    const headers: Record<string, string | string[]> = { location, 'content-length': '0' };
    decorateEdgeAnswer(headers, rt.response, snap.responseHeaders, headerOf(req, 'origin'));
    headers['x-request-id'] = requestId;
    return send(res, rt.redirect.status, headers, close);
  }
  return undefined;
}
