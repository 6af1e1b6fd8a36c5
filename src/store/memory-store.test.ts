import { describe, expect, it } from 'vitest';
import { bucketParams } from '../policy/token-bucket.js';
import { quotaWindow } from '../policy/quota-window.js';
import { runCounterStoreCases } from './counter-store.case.js';
import { createMemoryStore } from './memory-store.js';

const T0 = 1_700_000_000_000;

describe('memory store: CounterStore contract', () => {
  runCounterStoreCases(() => createMemoryStore());
});

describe('memory store: bounded memory', () => {
  it('ok/a flood of distinct keys never holds more than maxKeys', () => {
    const store = createMemoryStore({ maxKeys: 1000 });
    const params = bucketParams(10, 1000);
    let maxSize = 0;
    for (let i = 0; i < 50_000; i++) {
      store.takeToken(`ip:10.0.${i >> 8}.${i & 255}`, params, T0);
      maxSize = Math.max(maxSize, store.size);
    }
    expect(maxSize).toBe(1000);
    expect(store.size).toBe(1000);
  });

  it('ok/eviction takes the least recently used key', () => {
    const store = createMemoryStore({ maxKeys: 2 });
    const params = bucketParams(1, 60_000);
    store.takeToken('a', params, T0);
    store.takeToken('b', params, T0);
    store.takeToken('a', params, T0); // a is now the newest, refused
    store.takeToken('c', params, T0); // evicts b
    expect(store.takeToken('a', params, T0).allowed).toBe(false);
    expect(store.takeToken('b', params, T0).allowed).toBe(true);
  });

  it('ok/idle buckets are dropped once they would be full again', () => {
    const store = createMemoryStore();
    const params = bucketParams(10, 1000); // empty to full in 1 s
    for (let i = 0; i < 100; i++) store.takeToken(`k${i}`, params, T0);
    expect(store.size).toBe(100);
    // Lazy: each call looks at the oldest entries, so steady traffic clears the idle ones.
    for (let i = 0; i < 25; i++) store.takeToken('busy', params, T0 + 1000 + i);
    expect(store.size).toBe(1 + 100 - 50);
    for (let i = 25; i < 50; i++) store.takeToken('busy', params, T0 + 1000 + i);
    expect(store.size).toBe(1);
    store.takeToken('other', params, T0 + 1000);
    store.sweep(T0 + 5000);
    expect(store.size).toBe(0);
  });

  it('ok/past quota windows are dropped', () => {
    const store = createMemoryStore();
    const w = quotaWindow(T0, '1h');
    store.countQuota('q', 5, w, T0);
    store.sweep(w.endMs);
    expect(store.size).toBe(0);
  });

  it('ok/a quota counter does not grow past limit + 1', () => {
    const store = createMemoryStore();
    const w = quotaWindow(T0, '1d');
    for (let i = 0; i < 1000; i++) store.countQuota('q', 2, w, T0);
    expect(store.countQuota('q', 2, w, T0)).toMatchObject({ allowed: false, remaining: 0 });
  });

  it('error/maxKeys must be positive', () => {
    expect(() => createMemoryStore({ maxKeys: 0 })).toThrow(RangeError);
  });
});
