import { describe, expect, it } from 'vitest';
import { bucketParams } from './token-bucket.js';
import { quotaWindow } from './quota-window.js';
import { runCounterStoreCases } from './counter-store.case.js';
import { ManualClock } from '../core/clock.js';
import { createMemoryStore } from './memory-store.js';

const T0 = 1_700_000_000_000;

describe('memory store: CounterStore contract', () => {
  runCounterStoreCases(() => createMemoryStore());
});

describe('memory store: bounded memory', () => {
  const RATE = 'api:r:0123456789ab:';
  const QUOTA = 'api:q:0123456789ab:';
  const OTHER_QUOTA = 'web:q:ba9876543210:';

  it('ok/a flood of new keys fills only its own limit table and refuses new keys there', () => {
    const rejected: string[] = [];
    const store = createMemoryStore({ maxKeysPerLimit: 1000, onKeyRejected: (route, kind) => rejected.push(`${route}/${kind}`) });
    const params = bucketParams(10, 1000);
    const w = quotaWindow(T0, '1d');
    expect(store.countQuota(`${OTHER_QUOTA}victim`, 5, w, T0)).toMatchObject({ allowed: true, remaining: 4 });
    let maxSize = 0;
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      if (store.takeToken(`${RATE}ip:10.0.${i >> 8}.${i & 255}`, params, T0).tableFull === true) refused++;
      maxSize = Math.max(maxSize, store.size);
    }
    expect(maxSize).toBe(1001);
    expect(refused).toBe(4000);
    expect(rejected.length).toBe(4000);
    expect(rejected[0]).toBe('api/rate');
    expect(store.usage()).toEqual(expect.arrayContaining([{ route: 'api', kind: 'rate', keys: 1000 }, { route: 'web', kind: 'quota', keys: 1 }]));
    // A key held before the table filled keeps counting exactly.
    expect(store.countQuota(`${OTHER_QUOTA}victim`, 5, w, T0)).toMatchObject({ allowed: true, remaining: 3 });
    expect(store.takeToken(`${RATE}ip:10.0.0.0`, params, T0)).toMatchObject({ allowed: true });
  });

  it('ok/full scale: 100,000 attacker quota keys reset neither other clients nor the attacker\'s exhausted quota', () => {
    const store = createMemoryStore({ maxKeysPerLimit: 100_000 });
    const w = quotaWindow(T0, '1d');
    for (let i = 0; i < 3; i++) store.countQuota(`${QUOTA}hdr:attacker`, 2, w, T0);
    for (let i = 0; i < 2; i++) store.countQuota(`${OTHER_QUOTA}ip:192.0.2.1`, 10, w, T0);
    store.countQuota(`${QUOTA}hdr:victim`, 10, w, T0);
    let refused = 0;
    for (let i = 0; i < 100_000; i++) if (store.countQuota(`${QUOTA}hdr:k${i}`, 2, w, T0).tableFull === true) refused++;
    expect(refused).toBe(2); // the table held attacker and victim already
    expect(store.countQuota(`${QUOTA}hdr:attacker`, 2, w, T0)).toMatchObject({ allowed: false, remaining: 0 });
    expect(store.countQuota(`${QUOTA}hdr:victim`, 10, w, T0)).toMatchObject({ allowed: true, remaining: 8 });
    expect(store.countQuota(`${OTHER_QUOTA}ip:192.0.2.1`, 10, w, T0)).toMatchObject({ allowed: true, remaining: 7 });
    // New keys are refused as QUOTA kind with the window's reset, until the calendar window ends.
    expect(store.countQuota(`${QUOTA}hdr:new`, 2, w, T0)).toMatchObject({ allowed: false, tableFull: true, resetMs: w.endMs - T0 });
    const next = quotaWindow(w.endMs, '1d');
    expect(store.countQuota(`${QUOTA}hdr:new`, 2, next, w.endMs)).toMatchObject({ allowed: true, remaining: 1 });
  });

  it('ok/a table nobody asks any more (its limit changed on reload) empties out and goes', () => {
    const store = createMemoryStore();
    const w = quotaWindow(T0, '1h');
    for (let i = 0; i < 10; i++) store.countQuota(`old:q:aaaaaaaaaaaa:k${i}`, 5, w, T0);
    for (let i = 0; i < 40; i++) store.countQuota(`${QUOTA}busy`, 5, quotaWindow(w.endMs + i, '1h'), w.endMs + i);
    expect(store.usage()).toEqual([{ route: 'api', kind: 'quota', keys: 1 }]);
  });

  it('ok/buckets refilled to full are reclaimed to make room; live ones never', () => {
    const store = createMemoryStore({ maxKeysPerLimit: 2 });
    const params = bucketParams(1, 60_000); // one token a minute
    store.takeToken(`${RATE}a`, params, T0);
    store.takeToken(`${RATE}b`, params, T0);
    expect(store.takeToken(`${RATE}c`, params, T0 + 1000)).toMatchObject({ allowed: false, tableFull: true });
    expect(store.takeToken(`${RATE}a`, params, T0 + 1000).allowed).toBe(false); // a kept its empty bucket
    // After a minute a and b are full again (dead): c gets a place.
    expect(store.takeToken(`${RATE}c`, params, T0 + 61_000)).toMatchObject({ allowed: true });
  });

  it('ok/buckets refill on the monotonic clock across a backward wall-clock step; quota windows stay UTC calendar', () => {
    const clock = new ManualClock(Date.parse('2030-01-01T23:59:00Z'));
    const store = createMemoryStore({ clock });
    const params = bucketParams(1, 1000, 1); // one token a second
    expect(store.takeToken(`${RATE}k`, params, clock.now()).allowed).toBe(true);
    expect(store.takeToken(`${RATE}k`, params, clock.now()).allowed).toBe(false);
    clock.set(clock.now() - 3_600_000); // wall clock steps an hour back
    clock.advance(1000);
    expect(store.takeToken(`${RATE}k`, params, clock.now()).allowed).toBe(true);
    clock.advance(1000);
    expect(store.takeToken(`${RATE}k`, params, clock.now()).allowed).toBe(true);
    // Quota windows follow the (wall) time the caller passes: UTC days.
    const wall = Date.parse('2030-01-01T23:59:30Z');
    const day = quotaWindow(wall, '1d');
    expect(new Date(day.startMs).toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(store.countQuota(`${QUOTA}k`, 1, day, wall).allowed).toBe(true);
    expect(store.countQuota(`${QUOTA}k`, 1, day, wall).allowed).toBe(false);
    const after = Date.parse('2030-01-02T00:00:01Z');
    expect(store.countQuota(`${QUOTA}k`, 1, quotaWindow(after, '1d'), after).allowed).toBe(true);
    // Stepped back into the earlier day: still counted in the later window, no second quota.
    expect(store.countQuota(`${QUOTA}k`, 1, day, wall).allowed).toBe(false);
  });

  it('ok/idle buckets are dropped once they would be full again', () => {
    const store = createMemoryStore();
    const params = bucketParams(10, 1000); // empty to full in 1 s
    for (let i = 0; i < 100; i++) store.takeToken(`k${i}`, params, T0);
    expect(store.size).toBe(100);
    // Lazy: each call looks at the oldest entries of its table (and of one table in turn), so
    // steady traffic clears the idle ones.
    for (let i = 0; i < 10; i++) store.takeToken('busy', params, T0 + 1000 + i);
    expect(store.size).toBeLessThan(100);
    expect(store.size).toBeGreaterThan(1);
    for (let i = 10; i < 50; i++) store.takeToken('busy', params, T0 + 1000 + i);
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

  it('error/maxKeysPerLimit must be positive', () => {
    expect(() => createMemoryStore({ maxKeysPerLimit: 0 })).toThrow(RangeError);
  });

  it('ok/a table dropped as empty is not used again: its next key lands in a new, counted table', () => {
    const store = createMemoryStore();
    const params = bucketParams(10, 1000); // empty to full in 1 s
    expect(store.takeToken(`${RATE}a`, params, T0).remaining).toBe(9);
    store.sweep(T0 + 5000); // a is full again: the table empties and goes
    expect(store.usage()).toEqual([]);
    expect(store.takeToken(`${RATE}a`, params, T0 + 5000).remaining).toBe(9);
    expect(store.takeToken(`${RATE}b`, params, T0 + 5000).remaining).toBe(9);
    expect(store.usage()).toEqual([{ route: 'api', kind: 'rate', keys: 2 }]);
    store.clear();
    expect(store.countQuota(`${QUOTA}a`, 5, quotaWindow(T0, '1d'), T0).remaining).toBe(4);
    expect(store.usage()).toEqual([{ route: 'api', kind: 'quota', keys: 1 }]);
  });

  it('ok/the table of one limit is found again after another limit was asked', () => {
    const store = createMemoryStore();
    const params = bucketParams(10, 1000);
    const OTHER_RATE = 'web:r:ba9876543210:';
    for (let i = 0; i < 3; i++) {
      store.takeToken(`${RATE}k`, params, T0);
      store.takeToken(`${OTHER_RATE}k`, params, T0);
      store.takeToken('plain', params, T0);
    }
    expect(store.takeToken(`${RATE}k`, params, T0).remaining).toBe(6);
    expect(store.takeToken(`${OTHER_RATE}k`, params, T0).remaining).toBe(6);
    expect(store.takeToken('plain', params, T0).remaining).toBe(6);
    expect(store.usage()).toEqual(expect.arrayContaining([
      { route: 'api', kind: 'rate', keys: 1 },
      { route: 'web', kind: 'rate', keys: 1 },
      { route: '-', kind: 'rate', keys: 1 },
    ]));
  });

  it('ok/the key asked last stays newest; an expired one is replaced, not kept', () => {
    const store = createMemoryStore({ maxKeysPerLimit: 2 });
    const params = bucketParams(1, 1000, 1); // one token, full again after 1 s
    expect(store.takeToken(`${RATE}a`, params, T0).allowed).toBe(true);
    expect(store.takeToken(`${RATE}a`, params, T0).allowed).toBe(false); // newest, taken again in place
    expect(store.takeToken(`${RATE}b`, params, T0).allowed).toBe(true);
    // The table is full (a, b); a new key is refused while both are live.
    expect(store.takeToken(`${RATE}c`, params, T0 + 10)).toMatchObject({ allowed: false, tableFull: true });
    // b, the newest, expires (full again): taking it again is a fresh bucket, and the table has room for c.
    expect(store.takeToken(`${RATE}b`, params, T0 + 2000).allowed).toBe(true);
    expect(store.takeToken(`${RATE}c`, params, T0 + 2000).allowed).toBe(true);
    expect(store.size).toBe(2);
    // Quota: the newest counter of an ended window is replaced by the new window's.
    const w1 = quotaWindow(T0, '1h');
    expect(store.countQuota(`${QUOTA}q`, 1, w1, T0).allowed).toBe(true);
    expect(store.countQuota(`${QUOTA}q`, 1, w1, T0).allowed).toBe(false);
    const w2 = quotaWindow(w1.endMs, '1h');
    expect(store.countQuota(`${QUOTA}q`, 1, w2, w1.endMs)).toMatchObject({ allowed: true, remaining: 0 });
  });
});
