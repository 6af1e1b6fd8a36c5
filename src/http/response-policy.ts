/**
 * What a route does to its responses (issue 16), compiled per route: header policy, CORS and
 * compression. A route with none of them has no ResponsePolicy at all, so the response path pays one
 * null check. Order on a proxied response: header policy (global, then route) → CORS → compression;
 * x-request-id and the RateLimit fields are set after all of them (forward.ts).
 */
import { applyToRecord, type CompiledHeaderOps } from './header-policy.js';
import { applyActualCors, type CompiledCors } from './cors.js';
import { compressionFor, type CompiledCompression, type Encoding } from './compress.js';

export interface ResponsePolicy {
  readonly ops: CompiledHeaderOps | undefined;
  readonly cors: CompiledCors | undefined;
  readonly compression: CompiledCompression | undefined;
}

/** What the response path needs from the request. */
export interface RequestFacts {
  readonly method: string;
  header(name: string): string | undefined;
}

export function compileResponsePolicy(ops: CompiledHeaderOps | undefined, cors: CompiledCors | undefined, compression: CompiledCompression | undefined): ResponsePolicy | undefined {
  if (ops === undefined && cors === undefined && compression === undefined) return undefined;
  return Object.freeze({ ops, cors, compression });
}

/**
 * Applies the policy to an upstream response's headers (lower-case keys) in place; returns the
 * encoding to compress the body with, or undefined.
 */
export function applyResponsePolicy(headers: Record<string, string | string[]>, p: ResponsePolicy, status: number, req: RequestFacts): Encoding | undefined {
  if (p.ops !== undefined) applyToRecord(headers, p.ops);
  if (p.cors !== undefined) applyActualCors(headers, p.cors, req.header('origin'));
  if (p.compression === undefined) return undefined;
  return compressionFor(
    p.compression,
    { method: req.method, status, ranged: req.header('range') !== undefined, acceptEncoding: req.header('accept-encoding') },
    headers,
  );
}

/**
 * Applies header policy and CORS to an answer the gateway makes itself (errors, redirects): the
 * route's policy when a route matched, else the global header policy.
 */
export function decorateEdgeAnswer(headers: Record<string, string | string[]>, p: ResponsePolicy | undefined, globalOps: CompiledHeaderOps | undefined, origin: string | undefined): void {
  if (p === undefined) {
    if (globalOps !== undefined) applyToRecord(headers, globalOps);
    return;
  }
  if (p.ops !== undefined) applyToRecord(headers, p.ops);
  if (p.cors !== undefined) applyActualCors(headers, p.cors, origin);
}
