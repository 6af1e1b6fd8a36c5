/**
 * The ALPN protocols a TLS ClientHello offers, read from the first bytes of a connection before TLS
 * (tls-alpn-01, RFC 8737: node picks the certificate in SNICallback before ALPN is known). Pure,
 * bounded to the first TLS record (at most 5 + 2^14 bytes), never throws.
 */

/** The largest first record read: a 5-byte header and a 2^14-byte fragment. */
export const CLIENT_HELLO_MAX_BYTES = 5 + 16_384;

/**
 * `'incomplete'`: more bytes needed; `undefined`: not a ClientHello, malformed, split over several
 * records, or no ALPN extension; else the offered protocol names in order.
 */
export function alpnOf(buf: Uint8Array): string[] | undefined | 'incomplete' {
  if (buf.length < 5) return buf.length === 0 || buf[0] === 0x16 ? 'incomplete' : undefined;
  if (buf[0] !== 0x16 || buf[1] !== 0x03) return undefined;
  const recLen = ((buf[3] as number) << 8) | (buf[4] as number);
  if (recLen < 4 || recLen > 16_384) return undefined;
  if (buf.length < 5 + recLen) return 'incomplete';
  const b = buf.subarray(5, 5 + recLen);
  if (b[0] !== 0x01) return undefined;
  const hsLen = ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number);
  if (hsLen + 4 > b.length) return undefined; // a ClientHello over several records: not ours to read
  const end = 4 + hsLen;
  let p = 4 + 2 + 32; // version, random
  const u8 = (i: number): number => (i < end ? (b[i] as number) : -1);
  const u16 = (i: number): number => (i + 1 < end ? ((b[i] as number) << 8) | (b[i + 1] as number) : -1);
  const sid = u8(p);
  if (sid < 0) return undefined;
  p += 1 + sid;
  const cs = u16(p);
  if (cs < 0) return undefined;
  p += 2 + cs;
  const cm = u8(p);
  if (cm < 0) return undefined;
  p += 1 + cm;
  const extLen = u16(p);
  if (extLen < 0) return undefined;
  p += 2;
  const extEnd = p + extLen;
  if (extEnd > end) return undefined;
  while (p + 4 <= extEnd) {
    const type = u16(p);
    const len = u16(p + 2);
    p += 4;
    if (len < 0 || p + len > extEnd) return undefined;
    if (type === 16) {
      const listLen = u16(p);
      if (listLen < 0 || listLen + 2 !== len) return undefined;
      const out: string[] = [];
      let q = p + 2;
      while (q < p + len) {
        const n = b[q] as number;
        if (n === 0 || q + 1 + n > p + len) return undefined;
        out.push(Buffer.from(b.subarray(q + 1, q + 1 + n)).toString('latin1'));
        q += 1 + n;
      }
      return out;
    }
    p += len;
  }
  return undefined;
}
