/** Shared nouns of the data plane. Imports nothing from src. */

/** Who is calling, as proven by a client certificate or a JWT. */
export interface Identity {
  /** SPIFFE id from the client certificate's URI SAN, when a valid one was presented. */
  readonly spiffeId?: string;
  /** sha256 of the client certificate DER, lowercase hex (for x-forwarded-client-cert). */
  readonly certHash?: string;
  /** Claims of a verified JWT. */
  readonly jwtClaims?: Readonly<Record<string, unknown>>;
}

export const ANONYMOUS: Identity = Object.freeze({});

/** Why an upstream attempt failed, in the words of `retries.on`. */
export type UpstreamOutcome = 'ok' | 'connect-failure' | 'reset' | 'timeout' | 'http-5xx';

export type BalanceName = 'round-robin' | 'random' | 'least-request' | 'consistent-hash' | 'peak-ewma';

/** One upstream target as the data path sees it: the URL and its live state. */
export interface TargetRef {
  readonly url: string;
  readonly origin: string;
  readonly weight: number;
  readonly tier: 'primary' | 'backup';
}
