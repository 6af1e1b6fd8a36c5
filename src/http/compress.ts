/**
 * Response compression (issue 16): gzip and br with node:zlib, for text-like responses the upstream
 * did not compress. `compressionFor` decides from the request and the response head (pure);
 * `createCompressor` makes the zlib stream the response path writes through.
 */
import { constants as z, createBrotliCompress, createGzip, type BrotliCompress, type Gzip } from 'node:zlib';
import { addVary } from './header-policy.js';

export type Encoding = 'br' | 'gzip';

export interface CompressionSettings {
  /** `type/subtype`, `type/*` or `type/*+suffix` (e.g. `application/*+json`). */
  readonly types: readonly string[];
  readonly minBytes: number;
  /** 1–9: gzip level and brotli quality alike. */
  readonly level: number;
}

export interface CompiledCompression {
  readonly exact: ReadonlySet<string>;
  readonly majors: ReadonlySet<string>;
  readonly suffixes: readonly string[];
  readonly minBytes: number;
  readonly level: number;
}

export function compileCompression(s: CompressionSettings): CompiledCompression {
  const exact = new Set<string>();
  const majors = new Set<string>();
  const suffixes: string[] = [];
  for (const t of s.types.map((x) => x.toLowerCase())) {
    const [major, minor] = t.split('/') as [string, string];
    if (minor === '*') majors.add(major);
    else if (minor.startsWith('*+')) suffixes.push(`${major}/+${minor.slice(2)}`);
    else exact.add(t);
  }
  return Object.freeze({ exact, majors, suffixes: Object.freeze(suffixes), minBytes: s.minBytes, level: s.level });
}

/** Whether a Content-Type (parameters allowed) is one to compress. Server-sent events never are. */
export function compressibleType(c: CompiledCompression, contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  const mime = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (mime === 'text/event-stream') return false;
  if (c.exact.has(mime)) return true;
  const slash = mime.indexOf('/');
  if (slash <= 0) return false;
  const major = mime.slice(0, slash);
  if (c.majors.has(major)) return true;
  const plus = mime.lastIndexOf('+');
  if (plus > slash) {
    const key = `${major}/${mime.slice(plus)}`;
    for (const s of c.suffixes) if (s === key) return true;
  }
  return false;
}

/**
 * The encoding to use for an Accept-Encoding value (RFC 9110 §12.5.3), or undefined. q-values count;
 * `*` stands for encodings not named; br is preferred at equal q.
 */
export function negotiateEncoding(acceptEncoding: string | undefined): Encoding | undefined {
  if (acceptEncoding === undefined || acceptEncoding === '') return undefined;
  let br = -1;
  let gzip = -1;
  let star = -1;
  for (const part of acceptEncoding.split(',')) {
    const [rawName, ...params] = part.split(';');
    const name = (rawName ?? '').trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m !== null) q = Number(m[1]);
    }
    if (!Number.isFinite(q)) q = 0;
    if (name === 'br') br = q;
    else if (name === 'gzip' || name === 'x-gzip') gzip = Math.max(gzip, q);
    else if (name === '*') star = q;
  }
  if (br < 0) br = star;
  if (gzip < 0) gzip = star;
  if (br > 0 && br >= gzip) return 'br';
  if (gzip > 0) return 'gzip';
  return undefined;
}

/** What a response looks like to the decision. */
export interface ResponseFacts {
  readonly method: string;
  readonly status: number;
  /** The request carried a Range header. */
  readonly ranged: boolean;
  readonly acceptEncoding: string | undefined;
}

/**
 * Decides for one response and adjusts its headers in place: returns the encoding to compress with
 * (Content-Encoding set, Content-Length removed, a strong ETag made weak, Vary: Accept-Encoding), or
 * undefined (Vary still added when only the client's Accept-Encoding stood in the way).
 */
export function compressionFor(c: CompiledCompression, facts: ResponseFacts, headers: Record<string, string | string[]>): Encoding | undefined {
  const { status } = facts;
  if (facts.method === 'HEAD' || status < 200 || status === 204 || status === 206 || status === 304 || facts.ranged) return undefined;
  if (headers['content-encoding'] !== undefined || headers['content-range'] !== undefined) return undefined;
  const cc = headers['cache-control'];
  if (typeof cc === 'string' && /(^|,)\s*no-transform\s*(,|$)/i.test(cc)) return undefined;
  const ct = headers['content-type'];
  if (!compressibleType(c, Array.isArray(ct) ? ct[0] : ct)) return undefined;
  const cl = headers['content-length'];
  if (typeof cl === 'string' && Number(cl) < c.minBytes) return undefined;
  addVary(headers, 'Accept-Encoding');
  const enc = negotiateEncoding(facts.acceptEncoding);
  if (enc === undefined) return undefined;
  headers['content-encoding'] = enc;
  delete headers['content-length'];
  const etag = headers.etag;
  if (typeof etag === 'string' && !etag.startsWith('W/')) headers.etag = `W/${etag}`;
  return enc;
}

export type Compressor = Gzip | BrotliCompress;

/** A zlib stream for `enc` at `level` (1–9). */
export function createCompressor(enc: Encoding, level: number): Compressor {
  if (enc === 'gzip') return createGzip({ level });
  return createBrotliCompress({ params: { [z.BROTLI_PARAM_QUALITY]: level, [z.BROTLI_PARAM_MODE]: z.BROTLI_MODE_TEXT } });
}

/** Pushes out what the compressor holds so far (a chunked response keeps streaming). */
export function flushCompressor(c: Compressor, enc: Encoding): void {
  c.flush(enc === 'gzip' ? z.Z_SYNC_FLUSH : z.BROTLI_OPERATION_FLUSH);
}
