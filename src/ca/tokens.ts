/**
 * One-time bootstrap tokens: ES256 JWTs signed by the CA's provisioner key, naming exactly one
 * identity (`sub`), for the CA API (`aud`), short-lived, with a random `jti` the authority records as
 * used. Single use itself lives in authority.ts (it needs the state lock); this file is the JWT part.
 */
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, SignJWT } from 'jose';
import type { Clock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import { verifyJwt } from '../identity/jwt.js';

/** `iss` of every bootstrap token. */
export const TOKEN_ISSUER = 'tollgate-ca-provisioner';
/** Seconds of clock skew accepted between the token's maker and the CA. */
export const TOKEN_CLOCK_TOLERANCE_SEC = 30;

/** `aud` of bootstrap tokens for a trust domain: the CA API of that domain. */
export function tokenAudience(trustDomain: string): string {
  return `spiffe://${trustDomain}/tollgate/ca`;
}

/** The provisioner key pair, loaded from its PEM. */
export interface Provisioner {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** RFC 7638 thumbprint, used as the token's `kid`. */
  readonly kid: string;
}

/** Loads a provisioner from a PEM private key (PKCS#8 or SEC1, P-256). */
export async function loadProvisioner(pem: string): Promise<Provisioner> {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('the provisioner key must be an EC P-256 key');
  }
  const publicKey = createPublicKey(privateKey);
  const kid = await calculateJwkThumbprint(await exportJWK(publicKey));
  return { privateKey, publicKey, kid };
}

/** A made token and what the CA will check. */
export interface IssuedToken {
  readonly token: string;
  readonly jti: string;
  readonly expiresAt: Date;
}

/** Signs a bootstrap token for `spiffeId`, valid for `ttlMs` from `clock.now()`. */
export async function createToken(p: {
  provisioner: Provisioner;
  trustDomain: string;
  spiffeId: string;
  ttlMs: number;
  clock: Clock;
}): Promise<IssuedToken> {
  const nowSec = Math.floor(p.clock.now() / 1000);
  const expSec = nowSec + Math.max(1, Math.ceil(p.ttlMs / 1000));
  const jti = randomBytes(16).toString('hex');
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: p.provisioner.kid })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(tokenAudience(p.trustDomain))
    .setSubject(p.spiffeId)
    .setJti(jti)
    .setIssuedAt(nowSec)
    .setNotBefore(nowSec)
    .setExpirationTime(expSec)
    .sign(p.provisioner.privateKey);
  return { token, jti, expiresAt: new Date(expSec * 1000) };
}

/** The claims of a verified bootstrap token. */
export interface TokenClaims {
  readonly sub: string;
  readonly jti: string;
  /** Expiry, ms since the epoch. */
  readonly expMs: number;
}

/** Verifies signature, issuer, audience and time; throws GatewayError('UNAUTHENTICATED') otherwise. */
export async function verifyToken(
  token: string,
  p: { provisioner: Provisioner; trustDomain: string; clock: Clock },
): Promise<TokenClaims> {
  const claims = await verifyJwt(token, p.provisioner.publicKey, {
    issuer: TOKEN_ISSUER,
    audience: tokenAudience(p.trustDomain),
    algorithms: ['ES256'],
    clockToleranceSec: TOKEN_CLOCK_TOLERANCE_SEC,
    requiredClaims: ['sub', 'jti', 'exp'],
    clock: p.clock,
  });
  if (typeof claims.sub !== 'string' || typeof claims.jti !== 'string' || typeof claims.exp !== 'number') {
    throw new GatewayError('UNAUTHENTICATED', 'The bearer token is invalid or expired');
  }
  return { sub: claims.sub, jti: claims.jti, expMs: claims.exp * 1000 };
}
