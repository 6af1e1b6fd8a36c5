/** Writing a forward-auth denial (policy/forward-auth.ts) to the client: the auth service's answer, bounded. */
import type { ClientResponse } from '../proxy/forward.js';
import type { AuthVerdict } from '../policy/forward-auth.js';

type Denial = Extract<AuthVerdict, { pass: false }>;

/**
 * Sends the auth service's status, safe headers and (capped) body, with our `x-request-id` and the
 * extra headers (RateLimit fields, `connection: close`); returns the status written (0 when the
 * response had already started or the client is gone).
 */
export function sendDenial(res: ClientResponse, denial: Denial, requestId: string, extraHeaders: Readonly<Record<string, string>> | null): number {
  if (res.headersSent || res.destroyed || res.writableEnded) return 0;
  const headers: Record<string, string | string[]> = { ...denial.headers };
  if (extraHeaders !== null) Object.assign(headers, extraHeaders);
  headers['content-length'] = String(denial.body.length);
  headers['x-request-id'] = requestId;
  // A 1xx, 204 or 304 from the auth service has no body to send; anything else below 200 is not an answer.
  const status = denial.status < 200 ? 502 : denial.status;
  if (status === 204 || status === 304) delete headers['content-length'];
  res.writeHead(status, headers);
  if (status === 204 || status === 304) res.end();
  else res.end(denial.body);
  return status;
}
