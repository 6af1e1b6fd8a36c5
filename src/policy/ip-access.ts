/**
 * A route's client-address rules (`ipAccess`): deny CIDRs, then allow CIDRs. Compiled once per load;
 * checked per request against the client address (http/client-address.ts), before identity.
 */
import { compileTrustedProxies } from '../http/forwarded.js';

export interface IpAccessSpec {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

/**
 * A predicate: true when `ip` may use the route. A denied address is refused even when it is also
 * allowed; with a non-empty `allow`, an address outside it is refused; "" (no address) is refused
 * whenever there is an `allow` list. Throws an Error naming the bad entry.
 */
export function compileIpAccess(spec: IpAccessSpec, label = 'ipAccess'): (ip: string) => boolean {
  const denied = compileTrustedProxies(spec.deny, `${label}.deny`);
  if (spec.allow.length === 0) return (ip) => !denied(ip);
  const allowed = compileTrustedProxies(spec.allow, `${label}.allow`);
  return (ip) => allowed(ip) && !denied(ip);
}
