import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import { bucketParams } from './token-bucket.js';
import { quotaWindow } from './quota-window.js';
import { StoreUnavailableError, type BucketDecision, type QuotaDecision } from './counter-store.js';
import { createFailoverStore, type FailoverState, type FailoverStore, type SharedCounterStore } from './failover-store.js';
import { MemoryStore } from './memory-store.js';

/** A shared store that answers from memory, or fails like a dead Redis while `down`. */
class FakeShared implements SharedCounterStore {
  down = false;
  replicas = 1;
  calls = 0;
  readonly mem = new MemoryStore();
  async takeToken(key: string, params: Parameters<MemoryStore['takeToken']>[1], now: number): Promise<BucketDecision> {
    this.calls += 1;
    this.#check();
    return this.mem.takeToken(key, params, now);
  }
  async countQuota(key: string, limit: number, w: { startMs: number; endMs: number }, now: number): Promise<QuotaDecision> {
    this.calls += 1;
    this.#check();
    return this.mem.countQuota(key, limit, w, now);
  }
  async heartbeat(): Promise<number> {
    this.#check();
    return this.replicas;
  }
  async close(): Promise<void> {}
  #check(): void {
    if (this.down) throw new StoreUnavailableError('down');
  }
}

const T0 = 1_700_000_000_000;
const stores: FailoverStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** A failover store whose start-up heartbeat has finished. */
async function setup(mode: 'local' | 'deny' = 'local') {
  const shared = new FakeShared();
  const states: FailoverState[] = [];
  const store = createFailoverStore({
    shared,
    onStoreFailure: mode,
    replicaId: 'r1',
    clock: new ManualClock(T0),
    heartbeatIntervalMs: 60_000, // tests drive heartbeat() themselves
    onStateChange: (s) => states.push(s),
  });
  stores.push(store);
  await store.heartbeat();
  return { shared, store, states };
}

describe('failover store', () => {
  it('ok/starts local and turns shared on the first heartbeat', async () => {
    const shared = new FakeShared();
    const states: FailoverState[] = [];
    const store = createFailoverStore({ shared, onStoreFailure: 'local', replicaId: 'r0', clock: new ManualClock(T0), onStateChange: (s) => states.push(s) });
    stores.push(store);
    expect(store.state).toBe('local');
    await store.ready();
    expect(store.state).toBe('shared');
    expect(states).toEqual(['shared']);
  });

  it('ok/a failing first heartbeat is reported as an outage', async () => {
    const shared = new FakeShared();
    shared.down = true;
    const states: FailoverState[] = [];
    const store = createFailoverStore({ shared, onStoreFailure: 'local', replicaId: 'r0', clock: new ManualClock(T0), onStateChange: (s) => states.push(s) });
    stores.push(store);
    await store.ready();
    expect(states).toEqual(['local']);
  });

  it('ok/a heartbeat sent before a failure does not end it', async () => {
    const { shared, store, states } = await setup();
    const beat = store.heartbeat(); // in flight, will succeed
    shared.down = true;
    await store.takeToken('k', bucketParams(1, 1000), T0); // fails: local
    await beat;
    expect(store.state).toBe('local');
    expect(states).toEqual(['shared', 'local']);
  });

  it('ok/counts in the shared store while it answers', async () => {
    const { shared, store } = await setup();
    await store.heartbeat();
    expect(await store.takeToken('k', bucketParams(2, 1000), T0)).toMatchObject({ allowed: true, remaining: 1 });
    expect(shared.calls).toBe(1);
    expect(store.state).toBe('shared');
  });

  it('ok/store failure switches to the local fair share and stops asking the shared store', async () => {
    const { shared, store, states } = await setup();
    shared.replicas = 4;
    await store.heartbeat();
    expect(store.replicas).toBe(4);
    shared.down = true;
    const params = bucketParams(40, 1000); // fair share: 10 tokens, 10 per second
    const first = await store.takeToken('k', params, T0);
    expect(first).toMatchObject({ allowed: true, remaining: 9 });
    expect(store.state).toBe('local');
    expect(states).toEqual(['shared', 'local']);
    const callsAfterSwitch = shared.calls;
    let allowed = 1;
    for (let i = 0; i < 20; i++) if ((await store.takeToken('k', params, T0)).allowed) allowed += 1;
    expect(allowed).toBe(10);
    expect(shared.calls).toBe(callsAfterSwitch);
    // Quota share rounds down: 10 / 4 → 2.
    const w = quotaWindow(T0, '1d');
    const q = [];
    for (let i = 0; i < 3; i++) q.push((await store.countQuota('q', 10, w, T0)).allowed);
    expect(q).toEqual([true, true, false]);
  });

  it('ok/local decisions are synchronous', async () => {
    const { shared, store } = await setup();
    shared.down = true;
    await store.heartbeat();
    const d = store.takeToken('k', bucketParams(1, 1000), T0);
    expect(d).not.toBeInstanceOf(Promise);
  });

  it('ok/back to shared when the heartbeat answers again, local counts forgotten', async () => {
    const { shared, store, states } = await setup();
    shared.down = true;
    await store.heartbeat();
    expect(store.state).toBe('local');
    const params = bucketParams(1, 60_000);
    expect((await store.takeToken('k', params, T0)).allowed).toBe(true);
    shared.down = false;
    await store.heartbeat();
    expect(store.state).toBe('shared');
    expect(states).toEqual(['shared', 'local', 'shared']);
    expect((await store.takeToken('k', params, T0)).allowed).toBe(true); // shared bucket was untouched
    shared.down = true;
    await store.heartbeat();
    expect((await store.takeToken('k', params, T0)).allowed).toBe(true); // fresh local share
  });

  it('error/deny refuses with STORE_UNAVAILABLE and retry-after', async () => {
    const { shared, store } = await setup('deny');
    shared.down = true;
    const err = await Promise.resolve(store.takeToken('k', bucketParams(1, 1000), T0)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE', status: 503, headers: { 'retry-after': '1' } });
    expect(() => store.countQuota('q', 1, quotaWindow(T0, '1h'), T0)).toThrow(GatewayError);
  });

  it('error/a non-store error is not swallowed', async () => {
    const { shared, store } = await setup();
    shared.takeToken = async () => {
      throw new TypeError('bug');
    };
    await expect(store.takeToken('k', bucketParams(1, 1000), T0)).rejects.toBeInstanceOf(TypeError);
    expect(store.state).toBe('shared');
  });
});
