/**
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2), as an L4 balancer
 * sends it before the TLS ClientHello. Pure: bytes in, a verdict out.
 */
import { isIP } from 'node:net';

/** v2's 12-byte signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** v1: the spec's bound (107 bytes including CRLF). */
export const V1_MAX_BYTES = 107;
/**
 * v2: 16 bytes then up to 65535 of addresses and TLVs. We accept up to this much in all; TLVs seen in
 * practice (AWS VPC endpoint id, Azure link id, ALPN, authority) are far below it.
 */
export const V2_MAX_BYTES = 16 + 2048;

export type ProxyHeader =
  /** Not enough bytes yet to decide. */
  | { readonly state: 'incomplete' }
  /** Not a PROXY header, or a malformed one: close the connection. */
  | { readonly state: 'invalid'; readonly reason: string }
  /**
   * A whole header of `length` bytes. `source` is the client address it declares, or undefined for
   * v1 `UNKNOWN`, v2 `LOCAL` (the balancer's own health check) and non-IP families: then the
   * connection's own peer address stands.
   */
  | { readonly state: 'complete'; readonly length: number; readonly source: string | undefined; readonly version: 1 | 2 };

const INCOMPLETE: ProxyHeader = { state: 'incomplete' };
const invalid = (reason: string): ProxyHeader => ({ state: 'invalid', reason });

/** Whether `buf` so far agrees with `prefix` (as far as both go). */
function agrees(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

/** Parses the PROXY header at the start of `buf` (what the connection has sent so far). */
export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return INCOMPLETE;
  if (agrees(buf, V2_SIGNATURE)) return buf.length < V2_SIGNATURE.length ? INCOMPLETE : parseV2(buf);
  if (agrees(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? INCOMPLETE : parseV1(buf);
  return invalid('no PROXY protocol header');
}

function parseV1(buf: Buffer): ProxyHeader {
  const lf = buf.indexOf(0x0a);
  if (lf === -1) return buf.length >= V1_MAX_BYTES ? invalid('v1 header longer than 107 bytes') : INCOMPLETE;
  if (lf + 1 > V1_MAX_BYTES) return invalid('v1 header longer than 107 bytes');
  if (buf[lf - 1] !== 0x0d) return invalid('v1 header not ended by CRLF');
  const line = buf.toString('latin1', 0, lf - 1);
  const parts = line.split(' ');
  const length = lf + 1;
  if (parts[1] === 'UNKNOWN') return { state: 'complete', length, source: undefined, version: 1 };
  if (parts.length !== 6) return invalid('v1 header needs protocol, two addresses and two ports');
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0;
  if (family === 0) return invalid(`v1 protocol "${proto}" is not TCP4, TCP6 or UNKNOWN`);
  if (isIP(src) !== family || isIP(dst) !== family) return invalid(`v1 addresses are not ${proto} addresses`);
  if (!isPort(sport) || !isPort(dport)) return invalid('v1 ports must be 0-65535');
  return { state: 'complete', length, source: src, version: 1 };
}

function isPort(s: string): boolean {
  return /^(0|[1-9][0-9]{0,4})$/.test(s) && Number(s) <= 65535;
}

function parseV2(buf: Buffer): ProxyHeader {
  if (buf.length < 16) return INCOMPLETE;
  const verCmd = buf[12] as number;
  if (verCmd >> 4 !== 2) return invalid('v2 version nibble is not 2');
  const command = verCmd & 0x0f;
  if (command > 1) return invalid('v2 command is neither LOCAL nor PROXY');
  const famProto = buf[13] as number;
  const len = buf.readUInt16BE(14);
  const length = 16 + len;
  if (length > V2_MAX_BYTES) return invalid(`v2 header longer than ${V2_MAX_BYTES} bytes`);
  if (buf.length < length) return INCOMPLETE;
  if (command === 0) return { state: 'complete', length, source: undefined, version: 2 };
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  if (transport > 2) return invalid('v2 transport is not STREAM or DGRAM');
  if (family === 1) {
    if (len < 12) return invalid('v2 IPv4 address block too short');
    const a = buf.subarray(16, 20);
    return { state: 'complete', length, source: `${a[0]}.${a[1]}.${a[2]}.${a[3]}`, version: 2 };
  }
  if (family === 2) {
    if (len < 36) return invalid('v2 IPv6 address block too short');
    return { state: 'complete', length, source: formatIPv6(buf.subarray(16, 32)), version: 2 };
  }
  if (family === 0 || family === 3) return { state: 'complete', length, source: undefined, version: 2 }; // UNSPEC, UNIX
  return invalid('v2 address family unknown');
}

/** 16 bytes to the RFC 5952 text form (`::ffff:a.b.c.d` stays as node prints such peers). */
function formatIPv6(b: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  // The longest run of two or more zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best === -1) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
