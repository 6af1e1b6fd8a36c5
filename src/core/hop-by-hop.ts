/**
 * Hop-by-hop headers (RFC 9110 §7.6.1, SPEC §3): headers that describe one connection and must not be
 * forwarded. In core/ so both the data path (http/hop-headers.ts) and the schema's policy checks
 * (spec/policy-rules.ts, which may import only core/) read one list.
 */

/** Always hop-by-hop, whatever Connection says. Lower-case names. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);
