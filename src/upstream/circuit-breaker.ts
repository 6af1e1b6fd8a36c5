import type { CircuitBreakerSpec } from '../spec/schema.js';

/**
 * Admission to one upstream pool (Envoy's max_connections / max_pending_requests). Up to
 * `maxConnections` requests are active; up to `maxPendingRequests` more are admitted as pending (they wait
 * in the connection pool's queue); beyond that the caller answers 503 at once instead of queueing.
 */
export interface CircuitBreaker {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  /** Admitted and not yet released: active plus pending. */
  admitted: number;
  /** Requests refused since the breaker was created (shown in /status; the caller answered 503). */
  rejected: number;
}

/** A closed breaker for the config's limits. */
export function createCircuitBreaker(spec: CircuitBreakerSpec): CircuitBreaker {
  return { maxConnections: spec.maxConnections, maxPendingRequests: spec.maxPendingRequests, admitted: 0, rejected: 0 };
}

/** Admits one request and returns true, or counts a rejection and returns false when active and pending are both full. */
export function tryEnter(cb: CircuitBreaker): boolean {
  if (cb.admitted >= cb.maxConnections + cb.maxPendingRequests) {
    cb.rejected++;
    return false;
  }
  cb.admitted++;
  return true;
}

/** Releases one admitted request (never below zero, so a double release cannot open the gate wider). */
export function leave(cb: CircuitBreaker): void {
  if (cb.admitted > 0) cb.admitted--;
}

/** Requests admitted beyond `maxConnections`, i.e. waiting for a connection. */
export function pendingOf(cb: CircuitBreaker): number {
  return Math.max(0, cb.admitted - cb.maxConnections);
}

/** Requests admitted within `maxConnections`. */
export function activeOf(cb: CircuitBreaker): number {
  return Math.min(cb.admitted, cb.maxConnections);
}
