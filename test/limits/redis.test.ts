/**
 * Two in-process gateways and one real redis-server: one global limit; Redis killed mid-load
 * (bounded waits, local fair share, `deny` answers 503); Redis back (shared counting resumes);
 * a quota that continues across a gateway restart. Both gateways run on one ManualClock that the
 * test moves, so the expected counts are exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { ManualClock } from '../../src/core/clock.js';
import type { FailoverStore } from '../../src/store/failover-store.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent, type SimpleResponse } from '../support/clients.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { waitFor } from '../support/wait.js';
import { countStatuses, metricValue } from './support.js';

// Generous for a store on loopback, so that a loaded machine (a stalled event loop) does not
// fake an outage during the exact-count phases; the hung-Redis phase proves the bound holds.
const COMMAND_TIMEOUT_MS = 1000;
// A request is TLS + proxying on a loaded 2-core machine, on top of the store's wait.
const MARGIN_MS = 500;
const RATE = 10; // per second
const BURST = 20;

interface Node {
  t: TestGateway;
  agent: Agent;
  get(key: string, path?: string): Promise<SimpleResponse>;
}

describe('limits shared through a real Redis', () => {
  let redis: TestRedis;
  let up: TestUpstream;
  const clock = new ManualClock(Date.now() - 60_000);
  const nodes: Node[] = [];

  const config = (prefix: string, onStoreFailure: 'local' | 'deny' = 'local'): Record<string, unknown> => ({
    store: { type: 'redis', redis: { url: redis.url, keyPrefix: prefix, commandTimeout: `${COMMAND_TIMEOUT_MS}ms` }, onStoreFailure },
    routes: [
      { name: 'rate', match: { pathPrefix: '/rate' }, upstream: 'up', rateLimit: { rate: RATE, per: '1s', burst: BURST, by: 'header:x-client' } },
      { name: 'quota', match: { pathPrefix: '/quota' }, upstream: 'up', quota: { limit: 5, per: '1d', by: 'header:x-client' } },
    ],
    upstreams: { up: { targets: [{ url: up.url }] } },
  });

  async function node(prefix: string, onStoreFailure: 'local' | 'deny' = 'local'): Promise<Node> {
    const t = await startTestGateway(config(prefix, onStoreFailure), { clock });
    const agent = h1Agent({ ca: t.rootPem }, { connections: 8 });
    const n: Node = { t, agent, get: (key, path = '/rate') => h1(agent, `${t.url}${path}`, { headers: { 'x-client': key } }) };
    nodes.push(n);
    return n;
  }

  async function stopNode(n: Node): Promise<void> {
    nodes.splice(nodes.indexOf(n), 1);
    await n.agent.close();
    await n.t.stop();
  }

  /** `concurrency` loops per node, each sending requests one after another until `until()`. */
  async function load(targets: Node[], key: string, concurrency: number, until: () => boolean, onAnswer?: () => void): Promise<Array<SimpleResponse & { ms: number }>> {
    const out: Array<SimpleResponse & { ms: number }> = [];
    const loop = async (n: Node): Promise<void> => {
      for (let i = 0; i < 10_000 && !until(); i++) {
        const start = performance.now();
        const res = await n.get(key);
        out.push({ ...res, ms: performance.now() - start });
        onAnswer?.();
      }
    };
    await Promise.all(targets.flatMap((n) => Array.from({ length: concurrency }, () => loop(n))));
    return out;
  }

  /** The gateway's counter store (a FailoverStore with the redis store). */
  const failover = (n: Node): FailoverStore => n.t.gw.holder.current.store as FailoverStore;

  let a: Node;
  let b: Node;
  let deny: Node;

  beforeAll(async () => {
    [redis, up] = await Promise.all([startRedis(), startUpstream('up')]);
    [a, b, deny] = await Promise.all([node('shared:'), node('shared:'), node('deny:', 'deny')]);
  });

  afterAll(async () => {
    for (const n of [...nodes]) await stopNode(n);
    await up?.close();
    await redis?.stop();
  });

  it('ok/two gateways hold one global limit within ±1 over a 2-second burst', async () => {
    // The first heartbeat settled before listening; the first shared state is a start, not a recovery.
    await waitFor(() => [a, b].every((n) => failover(n).state === 'shared'), { timeoutMs: 5000, what: 'shared counting' });
    for (const n of [a, b]) {
      expect(n.t.logs.find({ msg: 'counter store connected' })).toHaveLength(1);
      expect(n.t.logs.find({ msg: 'counter store back; shared counting resumed' })).toHaveLength(0);
    }
    // The shared clock moves 100 ms (one token) at a time, 20 times: 2 s of the bucket's time. After
    // each move it waits for inFlight + 1 answers: at most inFlight requests were under way at the
    // move, so at least one of them was decided after it and found the new token. Every refill is
    // taken, however slow the machine, and the expected count is exact.
    const LOOPS = 2;
    const inFlight = 2 * LOOPS;
    const outages = (): number => [a, b].reduce((n, g) => n + g.t.logs.find({ msg: 'counter store unreachable; counting locally' }).length, 0);
    const burst = async (key: string): Promise<Array<SimpleResponse & { ms: number }>> => {
      let answered = 0;
      let done = false;
      const ticker = (async () => {
        await waitFor(() => answered >= BURST + inFlight, { timeoutMs: 20_000, what: 'the burst taken' });
        for (let step = 0; step < 20; step++) {
          clock.advance(100);
          const mark = answered;
          await waitFor(() => answered >= mark + inFlight + 1, { timeoutMs: 20_000, what: `answers after step ${step}` });
        }
        done = true;
      })();
      const out = await load([a, b], key, LOOPS, () => done, () => answered++);
      await ticker;
      return out;
    };
    // The claim holds while counting is shared. A machine stalled past the command timeout fakes
    // an outage (that behaviour has its own tests below): then the burst runs again on a fresh key.
    let results: Array<SimpleResponse & { ms: number }> = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const before = outages();
      results = await burst(`burst-${attempt}`);
      if (outages() === before) break;
      await waitFor(() => [a, b].every((n) => failover(n).state === 'shared'), { timeoutMs: 10_000, what: 'shared again' });
      expect(attempt, 'the store timed out during every attempt: machine overloaded?').toBeLessThan(3);
    }
    const allowed = results.filter((r) => r.status === 200).length;
    const expected = BURST + RATE * 2;
    expect(Math.abs(allowed - expected), `allowed ${allowed}, expected ${expected}`).toBeLessThanOrEqual(1);
    expect(results.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    // Both gateways did part of the work, against one bucket.
    const text = await (await fetch(`${a.t.adminUrl}/metrics`)).text();
    expect(metricValue(text, 'tollgate_ratelimit_rejections_total', { route: 'rate', kind: 'rate' })).toBeGreaterThan(0);
    expect(metricValue(text, 'tollgate_store_decision_seconds_count', { store: 'redis' })).toBeGreaterThan(0);
  });

  it('error/Redis hung (SIGSTOP) mid-load: requests wait at most the command timeout, then count locally', async () => {
    let stop = false;
    const running = load([a, b], 'hung', 4, () => stop);
    await waitFor(() => a.t.logs.find({ msg: 'request' }).length > 40, { what: 'load under way' });
    const outagesBefore = a.t.logs.find({ msg: 'counter store unreachable; counting locally' }).length;
    const resumedBefore = a.t.logs.find({ msg: 'counter store back; shared counting resumed' }).length;
    redis.freeze();
    try {
      await waitFor(() => a.t.logs.find({ msg: 'counter store unreachable; counting locally' }).length > outagesBefore, { timeoutMs: 5000, what: 'a counting locally' });
      const since = a.t.logs.lines.length;
      await waitFor(() => a.t.logs.lines.length > since + 20, { what: 'local-mode requests' });
      stop = true;
      const results = await running;
      const slowest = Math.max(...results.map((r) => r.ms));
      // Someone waited for the timeout (Redis really hung), nobody much longer.
      expect(slowest).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 5);
      expect(slowest).toBeLessThan(COMMAND_TIMEOUT_MS + MARGIN_MS);
      expect(results.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    } finally {
      stop = true;
      redis.thaw();
    }
    // Every replica (the idle deny one may have missed a heartbeat too) counts shared again.
    await waitFor(() => [a, b, deny].every((n) => failover(n).state === 'shared'), { timeoutMs: 10_000, what: 'shared again' });
    expect(a.t.logs.find({ msg: 'counter store back; shared counting resumed' })).toHaveLength(resumedBefore + 1);
  });

  it('error/Redis killed mid-load: no request waits past the command timeout, local fair shares apply, deny answers 503', async () => {
    expect((await deny.get('d1')).status).toBe(200);
    // The fair share divides by the replicas last seen in Redis: both of them.
    await waitFor(() => failover(a).replicas === 2 && failover(b).replicas === 2, { timeoutMs: 5000, what: 'two replicas seen' });
    let stop = false;
    const running = load([a, b], 'kill', 4, () => stop);
    await waitFor(() => a.t.logs.find({ msg: 'request', status: 429 }).length > 0 || a.t.logs.find({ msg: 'request' }).length > 40, { what: 'load under way' });
    redis.kill();
    await waitFor(() => a.t.logs.find({ msg: 'counter store unreachable; counting locally' }).length > 0 && b.t.logs.find({ msg: 'counter store unreachable; counting locally' }).length > 0, {
      timeoutMs: 5000,
      what: 'both gateways counting locally',
    });
    // Keep loading a little while in local mode.
    const localSince = a.t.logs.lines.length;
    await waitFor(() => a.t.logs.lines.length > localSince + 20, { what: 'local-mode requests' });
    stop = true;
    const results = await running;
    expect(results.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(COMMAND_TIMEOUT_MS + MARGIN_MS);
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThan(0);

    // Local fair share on a fresh key: BURST / 2 live replicas each (the clock does not move).
    for (const n of [a, b]) {
      const statuses = [];
      for (let i = 0; i < BURST; i++) statuses.push(await n.get('local'));
      expect(countStatuses(statuses)).toEqual({ 200: BURST / 2, 429: BURST / 2 });
    }

    // deny: 503 STORE_UNAVAILABLE with Retry-After, within the timeout.
    const t0 = performance.now();
    const refused = await deny.get('d2');
    expect(performance.now() - t0).toBeLessThan(COMMAND_TIMEOUT_MS + MARGIN_MS);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } });

    const text = await (await fetch(`${a.t.adminUrl}/metrics`)).text();
    expect(metricValue(text, 'tollgate_store_state', { state: 'local' })).toBe(1);
    expect(metricValue(text, 'tollgate_store_errors_total', { store: 'redis' })).toBeGreaterThan(0);
  });

  it('ok/Redis back: shared counting resumes, one limit again, deny serves again', async () => {
    await redis.restart();
    await waitFor(
      () => [a, b, deny].every((n) => failover(n).state === 'shared'),
      { timeoutMs: 10_000, what: 'shared counting resumed' },
    );
    for (const n of [a, b, deny]) expect(n.t.logs.find({ msg: 'counter store back; shared counting resumed' }).length).toBeGreaterThanOrEqual(1);
    const statuses = [];
    for (let i = 0; i < BURST * 2; i++) statuses.push(await (i % 2 === 0 ? a : b).get('after'));
    expect(countStatuses(statuses)).toEqual({ 200: BURST, 429: BURST });
    expect((await deny.get('d3')).status).toBe(200);
    const text = await (await fetch(`${b.t.adminUrl}/metrics`)).text();
    expect(metricValue(text, 'tollgate_store_state', { state: 'shared' })).toBe(1);
  });
  it('ok/a quota continues across a gateway restart', async () => {
    const first = await node('shared:');
    for (let i = 0; i < 3; i++) expect((await first.get('q1', '/quota')).status).toBe(200);
    await stopNode(first);
    const second = await node('shared:');
    const next = await second.get('q1', '/quota');
    expect(next.status).toBe(200);
    expect(String(next.headers['ratelimit'])).toMatch(/^"quota";r=1;t=\d+$/);
    expect((await second.get('q1', '/quota')).status).toBe(200);
    const refused = await second.get('q1', '/quota');
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'QUOTA_EXCEEDED' } });
    await stopNode(second);
  });
});
