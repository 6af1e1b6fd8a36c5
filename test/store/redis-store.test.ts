import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketParams, takeToken, type BucketParams, type BucketState } from '../../src/store/token-bucket.js';
import { quotaWindow } from '../../src/store/quota-window.js';
import { runCounterStoreCases } from '../../src/store/counter-store.case.js';
import { StoreUnavailableError } from '../../src/store/counter-store.js';
import { createRedisStore, RedisStore } from '../../src/store/redis-store.js';
import { startRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis;
const open: RedisStore[] = [];

async function store(prefix = `t${process.pid}:`): Promise<RedisStore> {
  const s = createRedisStore({ url: redis.url, keyPrefix: prefix, commandTimeoutMs: 200 });
  open.push(s);
  await s.ready(3000);
  return s;
}

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
  await redis?.stop();
});

describe('redis store: CounterStore contract', () => {
  runCounterStoreCases(() => store());
});

describe('redis store', () => {
  it('ok/Lua bucket gives the pure math result under the same clock', async () => {
    const s = await store('parity:');
    const T0 = 1_700_000_000_000;
    const cases: Array<{ params: BucketParams; steps: number[] }> = [
      { params: bucketParams(100, 1000, 200), steps: [0, 0, 1, 3, 7, 10, 10, 11, 400, 401, 402] },
      { params: bucketParams(3, 1000, 2), steps: [0, 100, 333, 334, 335, 666, 667, 1000, 5000] },
      { params: bucketParams(10, 1000, 1), steps: [0, 10, 30, 60, 100, 101, 150, 90, 50, 250] }, // clock steps back
      { params: bucketParams(7, 60_000, 3), steps: [0, 1, 2, 3, 8571, 8572, 17143, 1e6] },
      { params: bucketParams(0.5, 1000), steps: [0, 1999, 2000, 2001, 4000] },
    ];
    for (const [i, c] of cases.entries()) {
      // Many takes per step, so buckets hit empty and refuse, not only admit.
      let state: BucketState | undefined;
      for (const step of c.steps) {
        for (let k = 0; k < 3; k++) {
          const now = T0 + step;
          const pure = takeToken(state, now, c.params);
          state = pure.state;
          const got = await s.takeToken(`case${i}`, c.params, now);
          expect(got, `case ${i} at +${step} take ${k}`).toEqual({
            allowed: pure.allowed,
            remaining: pure.remaining,
            retryAfterMs: pure.retryAfterMs,
          });
        }
      }
    }
  });

  it('ok/bucket keys expire once they would be full again', async () => {
    const s = await store('ttl:');
    const params = bucketParams(10, 1000, 5); // empty to full in 500 ms
    for (let i = 0; i < 5; i++) await s.takeToken('k', params, 1_700_000_000_000);
    const ttl = await s.client.pttl('ttl:b:k');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(500);
  });

  it('ok/quota key expires at its window end, by the caller\'s clock', async () => {
    const s = await store('qttl:');
    const now = Date.UTC(2020, 0, 1, 10, 59); // far from Redis's own clock
    const w = quotaWindow(now, '1h');
    await s.countQuota('k', 10, w, now);
    const ttl = await s.client.pttl(`qttl:q:k:${w.startMs}`);
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(61_000);
  });

  it('ok/two stores share one limit exactly', async () => {
    const [a, b] = [await store('shared:'), await store('shared:')];
    const params = bucketParams(1, 60_000, 50); // no refill worth speaking of
    const now = 1_700_000_000_000;
    const all = await Promise.all(
      Array.from({ length: 120 }, (_, i) => (i % 2 === 0 ? a : b).takeToken('one', params, now)),
    );
    expect(all.filter((d) => d.allowed)).toHaveLength(50);
    const w = quotaWindow(now, '1d');
    const q = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).countQuota('one', 20, w, now)));
    expect(q.filter((d) => d.allowed)).toHaveLength(20);
  });

  it('ok/scripts are reloaded after SCRIPT FLUSH', async () => {
    const s = await store('flush:');
    await s.takeToken('k', bucketParams(5, 1000), 1);
    await s.client.script('FLUSH');
    expect((await s.takeToken('k', bucketParams(5, 1000), 1)).remaining).toBe(3);
  });

  it('ok/heartbeat counts live replicas and forgets expired ones', async () => {
    const s = await store('hb:');
    const now = 1_700_000_000_000;
    expect(await s.heartbeat('r1', 3000, now)).toBe(1);
    expect(await s.heartbeat('r2', 3000, now + 10)).toBe(2);
    expect(await s.heartbeat('r1', 3000, now + 2000)).toBe(2);
    expect(await s.heartbeat('r1', 3000, now + 4000)).toBe(1); // r2 expired at now + 3010
    await s.leave('r1');
    expect(await s.heartbeat('r3', 3000, now + 4000)).toBe(1);
  });

  it('error/unreachable Redis fails fast with StoreUnavailableError', async () => {
    const s = createRedisStore({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 100 });
    open.push(s);
    const t = performance.now();
    await expect(s.takeToken('k', bucketParams(1, 1000), 1)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(performance.now() - t).toBeLessThan(150);
  });
});
