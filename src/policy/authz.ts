/**
 * Route `auth.mtls.allow`: compiled once per config into an exact-id set and a prefix list, so a
 * request costs one Set lookup plus a startsWith per `/*` pattern, no regex.
 */

// Same grammar as identity/spiffe.ts (policy does not import its data-plane siblings).
const PATTERN_RE = /^spiffe:\/\/[a-z0-9._-]+((\/[A-Za-z0-9._-]+)*)(\/\*)?$/;

function compilePattern(pattern: string): { exact?: string; prefix?: string } {
  const m = PATTERN_RE.exec(pattern);
  const path = m?.[1] ?? '';
  if (!m || path.split('/').some((seg) => seg === '.' || seg === '..')) throw new Error(`"${pattern}" is not a SPIFFE id or id/* pattern`);
  if (m[3] !== undefined) return { prefix: pattern.slice(0, -1) };
  if (path === '') throw new Error(`"${pattern}" names a trust domain, not a workload; use "${pattern}/*"`);
  return { exact: pattern };
}

/** The verdict of an allow-list: no identity at all, an identity not on the list, or allowed. */
export type MtlsVerdict = 'ok' | 'unauthenticated' | 'forbidden';

/**
 * Compiles allow patterns (exact SPIFFE ids, or `spiffe://td/path/*` for every id below that path at
 * any depth) into a per-request check. Throws on an invalid pattern (config validation has already
 * rejected those). An empty list allows nobody.
 */
export function compileMtlsAllow(patterns: readonly string[]): (spiffeId: string | undefined) => MtlsVerdict {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const p of patterns) {
    const compiled = compilePattern(p);
    if (compiled.exact !== undefined) exact.add(compiled.exact);
    else if (compiled.prefix !== undefined) prefixes.push(compiled.prefix);
  }
  // A prefix covered by a shorter one adds nothing.
  prefixes.sort((a, b) => a.length - b.length);
  const minimal = prefixes.filter((p, i) => !prefixes.slice(0, i).some((q) => p.startsWith(q)));
  const frozen = Object.freeze(minimal);
  return (spiffeId: string | undefined): MtlsVerdict => {
    if (spiffeId === undefined) return 'unauthenticated';
    if (exact.has(spiffeId)) return 'ok';
    for (let i = 0; i < frozen.length; i++) {
      const prefix = frozen[i] as string;
      if (spiffeId.length > prefix.length && spiffeId.startsWith(prefix)) return 'ok';
    }
    return 'forbidden';
  };
}
