/**
 * SPIFFE ids (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md): parsing, validation
 * and the allow-list patterns of `auth.mtls.allow`. Pure.
 */

/** A parsed SPIFFE id. `path` is "" for a trust-domain id, else starts with "/". */
export interface SpiffeId {
  readonly trustDomain: string;
  readonly path: string;
}

const TRUST_DOMAIN_RE = /^[a-z0-9._-]+$/;
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;
const MAX_ID_BYTES = 2048;
const PREFIX = 'spiffe://';

/** True when `td` is a valid SPIFFE trust domain name (lower case letters, digits, ".", "-", "_"). */
export function isTrustDomain(td: string): boolean {
  return td.length > 0 && td.length <= 255 && TRUST_DOMAIN_RE.test(td);
}

/**
 * Parses a SPIFFE id strictly: lower-case scheme and trust domain, no port, user info, query or
 * fragment, no empty, "." or ".." segments, no trailing slash. Undefined when invalid.
 */
export function parseSpiffeId(text: string): SpiffeId | undefined {
  if (text.length > MAX_ID_BYTES || !text.startsWith(PREFIX)) return undefined;
  const rest = text.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  if (!isTrustDomain(trustDomain)) return undefined;
  if (slash === -1) return { trustDomain, path: '' };
  const path = rest.slice(slash);
  const segments = path.slice(1).split('/');
  for (const seg of segments) {
    if (!SEGMENT_RE.test(seg) || seg === '.' || seg === '..') return undefined;
  }
  return { trustDomain, path };
}

/** Parses an id that names a workload: valid, with a non-empty path, and (when given) in `trustDomain`. */
export function parseWorkloadId(text: string, trustDomain?: string): SpiffeId | undefined {
  const id = parseSpiffeId(text);
  if (id === undefined || id.path === '') return undefined;
  if (trustDomain !== undefined && id.trustDomain !== trustDomain) return undefined;
  return id;
}

/** The id of a workload path in a trust domain: `spiffeIdOf("tollgate.local", "/web")`. */
export function spiffeIdOf(trustDomain: string, path: string): string {
  return `${PREFIX}${trustDomain}${path.startsWith('/') ? path : `/${path}`}`;
}

/**
 * A compiled `auth.mtls.allow` entry: an exact id, or `spiffe://td/some/path/*`, which matches every id
 * strictly below `spiffe://td/some/path/` at any depth (not `spiffe://td/some/path` itself).
 */
export type SpiffePattern = { readonly kind: 'exact'; readonly id: string } | { readonly kind: 'prefix'; readonly prefix: string };

/** Compiles one allow-list pattern; throws a plain Error naming the pattern when it is not valid. */
export function compileSpiffePattern(pattern: string): SpiffePattern {
  if (pattern.endsWith('/*')) {
    const base = pattern.slice(0, -2);
    // "spiffe://td/*" is allowed: everything in the trust domain.
    if (parseSpiffeId(base) === undefined) throw new Error(`"${pattern}" is not a SPIFFE id pattern`);
    return { kind: 'prefix', prefix: `${base}/` };
  }
  if (parseSpiffeId(pattern) === undefined) throw new Error(`"${pattern}" is not a SPIFFE id`);
  return { kind: 'exact', id: pattern };
}

/** True when a valid SPIFFE id matches a compiled pattern. */
export function matchSpiffePattern(pattern: SpiffePattern, id: string): boolean {
  return pattern.kind === 'exact' ? id === pattern.id : id.length > pattern.prefix.length && id.startsWith(pattern.prefix);
}
