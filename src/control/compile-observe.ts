/**
 * Compiling `auth.forward` and `tracing`: both hold something that must be closed (an undici pool per
 * auth origin, the tracer provider and its exporter), obtained through the build's resource lease so
 * an unchanged one survives a reload and a dropped one is closed after it.
 */
import { Pool } from 'undici';
import { durationMs } from '../core/duration.js';
import type { Random } from '../core/random.js';
import type { Clock } from '../core/clock.js';
import type { ForwardAuthSpec, TracingSpec } from '../spec/schema.js';
import { compileForwardAuth, type ForwardAuth } from '../policy/forward-auth.js';
import { createTracing, type Tracing } from '../telemetry/tracing.js';
import type { Logger } from '../telemetry/logger.js';
import type { ResourceLease } from './resources.js';

/** Connections to one auth origin at most (requests beyond wait in undici's queue, bounded by the auth timeout). */
const AUTH_CONNECTIONS = 128;
/** Dialling the auth service; the per-request `timeout` bounds the whole exchange anyway. */
const AUTH_CONNECT_TIMEOUT_MS = 5_000;

export function compileForwardAuthFor(spec: ForwardAuthSpec, resources: ResourceLease): ForwardAuth {
  const url = new URL(spec.url);
  const pool = resources.obtain(
    `forward-auth\0${url.origin}`,
    () => new Pool(url.origin, { connections: AUTH_CONNECTIONS, connect: { timeout: AUTH_CONNECT_TIMEOUT_MS }, keepAliveTimeout: 30_000 }),
    (p) => p.close(),
  );
  return compileForwardAuth(
    Object.freeze({
      path: url.pathname + url.search,
      copy: Object.freeze(spec.headers.map((h) => h.toLowerCase())),
      responseHeaders: new Set(spec.responseHeaders.map((h) => h.toLowerCase())),
      timeoutMs: durationMs(spec.timeout),
      failureMode: spec.failureMode,
      maxBodyBytes: spec.maxBodyBytes,
    }),
    pool,
  );
}

export function compileTracingFor(spec: TracingSpec, resources: ResourceLease, random: Random, clock: Clock, logger: Logger): Tracing | undefined {
  const endpoint = spec.otlpEndpoint;
  if (endpoint === undefined) return undefined;
  const opts = {
    otlpEndpoint: endpoint,
    sampleRatio: spec.sampleRatio,
    serviceName: spec.serviceName,
    flushIntervalMs: durationMs(spec.flushInterval),
    maxQueueSize: spec.maxQueueSize,
    maxBatchSize: spec.maxBatchSize,
    exportTimeoutMs: durationMs(spec.exportTimeout),
  };
  return resources.obtain(
    `tracing\0${JSON.stringify(opts)}`,
    () => createTracing(opts, random, clock, logger),
    (t) => t.shutdown(),
  );
}
