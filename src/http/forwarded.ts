/**
 * What the upstream learns about the client (SPEC §3): x-forwarded-for, x-forwarded-client-cert, and
 * which peers are trusted proxies.
 */
import { BlockList, isIP } from 'node:net';

const MAPPED_V4_PREFIX = '::ffff:';
const V6_CACHE_LIMIT = 4096;

interface V4Rule {
  readonly net: number;
  readonly mask: number;
}

/** Dotted-quad IPv4 to an unsigned 32-bit number; -1 when `s` is not one. */
function parseIPv4(s: string, from = 0): number {
  let value = 0;
  let octet = -1;
  let dots = 0;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      if (octet < 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = -1;
      dots++;
    } else if (c >= 0x30 && c <= 0x39) {
      octet = octet < 0 ? c - 0x30 : octet * 10 + (c - 0x30);
      if (octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (octet < 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

/** "::ffff:" (any case) followed by something dotted; checked by char code so the hot path allocates nothing. */
function isMappedV4(ip: string): boolean {
  if (ip.length <= MAPPED_V4_PREFIX.length || ip.charCodeAt(0) !== 0x3a || ip.charCodeAt(1) !== 0x3a || ip.charCodeAt(6) !== 0x3a) {
    return false;
  }
  for (let i = 2; i < 6; i++) if ((ip.charCodeAt(i) | 0x20) !== 0x66) return false;
  return ip.indexOf('.', 7) !== -1;
}

function maskOf(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

function parseEntry(entry: string, label: string): { addr: string; bits: number; family: 4 | 6 } {
  const text = entry.trim();
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) throw new Error(`${label}: "${entry}" is not an IP address or CIDR`);
  const max = family === 4 ? 32 : 128;
  let bits = max;
  if (slash !== -1) {
    const b = text.slice(slash + 1);
    bits = /^\d{1,3}$/.test(b) ? Number(b) : NaN;
    if (!(bits >= 0 && bits <= max)) throw new Error(`${label}: "${entry}" has an invalid prefix length`);
  }
  return { addr, bits, family: family === 4 ? 4 : 6 };
}

/**
 * Compiles trusted-proxy CIDRs and plain addresses (IPv4 and IPv6) into a predicate on a peer address
 * (also any other CIDR list, e.g. a route's `ipAccess`; `label` names it in errors).
 * An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is treated as the IPv4 address, on both sides.
 * Throws an Error naming the entry when one is not an address or CIDR. The predicate never throws and
 * answers false for anything that is not an IP address.
 *
 * node:net BlockList is the reference, but its `check` cost about 2.4 µs per call on Node 20 (it builds
 * a native SocketAddress each time), so IPv4 — the common case — is matched here in plain arithmetic and
 * IPv6 answers are cached per address.
 */
export function compileTrustedProxies(cidrs: readonly string[], label = 'trustedProxies'): (ip: string) => boolean {
  if (cidrs.length === 0) return () => false;
  const v4Rules: V4Rule[] = [];
  const all = new BlockList();
  const mappedSpace = new BlockList();
  mappedSpace.addSubnet('::ffff:0.0.0.0', 96, 'ipv6');
  let hasV6 = false;
  // A v6 rule that covers only part of ::ffff:0:0/96 without being written as ::ffff:a.b.c.d: ask BlockList.
  let v4AlsoViaBlockList = false;

  for (const entry of cidrs) {
    const { addr, bits, family } = parseEntry(entry, label);
    if (family === 4) {
      const mask = maskOf(bits);
      v4Rules.push({ net: (parseIPv4(addr) & mask) >>> 0, mask });
      all.addSubnet(addr, bits, 'ipv4');
      continue;
    }
    hasV6 = true;
    all.addSubnet(addr, bits, 'ipv6');
    if (bits <= 96) {
      const probe = new BlockList();
      probe.addSubnet(addr, bits, 'ipv6');
      if (probe.check('::ffff:0.0.0.0', 'ipv6')) v4Rules.push({ net: 0, mask: 0 });
    } else if (isMappedV4(addr)) {
      const mask = maskOf(bits - 96);
      v4Rules.push({ net: (parseIPv4(addr, 7) & mask) >>> 0, mask });
    } else if (mappedSpace.check(addr, 'ipv6')) {
      v4AlsoViaBlockList = true;
    }
  }

  const v6Cache = new Map<string, boolean>();
  const rules = Object.freeze(v4Rules);
  return (ip: string): boolean => {
    const v4 = isMappedV4(ip) ? parseIPv4(ip, 7) : parseIPv4(ip);
    if (v4 >= 0) {
      for (let i = 0; i < rules.length; i++) {
        const r = rules[i] as V4Rule;
        if ((v4 & r.mask) >>> 0 === r.net) return true;
      }
      return v4AlsoViaBlockList && all.check(ip, isMappedV4(ip) ? 'ipv6' : 'ipv4');
    }
    if (!hasV6 || ip.indexOf(':') === -1) return false;
    const cached = v6Cache.get(ip);
    if (cached !== undefined) return cached;
    const trusted = isIP(ip) === 6 && all.check(ip, 'ipv6');
    // Bounded: a flood of distinct source addresses must not grow memory without limit.
    if (v6Cache.size >= V6_CACHE_LIMIT) v6Cache.clear();
    v6Cache.set(ip, trusted);
    return trusted;
  };
}

/**
 * The x-forwarded-for value to send upstream: the client address alone, replacing whatever the client
 * sent, unless the peer is a trusted proxy, in which case the client address is appended to the
 * received value (`"<received>, <clientIp>"`).
 */
export function forwardedFor(received: string | undefined, clientIp: string, trusted: boolean): string {
  if (trusted && received !== undefined) {
    const kept = received.trim();
    if (kept !== '') return `${kept}, ${clientIp}`;
  }
  return clientIp;
}

const NEEDS_QUOTES = /[,;="]/;
const QUOTE = /"/g;

function xfccValue(value: string): string {
  return NEEDS_QUOTES.test(value) ? `"${value.replace(QUOTE, '\\"')}"` : value;
}

/**
 * Formats one x-forwarded-client-cert element in Envoy's format, `By=<by>;Hash=<hex>;URI=<uri>`
 * (URI left out when the client certificate has none). Per Envoy, a value containing "," ";" "=" or
 * '"' is double-quoted, with '"' escaped as '\"'.
 */
export function formatXfcc(cert: { by: string; hash: string; uri?: string | undefined }): string {
  // Every request of a connection sends the same element: it is looked up by certificate hash (the
  // same string object for all of a connection's requests) instead of being built again.
  const hit = xfccCache.get(cert.hash);
  if (hit !== undefined && hit.by === cert.by && hit.uri === cert.uri) return hit.value;
  const head = `By=${xfccValue(cert.by)};Hash=${xfccValue(cert.hash)}`;
  const value = cert.uri === undefined ? head : `${head};URI=${xfccValue(cert.uri)}`;
  if (xfccCache.size >= XFCC_CACHE_MAX) xfccCache.clear();
  xfccCache.set(cert.hash, { by: cert.by, uri: cert.uri, value });
  return value;
}

/** Formatted elements by certificate hash; cleared when full (a client certificate is 64 hex chars + its ids). */
const xfccCache = new Map<string, { readonly by: string; readonly uri: string | undefined; readonly value: string }>();
const XFCC_CACHE_MAX = 4096;

/**
 * The client address as XFF and rate-limit keys should show it: an IPv4-mapped IPv6 socket address
 * (`::ffff:1.2.3.4`, what a dual-stack listener reports) becomes `1.2.3.4`; "" when the socket has none.
 */
export function clientIpOf(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return '';
  return isMappedV4(remoteAddress) ? remoteAddress.slice(MAPPED_V4_PREFIX.length) : remoteAddress;
}
