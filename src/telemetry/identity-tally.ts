/**
 * Per-identity request counts and quota use, for the admin console's "top identities". Identities
 * are user data (any client with a certificate or a JWT makes one), so the table is bounded: once
 * `maxIdentities` are held, requests of identities not yet held are only counted as `overflow`.
 * The per-request cost is one Map lookup and an increment.
 */
import type { Identity } from '../core/types.js';

/** What the console shows of one identity. */
export interface IdentityUse {
  readonly id: string;
  readonly requests: number;
  /** The last quota decision seen for this identity: the route, how much of the window is used, of what limit. */
  readonly quota: { readonly route: string; readonly used: number; readonly limit: number } | undefined;
}

interface Entry {
  requests: number;
  quota: { route: string; used: number; limit: number } | undefined;
}

/** The name an identity is counted under: its SPIFFE id, else its JWT `sub`, else `anonymous`. */
export function identityKey(identity: Identity): string {
  if (identity.spiffeId !== undefined) return identity.spiffeId;
  const sub = identity.jwtClaims?.sub;
  return typeof sub === 'string' && sub !== '' ? `jwt:${sub}` : 'anonymous';
}

/** A bounded table of request counts by identity key. */
export class IdentityTally {
  readonly #entries = new Map<string, Entry>();
  #overflow = 0;

  constructor(readonly maxIdentities = 1000) {}

  /** Counts one request of `id`. */
  count(id: string): void {
    const e = this.#entries.get(id);
    if (e !== undefined) e.requests++;
    else if (this.#entries.size < this.maxIdentities) this.#entries.set(id, { requests: 1, quota: undefined });
    else this.#overflow++;
  }

  /** Records a quota decision for `id` on `route`: `remaining` of `limit` left in the window. */
  observeQuota(id: string, route: string, remaining: number, limit: number): void {
    let e = this.#entries.get(id);
    if (e === undefined) {
      // The decision comes before the request is counted (when it finishes): hold the identity now.
      if (this.#entries.size >= this.maxIdentities) return;
      this.#entries.set(id, (e = { requests: 0, quota: undefined }));
    }
    const used = Math.max(0, limit - remaining);
    if (e.quota === undefined) e.quota = { route, used, limit };
    else {
      e.quota.route = route;
      e.quota.used = used;
      e.quota.limit = limit;
    }
  }

  /** Requests of identities that found the table full. */
  get overflow(): number {
    return this.#overflow;
  }

  /** Identities held. */
  get size(): number {
    return this.#entries.size;
  }

  /** The `n` identities with the most requests, most first (ties by name). */
  top(n: number): IdentityUse[] {
    const all: IdentityUse[] = [];
    for (const [id, e] of this.#entries) all.push({ id, requests: e.requests, quota: e.quota === undefined ? undefined : { ...e.quota } });
    all.sort((a, b) => b.requests - a.requests || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return all.slice(0, Math.max(0, n));
  }
}
