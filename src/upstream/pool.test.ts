import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import { seededRandom } from '../core/random.js';
import { UpstreamSpec } from '../spec/schema.js';
import { activeTier, createPool, observeResult, pick, release, tryAcquire, type UpstreamPool } from './pool.js';
import { newTargetState, type TargetState } from './target-state.js';

const NONE: ReadonlySet<TargetState> = new Set();

function setup(over: Record<string, unknown> = {}, weights = [1, 1], backups = 1) {
  const spec = UpstreamSpec.parse({
    targets: weights.map((weight, i) => ({ url: `http://127.0.0.1:${3001 + i}`, weight })),
    backups: Array.from({ length: backups }, (_, i) => ({ url: `http://127.0.0.1:${3101 + i}` })),
    ...over,
  });
  const primaries = spec.targets.map((t) => newTargetState(t.url, t.weight, 'primary'));
  const backupStates = spec.backups.map((t) => newTargetState(t.url, t.weight, 'backup'));
  const clock = new ManualClock();
  const pool = createPool('api', spec, { primaries, backups: backupStates }, { clock, random: seededRandom(1) });
  return { spec, pool, clock, primaries, backups: backupStates };
}

const ports = (pool: UpstreamPool, clock: ManualClock, n: number): string =>
  Array.from({ length: n }, () => new URL(pick(pool, '', NONE, clock).url).port).join(' ');

describe('pool', () => {
  it('ok/3:1 weights give A A B A through pick', () => {
    const { pool, clock } = setup({}, [3, 1]);
    expect(ports(pool, clock, 4)).toBe('3001 3001 3002 3001');
  });

  it('ok/backups take traffic only while no primary is available', () => {
    const { pool, clock, primaries, backups } = setup();
    expect(activeTier(pool, clock.monotonic())).toBe('primary');
    primaries[0]!.healthy = false;
    expect(ports(pool, clock, 3)).toBe('3002 3002 3002');
    primaries[1]!.ejectedUntil = clock.monotonic() + 1_000;
    expect(activeTier(pool, clock.monotonic())).toBe('backup');
    expect(pick(pool, '', NONE, clock)).toBe(backups[0]);
    clock.advance(1_000);
    expect(activeTier(pool, clock.monotonic())).toBe('primary');
    expect(pick(pool, '', NONE, clock)).toBe(primaries[1]);
  });

  it('error/no available target in either tier is NO_HEALTHY_UPSTREAM', () => {
    const { pool, clock, primaries, backups } = setup();
    for (const t of [...primaries, ...backups]) t.healthy = false;
    expect(activeTier(pool, clock.monotonic())).toBe('none');
    let caught: unknown;
    try {
      pick(pool, '', NONE, clock);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(GatewayError);
    expect((caught as GatewayError).code).toBe('NO_HEALTHY_UPSTREAM');
    expect((caught as GatewayError).status).toBe(503);
  });

  it('ok/a retry avoids the target already tried', () => {
    const { pool, clock, primaries } = setup({ balance: 'consistent-hash' }, [1, 1, 1]);
    const first = pick(pool, 'user-1', NONE, clock);
    const second = pick(pool, 'user-1', new Set([first]), clock);
    expect(second).not.toBe(first);
    expect(primaries).toContain(second);
  });

  it('ok/when every available primary was tried, one is tried again rather than a backup', () => {
    const { pool, clock, primaries } = setup({}, [1]);
    expect(pick(pool, '', new Set(primaries), clock)).toBe(primaries[0]);
  });

  it('ok/when every target was tried, the retry never goes back to the one that just failed', () => {
    for (const balance of ['round-robin', 'random', 'least-request', 'consistent-hash', 'peak-ewma']) {
      const { pool, clock, primaries } = setup({ balance }, [1, 1]);
      const [a, b] = primaries as [TargetState, TargetState];
      for (let i = 0; i < 20; i++) {
        expect(pick(pool, `k${i}`, new Set([a, b]), clock, b)).toBe(a);
        expect(pick(pool, `k${i}`, new Set([a, b]), clock, a)).toBe(b);
      }
    }
  });

  it('ok/consistent-hash keeps a key on its target and moves it only while that one is out', () => {
    const { pool, clock } = setup({ balance: 'consistent-hash', hashBy: 'header:x-user-id' }, [1, 1, 1, 1]);
    const home = pick(pool, 'alice', NONE, clock);
    for (let i = 0; i < 10; i++) expect(pick(pool, 'alice', NONE, clock)).toBe(home);
    home.healthy = false;
    const away = pick(pool, 'alice', NONE, clock);
    expect(away).not.toBe(home);
    expect(pick(pool, 'alice', NONE, clock)).toBe(away);
    home.healthy = true;
    expect(pick(pool, 'alice', NONE, clock)).toBe(home);
    expect(pool.hashBy).toBe('header:x-user-id');
  });

  it('ok/consecutive failures eject a target until the ejection time passes', () => {
    const { pool, clock, primaries } = setup({ outlierDetection: { consecutiveFailures: 2, ejectionTime: '5s' } }, [1, 1, 1, 1]);
    const bad = primaries[0]!;
    expect(observeResult(pool, bad, 'http-5xx', 3)).toBe(false);
    expect(observeResult(pool, bad, 'connect-failure', 1)).toBe(true);
    for (let i = 0; i < 20; i++) expect(pick(pool, '', NONE, clock)).not.toBe(bad);
    clock.advance(5_000);
    const seen = new Set(Array.from({ length: 8 }, () => pick(pool, '', NONE, clock)));
    expect(seen.has(bad)).toBe(true);
  });

  it('ok/without outlierDetection failures never eject', () => {
    const { pool, primaries } = setup();
    for (let i = 0; i < 50; i++) expect(observeResult(pool, primaries[0]!, 'reset', 1)).toBe(false);
    expect(primaries[0]!.ejectedUntil).toBe(0);
    expect(primaries[0]!.consecutiveFailures).toBe(50);
  });

  it('ok/latency is tracked on answers but not on connect failures', () => {
    const { pool, primaries } = setup();
    const t = primaries[0]!;
    observeResult(pool, t, 'ok', 12);
    expect(t.ewmaMs).toBe(12);
    observeResult(pool, t, 'connect-failure', 0.1);
    expect(t.ewmaMs).toBe(12);
    observeResult(pool, t, 'http-5xx', 40);
    expect(t.ewmaMs).toBe(40);
  });

  it('ok/peak-ewma steers traffic to the faster target', () => {
    const { pool, clock, primaries } = setup({ balance: 'peak-ewma' }, [1, 1], 0);
    observeResult(pool, primaries[0]!, 'ok', 200);
    observeResult(pool, primaries[1]!, 'ok', 5);
    expect(ports(pool, clock, 5)).toBe('3002 3002 3002 3002 3002');
  });

  it('error/the circuit breaker refuses over maxConnections + maxPendingRequests until a release', () => {
    const { pool } = setup({ circuitBreaker: { maxConnections: 2, maxPendingRequests: 1 } });
    expect([tryAcquire(pool), tryAcquire(pool), tryAcquire(pool), tryAcquire(pool)]).toEqual([true, true, true, false]);
    release(pool);
    expect(tryAcquire(pool)).toBe(true);
  });

  it('ok/target state survives a reload that passes the same objects', () => {
    const { spec, pool, clock, primaries, backups } = setup();
    primaries[0]!.healthy = false;
    const reloaded = createPool('api', { ...spec, balance: 'random' }, { primaries, backups }, { clock, random: seededRandom(2) });
    for (let i = 0; i < 10; i++) expect(pick(reloaded, '', NONE, clock)).toBe(primaries[1]);
    expect(reloaded.primaries).toEqual(pool.primaries);
  });

  it('ok/every balance builds a working pool', () => {
    for (const balance of ['round-robin', 'random', 'least-request', 'consistent-hash', 'peak-ewma']) {
      const { pool, clock, primaries } = setup({ balance });
      expect(pool.balance).toBe(balance);
      expect(primaries).toContain(pick(pool, 'k', NONE, clock));
    }
  });
});

describe('ejections on the monotonic clock', () => {
  it('ok/a backward wall-clock step does not stretch an ejection', () => {
    const { pool, primaries, clock } = setup({ outlierDetection: { consecutiveFailures: 1, ejectionTime: '10s', maxEjectionPercent: 50 } });
    const t = primaries[0]!;
    expect(observeResult(pool, t, 'reset', 5, clock.monotonic())).toBe(true);
    expect(t.ejectedUntil).toBe(clock.monotonic() + 10_000);
    // The wall clock jumps back an hour; only monotonic time counts.
    clock.set(clock.now() - 3_600_000);
    clock.advance(9_999);
    expect(activeTier(pool, clock.monotonic())).toBe('primary');
    for (let i = 0; i < 4; i++) expect(pick(pool, '', NONE, clock)).not.toBe(t);
    clock.advance(1);
    const seen = new Set<TargetState>();
    for (let i = 0; i < 4; i++) seen.add(pick(pool, '', NONE, clock));
    expect(seen.has(t)).toBe(true);
  });
});
