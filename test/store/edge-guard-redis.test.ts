import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEdgeGuard } from '../../src/policy/edge-guard.js';
import { startRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis;
const clients: Redis[] = [];

function client(): Redis {
  const c = new Redis(redis.url, { enableOfflineQueue: false, commandTimeout: 100, maxRetriesPerRequest: 1 });
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

async function connected(c: Redis): Promise<void> {
  if (c.status !== 'ready') await new Promise((r) => c.once('ready', r));
}

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redis?.stop();
});

describe('edge guard on Redis', () => {
  it('ok/two replicas share one handshake limit', async () => {
    const [c1, c2] = [client(), client()];
    await Promise.all([connected(c1), connected(c2)]);
    const opts = { handshakes: { points: 5, durationSec: 60 }, keyPrefix: 'g1:' };
    const [a, b] = [createEdgeGuard({ ...opts, redis: c1 }), createEdgeGuard({ ...opts, redis: c2 })];
    let allowed = 0;
    for (let i = 0; i < 10; i++) if (await (i % 2 ? a : b).allowHandshake('192.0.2.1')) allowed++;
    expect(allowed).toBe(5);
  });

  it('ok/a CA block set by one replica holds on another', async () => {
    const [c1, c2] = [client(), client()];
    await Promise.all([connected(c1), connected(c2)]);
    const opts = { caFailures: { maxFailures: 2, windowSec: 60, blockSec: 60 }, keyPrefix: 'g2:' };
    const [a, b] = [createEdgeGuard({ ...opts, redis: c1 }), createEdgeGuard({ ...opts, redis: c2 })];
    expect(await a.recordCaFailure('192.0.2.7')).toBe(true);
    expect(await b.recordCaFailure('192.0.2.7')).toBe(false);
    expect(await a.caBlocked('192.0.2.7')).toBe(true);
  });

  it('ok/Redis down: the in-memory insurance keeps limiting', async () => {
    const c = client();
    await connected(c);
    const errors: unknown[] = [];
    const g = createEdgeGuard({ handshakes: { points: 2, durationSec: 60 }, keyPrefix: 'g3:', redis: c, onError: (e) => errors.push(e) });
    redis.kill();
    await new Promise<void>((resolve) => (c.status === 'ready' ? c.once('close', () => resolve()) : resolve()));
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await g.allowHandshake('192.0.2.1'));
    expect(got).toEqual([true, true, false]);
    expect(errors).toEqual([]);
    await redis.restart();
  });
});
