/**
 * The client address of a request, decided in one place: the connection's peer (the PROXY protocol
 * source when the listener speaks it, else the socket's), then, when that peer is a trusted proxy, the
 * first untrusted hop of x-forwarded-for walking from the right (like nginx's `real_ip_recursive` and
 * Traefik's trusted IPs). Per-IP limits, `hashBy: ip`, route IP rules and the access log all read it.
 */
import { isIP } from 'node:net';
import { clientIpOf } from './forwarded.js';

/** Most x-forwarded-for entries examined: past it, the hop reached so far is the client. */
export const MAX_XFF_HOPS = 32;

/** One x-forwarded-for entry as an address: `1.2.3.4`, `1.2.3.4:80`, `[::1]`, `[::1]:80`, `::1`; "" when none. */
function entryAddress(entry: string): string {
  const s = entry.trim();
  if (s.charCodeAt(0) === 91 /* '[' */) {
    const end = s.indexOf(']');
    const inner = end === -1 ? '' : s.slice(1, end);
    return isIP(inner) === 6 ? inner : '';
  }
  if (isIP(s) !== 0) return s;
  const colon = s.indexOf(':');
  if (colon !== -1 && s.indexOf(':', colon + 1) === -1) {
    const host = s.slice(0, colon);
    if (isIP(host) === 4) return host;
  }
  return '';
}

/**
 * The client address: `peer` (already normalised, e.g. by `clientIpOf`) unless it is trusted, then
 * the rightmost x-forwarded-for hop that is not trusted. When every hop is trusted, the leftmost; when
 * a trusted hop sent something that is not an address, that trusted hop (it cannot vouch further).
 */
export function clientAddressOf(peer: string, xff: string | undefined, isTrusted: (ip: string) => boolean): string {
  if (xff === undefined || xff === '' || !isTrusted(peer)) return peer;
  let current = peer;
  let end = xff.length;
  for (let hops = 0; hops < MAX_XFF_HOPS && end > 0; hops++) {
    const comma = xff.lastIndexOf(',', end - 1);
    const hop = entryAddress(xff.slice(comma + 1, end));
    end = comma === -1 ? 0 : comma;
    if (hop === '') return current;
    current = clientIpOf(hop);
    if (!isTrusted(current)) return current;
  }
  return current;
}
