/**
 * Chooses where the CA's mutable state lives (ca/state.ts): with `store.type: redis` in Redis, shared
 * by every replica using the same `store.redis` (url and keyPrefix) and trust domain; otherwise the
 * CA directory's files (undefined here: the authority's default). The keys stay files either way.
 * Read at start: a reload that changes `store` moves the counters, not the CA state (a warning says so).
 */
import type { Clock } from '../core/clock.js';
import { durationMs } from '../core/duration.js';
import type { GatewaySpec } from '../spec/schema.js';
import type { Logger } from '../telemetry/logger.js';
import type { CaStateStore } from '../ca/state.js';
import { createRedisCaState } from '../ca/redis-state.js';

/** What the CA state is built from: the YAML that decides it. */
export function caStatePlan(spec: GatewaySpec): string {
  const s = spec.store;
  return JSON.stringify(s.type === 'redis' ? [s.type, s.redis.url, s.redis.keyPrefix, spec.ca.trustDomain] : [s.type]);
}

/** The Redis CA state for `spec`, or undefined for the file state. Call `open()` (openAuthority does). */
export function createCaStateFor(spec: GatewaySpec, deps: { clock: Clock; logger?: Logger }): CaStateStore | undefined {
  if (spec.store.type !== 'redis') return undefined;
  const log = deps.logger;
  return createRedisCaState({
    url: spec.store.redis.url,
    keyPrefix: `${spec.store.redis.keyPrefix}ca:${spec.ca.trustDomain}:`,
    commandTimeoutMs: durationMs(spec.store.redis.commandTimeout),
    pollIntervalMs: durationMs(spec.ca.revocationPollInterval),
    clock: deps.clock,
    onAvailability: (up, cause) => {
      if (up) log?.warn({ msg: 'CA state store back; signing resumed', store: 'redis' });
      else log?.error({ msg: 'CA state store unreachable; signing refused, verification keeps the last revocation list', store: 'redis', err: cause?.message });
    },
    onRevocations: (c) => log?.info({ msg: 'revocation list updated', count: c.count, previous: c.previous, source: c.source }),
    onConnectionError: (err) => log?.debug({ msg: 'CA state redis connection error', err: err.message }),
  });
}
