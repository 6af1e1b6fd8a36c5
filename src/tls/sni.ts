/**
 * Choosing a serving certificate by the client's SNI: compiled once per config (or per file change),
 * looked up per handshake. Exact names beat wildcards; a wildcard `*.example.com` covers exactly one
 * label (`a.example.com`, not `example.com` nor `a.b.example.com`), as RFC 6125 §6.4.3 reads it.
 * Names compare case-insensitively, with a trailing dot ignored. A name listed twice goes to the
 * entry listed first.
 */

/** One serving certificate's names and whatever the caller keys on them (a SecureContext, an index). */
export interface SniEntry<T> {
  readonly names: readonly string[];
  readonly value: T;
}

/** The compiled lookup: exact names, and wildcards keyed by the suffix after `*.`. */
export interface SniTable<T> {
  readonly exact: ReadonlyMap<string, T>;
  readonly wildcard: ReadonlyMap<string, T>;
}

function canonical(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** Builds the table; entries earlier in the list win a name they share with a later one. */
export function compileSniTable<T>(entries: readonly SniEntry<T>[]): SniTable<T> {
  const exact = new Map<string, T>();
  const wildcard = new Map<string, T>();
  for (const e of entries) {
    for (const raw of e.names) {
      const name = canonical(raw);
      if (name.startsWith('*.')) {
        const suffix = name.slice(2);
        if (suffix !== '' && !wildcard.has(suffix)) wildcard.set(suffix, e.value);
      } else if (name !== '' && !exact.has(name)) {
        exact.set(name, e.value);
      }
    }
  }
  return { exact, wildcard };
}

/** The value for `servername`, or undefined (the caller's fallback) when no name covers it. */
export function matchSni<T>(table: SniTable<T>, servername: string | undefined): T | undefined {
  if (servername === undefined || servername === '') return undefined;
  const name = canonical(servername);
  const hit = table.exact.get(name);
  if (hit !== undefined) return hit;
  const dot = name.indexOf('.');
  if (dot <= 0) return undefined;
  return table.wildcard.get(name.slice(dot + 1));
}

/**
 * The DNS names and IP addresses a certificate is for, from node's `X509Certificate.subjectAltName`
 * string (`DNS:a.example, IP Address:127.0.0.1, …`); the subject CN only when there is no DNS or IP SAN.
 */
export function certificateNames(subjectAltName: string | undefined, subject: string | undefined): string[] {
  const names: string[] = [];
  for (const part of (subjectAltName ?? '').split(/,\s*/)) {
    const m = /^(DNS|IP Address):(.+)$/.exec(part.trim());
    if (m?.[2] !== undefined) names.push(m[2].trim());
  }
  if (names.length > 0) return names;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(subject ?? '');
  return cn?.[1] !== undefined ? [cn[1].trim()] : [];
}
