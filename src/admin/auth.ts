/**
 * The admin API's bearer token (`admin.token`, else `admin.tokenFile`, else env TOLLGATE_ADMIN_TOKEN).
 * State-changing requests must carry it as `Authorization: Bearer <token>` whenever one is configured;
 * an admin bound to anything but loopback refuses to start without one (guard.ts adminTokenRequired).
 * Tokens are compared in constant time (both sides hashed to equal length first) and never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { adminTokenRequired } from './guard.js';

export const ADMIN_TOKEN_ENV = 'TOLLGATE_ADMIN_TOKEN';
const MIN_TOKEN_LENGTH = 16;

/** Where the token may come from (the `admin` section and the environment). */
export interface AdminTokenSource {
  readonly token?: string;
  readonly tokenFile?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** A token ready for comparison: only its digest is kept. */
export interface AdminToken {
  readonly digest: Buffer;
  /** Where it came from, for the start-up log line (never the value). */
  readonly source: 'admin.token' | 'admin.tokenFile' | typeof ADMIN_TOKEN_ENV;
}

/** The admin's token set-up cannot be used (start refuses it; `code` lets the CLI print one sentence). */
export class AdminAuthConfigError extends Error {
  readonly code = 'TOLLGATE_ADMIN_AUTH';
  constructor(message: string) {
    super(message);
    this.name = 'AdminAuthConfigError';
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * The configured token, or undefined when none is. Throws (one clear sentence) when the file cannot be
 * read, the token is shorter than 16 characters, or `adminHost` is not loopback and there is no token.
 */
export function resolveAdminToken(adminHost: string, src: AdminTokenSource): AdminToken | undefined {
  let value: string | undefined;
  let source: AdminToken['source'] | undefined;
  if (src.token !== undefined) {
    value = src.token;
    source = 'admin.token';
  } else if (src.tokenFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(src.tokenFile, 'utf8');
    } catch (err) {
      throw new AdminAuthConfigError(`admin.tokenFile ${src.tokenFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    value = (text.split(/\r?\n/)[0] ?? '').trim();
    source = 'admin.tokenFile';
  } else {
    const env = (src.env ?? process.env)[ADMIN_TOKEN_ENV];
    if (env !== undefined && env !== '') {
      value = env.trim();
      source = ADMIN_TOKEN_ENV;
    }
  }
  if (value !== undefined && source !== undefined) {
    if (value.length < MIN_TOKEN_LENGTH) throw new AdminAuthConfigError(`the admin token from ${source} is shorter than ${MIN_TOKEN_LENGTH} characters`);
    return { digest: digest(value), source };
  }
  if (adminTokenRequired(adminHost)) {
    throw new AdminAuthConfigError(
      `admin.host ${adminHost} is not loopback: set admin.token, admin.tokenFile or ${ADMIN_TOKEN_ENV} so state-changing admin requests need a bearer token`,
    );
  }
  return undefined;
}

/** True when `authorization` is `Bearer <the token>` (scheme case-insensitive), compared in constant time. */
export function bearerMatches(token: AdminToken, authorization: string | undefined): boolean {
  if (authorization === undefined) return false;
  const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  if (m === null) return false;
  return timingSafeEqual(digest(m[1] as string), token.digest);
}
