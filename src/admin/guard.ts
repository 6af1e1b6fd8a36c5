/**
 * Browser-facing guards of the admin API (it has no credentials of its own, so the network
 * and the browser's same-origin rules are its protection):
 *
 * - DNS rebinding: a page on `evil.example` whose name is re-pointed at 127.0.0.1 reaches the
 *   admin port with `Host: evil.example`. Only IP literals, loopback names, the configured
 *   `admin.host` and `admin.allowedHosts` are answered.
 * - Cross-site request forgery: any page can make a browser send a "simple" POST (no preflight)
 *   to 127.0.0.1:9901. State-changing requests refuse a foreign `Origin`, a cross-site or
 *   same-site `Sec-Fetch-Site`, and the simple-form content types. Non-browser clients
 *   (curl, scripts) send none of these and keep working.
 * Pure: decides from the request's headers only.
 */
import { isIP } from 'node:net';

/** What the admin accepts as its own name. */
export interface AdminHostPolicy {
  /** Lower-case host names / addresses (no port, IPv6 without brackets). */
  readonly names: ReadonlySet<string>;
}

/** Splits `Host` into its name (lower case, IPv6 unbracketed); undefined when malformed. */
export function hostName(host: string | undefined): string | undefined {
  if (host === undefined || host === '') return undefined;
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return undefined;
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    return h.slice(1, end);
  }
  const m = /^([^:]+)(?::\d{1,5})?$/.exec(h);
  return m === null ? undefined : m[1];
}

/** True for loopback names and addresses (`localhost`, `*.localhost`, 127/8, ::1). */
export function isLoopback(name: string): boolean {
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || name === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(name);
  return false;
}

/**
 * Whether an admin API bound to `adminHost` must have a bearer token for state-changing requests:
 * anything but a loopback address or name (a wildcard `0.0.0.0` / `::` included) can be reached from
 * other machines. An unparseable host counts as not loopback.
 */
export function adminTokenRequired(adminHost: string): boolean {
  const h = adminHost.trim();
  const name = isIP(h) === 6 ? h.toLowerCase() : hostName(h);
  return name === undefined || !isLoopback(name);
}

/** Compiles the accepted names: `admin.host` (unless a wildcard bind address) and `admin.allowedHosts`. */
export function compileAdminHostPolicy(adminHost: string, allowedHosts: readonly string[] = []): AdminHostPolicy {
  const names = new Set<string>();
  for (const n of [adminHost, ...allowedHosts]) {
    const name = hostName(n.includes(':') && isIP(n) === 6 ? `[${n}]` : n);
    // 0.0.0.0 / :: are bind addresses, not names a client may send.
    if (name !== undefined && name !== '0.0.0.0' && name !== '::') names.add(name);
  }
  return Object.freeze({ names });
}

/** True when the admin API answers a request with this `Host`. */
export function isAdminHostAllowed(policy: AdminHostPolicy, host: string | undefined): boolean {
  const name = hostName(host);
  if (name === undefined) return false;
  // An IP literal cannot be a rebinding: the browser sends the name it resolved, and a page served
  // from an IP is its own origin. Accepting them keeps probes (kubelet sends the pod IP) working.
  return isIP(name) !== 0 || isLoopback(name) || policy.names.has(name);
}

const SIMPLE_FORM_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data'];

/**
 * Why a state-changing request is refused as cross-origin, or undefined when it may proceed.
 * `host` is the request's own `Host`: the admin's origin is `http://<host>`.
 */
export function crossOriginRefusal(
  method: string,
  headers: { origin?: string; 'sec-fetch-site'?: string; 'content-type'?: string; host?: string },
): string | undefined {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return undefined;
  const site = headers['sec-fetch-site']?.toLowerCase();
  if (site === 'cross-site' || site === 'same-site') return `Sec-Fetch-Site: ${site}`;
  const origin = headers.origin;
  if (origin !== undefined) {
    const own = headers.host === undefined ? undefined : `http://${headers.host.toLowerCase()}`;
    if (origin.toLowerCase() !== own) return 'foreign Origin';
  }
  const type = headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (method === 'POST' && type !== undefined && SIMPLE_FORM_TYPES.includes(type)) return `content-type ${type}`;
  return undefined;
}
