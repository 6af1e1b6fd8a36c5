/**
 * Rate-limit decisions per second, per store: the memory store (synchronous, in-process) and the
 * Redis store (one EVALSHA round trip per decision) against a throwaway redis-server on a
 * loopback port, started and stopped by PID (test/support/redis.ts). The cluster store (one IPC
 * round trip to the primary per decision) is not measured here.
 *
 * Redis is measured at several numbers of decisions in flight: one at a time shows the round trip,
 * many in flight show what one connection pipelines. Keys: 1,000 distinct, like 1,000 clients.
 * Bounded: each measurement runs for DECISIONS_MS, ROUNDS times; the best round is reported.
 *
 * Last, the whole per-request policy step the pipeline runs (`evaluateLimits`: key, bucket, quota,
 * the RateLimit header strings) on the memory store, for a route with a rate limit and one with a
 * rate limit and a quota: what a limit adds to each request on the hot path.
 *
 * Run: npx tsx bench/limits-decisions.ts
 */
import { ANONYMOUS } from '../src/core/types.js';
import { compileLimitPolicy, evaluateLimits, type LimitPolicy } from '../src/policy/rate-limit.js';
import { bucketParams } from '../src/store/token-bucket.js';
import { createMemoryStore } from '../src/store/memory-store.js';
import { createRedisStore } from '../src/store/redis-store.js';
import type { CounterStore } from '../src/store/counter-store.js';
import { startRedis } from '../test/support/redis.js';

const DECISIONS_MS = Number(process.env['BENCH_DECISIONS_MS'] ?? 1000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const KEYS = Array.from({ length: 1000 }, (_, i) => `client-${i}`);
// Never empty during the run: a decision that allows costs the same as one that refuses.
const PARAMS = bucketParams(1_000_000, 1000, 1_000_000);

/** Decisions per second over `ms` with `inFlight` decisions outstanding at any time. */
async function measure(store: CounterStore, inFlight: number, ms: number): Promise<number> {
  let done = 0;
  let now = 1_700_000_000_000;
  const start = performance.now();
  const deadline = start + ms;
  const lane = async (lane: number): Promise<void> => {
    for (let i = lane; performance.now() < deadline; i += inFlight) {
      // The bucket math takes the caller's clock; step it so refills are computed too.
      now += 1;
      const d = store.takeToken(KEYS[i % KEYS.length] as string, PARAMS, now);
      if (typeof (d as Promise<unknown>).then === 'function') await d;
      done++;
      // Yield now and then so a synchronous store cannot starve the timer check.
      if (done % 10_000 === 0) await new Promise((r) => setImmediate(r));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, (_, i) => lane(i)));
  return (done * 1000) / (performance.now() - start);
}

async function best(store: CounterStore, inFlight: number): Promise<number> {
  let top = 0;
  for (let r = 0; r < ROUNDS; r++) top = Math.max(top, await measure(store, inFlight, DECISIONS_MS));
  return top;
}

function row(name: string, inFlight: number, perSec: number): void {
  console.log(`${name.padEnd(8)} ${String(inFlight).padStart(9)} ${Math.round(perSec).toLocaleString('en-US').padStart(14)}  ${(1e6 / perSec).toFixed(2).padStart(8)} µs/decision`);
}

/** Nanoseconds per `evaluateLimits` call on the memory store (best of ROUNDS). */
function policyCost(policy: LimitPolicy): number {
  const store = createMemoryStore();
  const ctx = { ip: '127.0.0.1', routeName: policy.routeName, identity: ANONYMOUS, header: () => undefined };
  let now = 1_700_000_000_000;
  let bestNs = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const n = 200_000;
    const start = performance.now();
    for (let i = 0; i < n; i++) evaluateLimits(policy, ctx, store, now++);
    bestNs = Math.min(bestNs, ((performance.now() - start) * 1e6) / n);
  }
  void store.close();
  return bestNs;
}

async function main(): Promise<void> {
  console.log(`store    in flight  decisions/s     cost   (best of ${ROUNDS} × ${DECISIONS_MS} ms, ${KEYS.length} keys)`);
  const memory = createMemoryStore();
  row('memory', 1, await best(memory, 1));
  await memory.close();

  const redis = await startRedis();
  const store = createRedisStore({ url: redis.url, keyPrefix: 'bench:', commandTimeoutMs: 1000 });
  try {
    await store.ready(5000);
    for (const inFlight of [1, 16, 128]) row('redis', inFlight, await best(store, inFlight));
  } finally {
    await store.close();
    await redis.stop();
  }
  const rate = { rate: 1_000_000_000, per: '1s', by: 'ip' } as const;
  const policies: Array<[string, LimitPolicy | undefined]> = [
    ['rate', compileLimitPolicy('rate', rate)],
    ['rate+quota', compileLimitPolicy('both', rate, { limit: 1_000_000_000, per: '1d', by: 'ip' })],
  ];
  console.log('\nper request, evaluateLimits on the memory store (best of ' + String(ROUNDS) + ')');
  for (const [name, policy] of policies) if (policy !== undefined) console.log(`${name.padEnd(11)} ${Math.round(policyCost(policy)).toLocaleString('en-US').padStart(6)} ns`);
}

await main();
