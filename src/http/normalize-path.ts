/**
 * Request path normalisation (SPEC §2): the router and the upstream see the same, canonical path, so a
 * route's access rules can't be sidestepped by spelling the path differently (`/admin` vs `/x/../admin`
 * vs `/%61dmin`). Order follows RFC 3986 §6.2.2: percent-encoding normalisation first, so encoded dots
 * take part in dot-segment removal, then dot segments and duplicate slashes.
 */

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const BACKSLASH = 0x5c;
const HEX_DIGITS = '0123456789ABCDEF';

/** Hex digit value by char code, -1 when not a hex digit. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[0x41 + i] = 10 + i;
  HEX_VALUE[0x61 + i] = 10 + i;
}

/** RFC 3986 unreserved: ALPHA DIGIT "-" "." "_" "~". */
const UNRESERVED = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) UNRESERVED[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) UNRESERVED[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) UNRESERVED[c] = 1;
for (const c of '-._~') UNRESERVED[c.charCodeAt(0)] = 1;

function isControl(c: number): boolean {
  return c < 0x20 || c === 0x7f;
}

function hexValue(c: number): number {
  return c < 128 ? (HEX_VALUE[c] as number) : -1;
}

const SEMICOLON = 0x3b;

/** Is there a "." or ".." segment (or one with ";" parameters, "..;x") starting at `i` (just after a "/")? */
function isDotSegment(raw: string, i: number): boolean {
  const n = raw.length;
  if (i + 1 === n || raw.charCodeAt(i + 1) === SLASH || raw.charCodeAt(i + 1) === SEMICOLON) return true;
  if (raw.charCodeAt(i + 1) !== DOT) return false;
  return i + 2 === n || raw.charCodeAt(i + 2) === SLASH || raw.charCodeAt(i + 2) === SEMICOLON;
}

/**
 * True when the (escape-normalised) path holds "%25" followed by an escape of ".", "/", "\\" or "%":
 * a double-encoded dot segment or separator (`%252e`, `%252f`, `%255c`) that an upstream decoding
 * twice would act on.
 */
function hasDoubleEncoding(path: string): boolean {
  for (let j = path.indexOf('%25'); j !== -1; j = path.indexOf('%25', j + 3)) {
    if (j + 4 >= path.length) continue;
    const hi = hexValue(path.charCodeAt(j + 3));
    const lo = hexValue(path.charCodeAt(j + 4));
    if (hi < 0 || lo < 0) continue;
    const v = hi * 16 + lo;
    if (v === DOT || v === SLASH || v === BACKSLASH || v === PERCENT) return true;
  }
  return false;
}

/** Percent-decodes unreserved characters and upper-cases other escapes; undefined on anything forbidden. */
function normalizeEscapes(raw: string): string | undefined {
  const n = raw.length;
  let out = '';
  let copied = 0;
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (isControl(c) || c === BACKSLASH) return undefined;
    if (c !== PERCENT) continue;
    if (i + 2 >= n) return undefined;
    const hi = hexValue(raw.charCodeAt(i + 1));
    const lo = hexValue(raw.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return undefined;
    const v = hi * 16 + lo;
    // An encoded "/" or "\" would let one segment pose as two to an upstream that decodes it.
    if (v === SLASH || v === BACKSLASH || isControl(v)) return undefined;
    out += raw.slice(copied, i);
    out += UNRESERVED[v] === 1 ? String.fromCharCode(v) : `%${HEX_DIGITS[hi]}${HEX_DIGITS[lo]}`;
    i += 2;
    copied = i + 1;
  }
  return copied === 0 ? raw : out + raw.slice(copied);
}

/** Resolves "." and "..", merges "//"; undefined when ".." climbs above the root. */
function removeDotSegments(path: string): string | undefined {
  const parts = path.split('/');
  const kept: string[] = [];
  for (let k = 1; k < parts.length; k++) {
    const seg = parts[k] as string;
    if (seg === '' || seg === '.') continue;
    // "..;jsessionid=x" is ".." to Tomcat and Spring: refuse parameters on dot segments.
    if (seg.startsWith('.;') || seg.startsWith('..;') || seg.startsWith('.%3B') || seg.startsWith('..%3B')) return undefined;
    if (seg === '..') {
      if (kept.length === 0) return undefined;
      kept.pop();
      continue;
    }
    kept.push(seg);
  }
  if (kept.length === 0) return '/';
  const last = parts[parts.length - 1];
  // "/a/b/", "/a/b/." and "/a/b/c/.." all name a directory: keep the trailing slash (RFC 3986 §5.2.4).
  const trailing = last === '' || last === '.' || last === '..';
  return `/${kept.join('/')}${trailing ? '/' : ''}`;
}

/**
 * Canonicalises a request path (without its query string): resolves "." and ".." segments, merges
 * duplicate slashes, decodes percent-encoded unreserved characters and upper-cases the hex of other
 * escapes. Returns undefined (→ 400 BAD_REQUEST) when the path does not start with "/", contains a
 * control character (NUL included, raw or encoded), a backslash (raw or %5C), an encoded slash (%2F),
 * invalid percent-encoding, a double-encoded ".", "/", "\\" or "%" (`%252e`), ";" parameters on a dot
 * segment (`/..;/x`), or climbs above the root. A path that is already canonical is returned
 * as the same string, without allocating.
 */
export function normalizePath(raw: string): string | undefined {
  const n = raw.length;
  if (n === 0 || raw.charCodeAt(0) !== SLASH) return undefined;
  // Fast path: one pass; most paths have nothing to rewrite.
  let prev = SLASH;
  for (let i = 1; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c === PERCENT || (prev === SLASH && (c === SLASH || (c === DOT && isDotSegment(raw, i))))) {
      const unescaped = normalizeEscapes(raw);
      return unescaped === undefined || hasDoubleEncoding(unescaped) ? undefined : removeDotSegments(unescaped);
    }
    if (isControl(c) || c === BACKSLASH) return undefined;
    prev = c;
  }
  return raw;
}

/** Splits a request target at the first "?": the path, and the query including its "?" (or ""). */
export function splitPathAndQuery(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q === -1 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q) };
}
