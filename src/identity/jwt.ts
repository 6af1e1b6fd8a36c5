/**
 * JWT verification with jose: route `auth.jwt` and the CA's one-time tokens. Every jose error (and any
 * other failure to verify) becomes GatewayError('UNAUTHENTICATED') here and nowhere else; the jose
 * error stays as `cause` for the log.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey } from 'jose';
import { systemClock } from '../core/clock.js';
import type { Clock } from '../core/clock.js';
import { durationMs } from '../core/duration.js';
import { GatewayError } from '../core/errors.js';
import type { JwtAuthSpec } from '../spec/schema.js';

/** Asymmetric algorithms only: no "none", and no HMAC with a public key mistaken for a secret. */
export const ASYMMETRIC_ALGORITHMS: readonly string[] = Object.freeze([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
]);

const CHALLENGE = { 'www-authenticate': 'Bearer' } as const;
const INVALID = { 'www-authenticate': 'Bearer error="invalid_token"' } as const;

/** What a verification checks besides the signature. */
export interface VerifyJwtOptions {
  readonly issuer?: string;
  readonly audience?: string;
  readonly algorithms?: readonly string[];
  /** Seconds of leeway for exp/nbf/iat. */
  readonly clockToleranceSec?: number;
  readonly requiredClaims?: readonly string[];
  readonly clock?: Clock;
}

/** Key material jose can verify with: a key, or a key-set lookup. */
export type JwtKey = CryptoKey | Uint8Array | JWTVerifyGetKey | Parameters<typeof jwtVerify>[1];

/** Verifies a compact JWT; resolves to its claims or throws GatewayError('UNAUTHENTICATED'). */
export async function verifyJwt(token: string, key: JwtKey, opts: VerifyJwtOptions = {}): Promise<JWTPayload> {
  const clock = opts.clock ?? systemClock;
  try {
    const { payload } = await jwtVerify(token, key as Parameters<typeof jwtVerify>[1], {
      issuer: opts.issuer,
      audience: opts.audience,
      algorithms: [...(opts.algorithms ?? ASYMMETRIC_ALGORITHMS)],
      clockTolerance: opts.clockToleranceSec ?? 0,
      requiredClaims: opts.requiredClaims ? [...opts.requiredClaims] : undefined,
      currentDate: new Date(clock.now()),
    });
    return payload;
  } catch (err) {
    throw new GatewayError('UNAUTHENTICATED', 'The bearer token is invalid or expired', { cause: err, headers: INVALID });
  }
}

/** The token of an `Authorization: Bearer …` header; throws UNAUTHENTICATED when missing or malformed. */
export function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization === '') {
    throw new GatewayError('UNAUTHENTICATED', 'A bearer token is required', { headers: CHALLENGE });
  }
  const m = /^Bearer[ \t]+([A-Za-z0-9._~+/-]+=*)[ \t]*$/i.exec(authorization);
  if (!m) throw new GatewayError('UNAUTHENTICATED', 'The Authorization header is not a bearer token', { headers: INVALID });
  return m[1] as string;
}

/** A compiled route `auth.jwt`. */
export interface JwtAuth {
  /** Verifies the request's Authorization header; resolves to the claims or throws UNAUTHENTICATED. */
  verify(authorizationHeader: string | undefined): Promise<Record<string, unknown>>;
}

/** How often a remote JWKS is refetched at most / at least. */
const JWKS_COOLDOWN_MS = 30_000;
const JWKS_MAX_AGE_MS = 10 * 60_000;
const JWKS_TIMEOUT_MS = 5_000;

/**
 * Compiles a route's `auth.jwt`. A `jwksFile` (relative to `baseDir`) is read now, so a missing or
 * malformed file fails the config load, not a request. A `jwksUrl` is fetched lazily and cached by jose
 * (refetched after 10 min, or at most every 30 s when a token names an unknown `kid`).
 */
export function compileJwtAuth(spec: JwtAuthSpec, baseDir: string, clock: Clock = systemClock): JwtAuth {
  let keys: JWTVerifyGetKey;
  if (spec.jwksFile !== undefined) {
    const path = resolve(baseDir, spec.jwksFile);
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(readFileSync(path, 'utf8')) as JSONWebKeySet;
    } catch (err) {
      throw new Error(`cannot read JWKS file ${path}: ${(err as Error).message}`);
    }
    if (!jwks || !Array.isArray(jwks.keys)) throw new Error(`JWKS file ${path} has no "keys" array`);
    keys = createLocalJWKSet(jwks);
  } else if (spec.jwksUrl !== undefined) {
    keys = createRemoteJWKSet(new URL(spec.jwksUrl), {
      cooldownDuration: JWKS_COOLDOWN_MS,
      cacheMaxAge: JWKS_MAX_AGE_MS,
      timeoutDuration: JWKS_TIMEOUT_MS,
    });
  } else {
    throw new Error('auth.jwt needs jwksUrl or jwksFile');
  }
  const opts: VerifyJwtOptions = {
    issuer: spec.issuer,
    audience: spec.audience,
    clockToleranceSec: durationMs(spec.clockTolerance) / 1000,
    // jose checks `exp` only when present; required, a token without it is refused (401).
    requiredClaims: spec.requireExp === false ? undefined : ['exp'],
    clock,
  };
  return Object.freeze({
    async verify(authorizationHeader: string | undefined): Promise<Record<string, unknown>> {
      const token = bearerToken(authorizationHeader);
      return { ...(await verifyJwt(token, keys, opts)) };
    },
  });
}
