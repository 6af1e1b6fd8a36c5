/**
 * Redis dies, hangs and comes back: decisions stay bounded in time, fall back to the local
 * fair share, and return to shared counting.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { GatewayError } from '../../src/core/errors.js';
import { bucketParams } from '../../src/store/token-bucket.js';
import { createFailoverStore, type FailoverState, type FailoverStore } from '../../src/store/failover-store.js';
import { createRedisStore } from '../../src/store/redis-store.js';
import { startRedis, waitFor, type TestRedis } from '../support/redis.js';

const COMMAND_TIMEOUT_MS = 100;
const MARGIN_MS = 100; // generous: CI machines run several suites at once

let redis: TestRedis;
const stores: FailoverStore[] = [];
const states: Record<string, FailoverState[]> = {};

function replica(id: string, mode: 'local' | 'deny' = 'local'): FailoverStore {
  states[id] = [];
  const s = createFailoverStore({
    shared: createRedisStore({ url: redis.url, keyPrefix: 'fo:', commandTimeoutMs: COMMAND_TIMEOUT_MS }),
    onStoreFailure: mode,
    replicaId: id,
    clock: systemClock,
    heartbeatIntervalMs: 100,
    onStateChange: (st) => states[id]?.push(st),
  });
  stores.push(s);
  return s;
}

/** Runs one decision and returns how long it took, whether it resolved or threw. */
async function timed(fn: () => unknown): Promise<number> {
  const t = performance.now();
  try {
    await fn();
  } catch {
    // timing only
  }
  return performance.now() - t;
}

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await redis?.stop();
});

describe('failover store against a real Redis', () => {
  it('ok/shared, then local fair share while Redis is dead, then shared again', async () => {
    const a = replica('a');
    const b = replica('b');
    await Promise.all([a.ready(), b.ready()]);
    await waitFor(() => a.replicas === 2 && b.replicas === 2 && a.state === 'shared', { timeoutMs: 3000 });

    // Shared: one limit across both replicas.
    const params = bucketParams(1, 60_000, 10);
    let allowed = 0;
    for (let i = 0; i < 30; i++) if ((await (i % 2 ? a : b).takeToken('k1', params, systemClock.now())).allowed) allowed++;
    expect(allowed).toBe(10);

    // Calls in flight when Redis dies, and calls right after: all settle within the timeout.
    const inFlight = Array.from({ length: 20 }, (_, i) => timed(() => (i % 2 ? a : b).takeToken('k2', params, systemClock.now())));
    redis.kill();
    const durations = await Promise.all(inFlight);
    for (let i = 0; i < 20; i++) durations.push(await timed(() => a.takeToken('k2', params, systemClock.now())));
    expect(Math.max(...durations)).toBeLessThan(COMMAND_TIMEOUT_MS + MARGIN_MS);
    await waitFor(() => a.state === 'local' && b.state === 'local', { timeoutMs: 2000 });
    expect(states['a']).toEqual(['shared', 'local']);

    // Local fair share: 10 tokens / 2 replicas = 5 on a fresh key, synchronously.
    let local = 0;
    for (let i = 0; i < 20; i++) {
      const d = a.takeToken('k3', params, systemClock.now());
      expect(d).not.toBeInstanceOf(Promise);
      if ((await d).allowed) local++;
    }
    expect(local).toBe(5);

    await redis.restart();
    await waitFor(() => a.state === 'shared' && b.state === 'shared', { timeoutMs: 5000 });
    expect(states['a']).toEqual(['shared', 'local', 'shared']);
    let again = 0;
    for (let i = 0; i < 30; i++) if ((await (i % 2 ? a : b).takeToken('k4', params, systemClock.now())).allowed) again++;
    expect(again).toBe(10);
  });

  it('ok/a hung Redis costs at most the command timeout, once', async () => {
    const c = replica('c');
    await waitFor(() => c.state === 'shared', { timeoutMs: 3000 });
    await c.takeToken('h', bucketParams(5, 1000), systemClock.now());
    redis.freeze();
    try {
      const first = await timed(() => c.takeToken('h', bucketParams(5, 1000), systemClock.now()));
      expect(first).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 5);
      expect(first).toBeLessThan(COMMAND_TIMEOUT_MS + MARGIN_MS);
      expect(c.state).toBe('local');
      const next = await timed(() => c.takeToken('h', bucketParams(5, 1000), systemClock.now()));
      expect(next).toBeLessThan(5);
    } finally {
      redis.thaw();
    }
    await waitFor(() => c.state === 'shared', { timeoutMs: 5000 });
  });

  it('error/deny answers STORE_UNAVAILABLE within the command timeout', async () => {
    const d = replica('d', 'deny');
    await waitFor(() => d.state === 'shared', { timeoutMs: 3000 });
    redis.kill();
    const t = performance.now();
    const err = await Promise.resolve()
      .then(() => d.takeToken('x', bucketParams(5, 1000), systemClock.now()))
      .catch((e: unknown) => e);
    expect(performance.now() - t).toBeLessThan(COMMAND_TIMEOUT_MS + MARGIN_MS);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE', headers: { 'retry-after': '1' } });
    await redis.restart();
    await waitFor(() => d.state === 'shared', { timeoutMs: 5000 });
  });
});
