/**
 * The shared suite every CounterStore passes (hono's `runTest({ newRouter })` idea):
 * memory-store.test.ts, the cluster store and the Redis integration tests call it.
 */
import { afterEach, expect, it } from 'vitest';
import { bucketParams } from './token-bucket.js';
import { quotaWindow } from './quota-window.js';
import type { CounterStore } from './counter-store.js';

/** Runs the CounterStore contract against fresh stores from `newStore`. */
export function runCounterStoreCases(newStore: () => CounterStore | Promise<CounterStore>): void {
  const T0 = 1_700_000_000_000;
  let seq = 0;
  const stores: CounterStore[] = [];
  const fresh = async (): Promise<{ store: CounterStore; key: string }> => {
    const store = await newStore();
    stores.push(store);
    seq += 1;
    return { store, key: `case-${process.pid}-${T0 + seq}-${seq}` };
  };
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  it('ok/a backward clock step of an hour: the bucket refills from the new time, never stalls or goes negative', async () => {
    const { store, key } = await fresh();
    const params = bucketParams(1, 1000, 2); // 2 tokens, one a second
    expect((await store.takeToken(key, params, T0)).allowed).toBe(true);
    expect((await store.takeToken(key, params, T0)).allowed).toBe(true);
    expect((await store.takeToken(key, params, T0)).allowed).toBe(false);
    const back = T0 - 3_600_000;
    expect(await store.takeToken(key, params, back)).toMatchObject({ allowed: false, remaining: 0 });
    expect((await store.takeToken(key, params, back + 1000)).allowed).toBe(true);
    expect((await store.takeToken(key, params, back + 1000)).allowed).toBe(false);
  });

  it('ok/burst then refused, with the wait until the next token', async () => {
    const { store, key } = await fresh();
    const params = bucketParams(10, 1000, 3); // 3 tokens, one per 100 ms
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await store.takeToken(key, params, T0));
    expect(got.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(got.map((d) => d.remaining)).toEqual([2, 1, 0, 0]);
    expect(got[2]?.retryAfterMs).toBe(100);
    expect(got[3]?.retryAfterMs).toBe(100);
  });

  it('ok/refills continuously at rate/per', async () => {
    const { store, key } = await fresh();
    const params = bucketParams(10, 1000, 2);
    await store.takeToken(key, params, T0);
    await store.takeToken(key, params, T0);
    expect((await store.takeToken(key, params, T0 + 50)).allowed).toBe(false);
    const d = await store.takeToken(key, params, T0 + 100);
    expect(d).toEqual({ allowed: true, remaining: 0, retryAfterMs: 100 });
  });

  it('ok/idle bucket is full again', async () => {
    const { store, key } = await fresh();
    const params = bucketParams(5, 1000);
    for (let i = 0; i < 5; i++) await store.takeToken(key, params, T0);
    expect(await store.takeToken(key, params, T0 + 60_000)).toEqual({ allowed: true, remaining: 4, retryAfterMs: 0 });
  });

  it('ok/keys are independent', async () => {
    const { store, key } = await fresh();
    const params = bucketParams(1, 1000);
    expect((await store.takeToken(key + 'a', params, T0)).allowed).toBe(true);
    expect((await store.takeToken(key + 'a', params, T0)).allowed).toBe(false);
    expect((await store.takeToken(key + 'b', params, T0)).allowed).toBe(true);
  });

  it('ok/quota counts to the limit, refuses, and a new window starts fresh', async () => {
    const { store, key } = await fresh();
    const now = Date.UTC(2024, 0, 1, 10, 30);
    const w = quotaWindow(now, '1h');
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await store.countQuota(key, 3, w, now));
    expect(got.map((d) => [d.allowed, d.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ]);
    expect(got[0]?.resetMs).toBe(30 * 60_000);
    const next = now + 3_600_000;
    expect(await store.countQuota(key, 3, quotaWindow(next, '1h'), next)).toEqual({
      allowed: true,
      remaining: 2,
      resetMs: 30 * 60_000,
    });
  });

  it('ok/peekQuota reads the count of the current window without counting; 0 for an unknown key or a new window', async () => {
    const { store, key } = await fresh();
    if (store.peekQuota === undefined) throw new Error('every real store implements peekQuota');
    const now = Math.floor(T0 / 3_600_000) * 3_600_000 + 10 * 60_000;
    const w = quotaWindow(now, '1h');
    expect(await store.peekQuota(key, w, now)).toBe(0);
    for (let i = 0; i < 3; i++) await store.countQuota(key, 5, w, now);
    expect(await store.peekQuota(key, w, now)).toBe(3);
    expect(await store.peekQuota(key, w, now)).toBe(3);
    expect((await store.countQuota(key, 5, w, now)).remaining).toBe(1);
    const next = now + 3_600_000;
    expect(await store.peekQuota(key, quotaWindow(next, '1h'), next)).toBe(0);
  });
}
