import { describe, expect, it } from 'vitest';
import { HEALTH_EVENTS, MAX_TRACKED, forgetExcept, newConsoleHistory, observeRouteTotals, observeTargetHealth, observeTier, targetKey } from './console-history.js';

const totals = (entries: [string, number, number, number][]) => new Map(entries.map(([r, requests, errors, rejected]) => [r, { requests, errors, rejected }]));

describe('console history', () => {
  it('ok/the first sample is a baseline; later ones record deltas over the interval, kept to `samples` points', () => {
    const h = newConsoleHistory();
    observeRouteTotals(h, totals([['api', 10, 1, 0]]), 1000, 3);
    expect(h.routes.get('api')).toBeUndefined();
    observeRouteTotals(h, totals([['api', 30, 2, 5]]), 3000, 3);
    expect(h.routes.get('api')).toEqual([{ at: 3000, requests: 20, errors: 1, rejected: 5, seconds: 2 }]);
    for (let i = 1; i <= 5; i++) observeRouteTotals(h, totals([['api', 30 + i, 2, 5]]), 3000 + i * 1000, 3);
    expect(h.routes.get('api')?.map((p) => p.at)).toEqual([6000, 7000, 8000]);
    expect(h.routes.get('api')?.every((p) => p.requests === 1 && p.errors === 0)).toBe(true);
  });

  it('ok/a counter that went down counts from zero; a route gone from the totals is forgotten', () => {
    const h = newConsoleHistory();
    observeRouteTotals(h, totals([['a', 100, 0, 0], ['b', 5, 0, 0]]), 0, 10);
    observeRouteTotals(h, totals([['a', 4, 0, 0]]), 1000, 10);
    expect(h.routes.get('a')?.[0]?.requests).toBe(4);
    expect(h.routes.has('b')).toBe(false);
    expect(h.lastTotals.has('b')).toBe(false);
  });

  it('ok/a new route after the baseline counts from zero', () => {
    const h = newConsoleHistory();
    observeRouteTotals(h, totals([]), 0, 10);
    observeRouteTotals(h, totals([['new', 7, 7, 0]]), 500, 10);
    expect(h.routes.get('new')).toEqual([{ at: 500, requests: 7, errors: 7, rejected: 0, seconds: 0.5 }]);
  });

  it('ok/health transitions count ups and downs and keep the last HEALTH_EVENTS; unchanged states record nothing', () => {
    const h = newConsoleHistory();
    expect(observeTargetHealth(h, 'p', 'http://a', 'up', 0)).toBe(false);
    expect(observeTargetHealth(h, 'p', 'http://a', 'up', 1)).toBe(false);
    expect(observeTargetHealth(h, 'p', 'http://a', 'down', 2)).toBe(true);
    expect(observeTargetHealth(h, 'p', 'http://a', 'up', 3)).toBe(true);
    expect(observeTargetHealth(h, 'p', 'http://a', 'ejected', 4)).toBe(true);
    expect(observeTargetHealth(h, 'p', 'http://a', 'down', 5)).toBe(true); // ejected → down: already out, not a second down
    const t = h.targets.get(targetKey('p', 'http://a'));
    expect(t?.events.map((e) => e.state)).toEqual(['up', 'down', 'up', 'ejected', 'down']);
    expect([t?.ups, t?.downs]).toEqual([1, 2]);
    for (let i = 0; i < 50; i++) observeTargetHealth(h, 'p', 'http://a', i % 2 === 0 ? 'up' : 'down', 10 + i);
    expect(t?.events).toHaveLength(HEALTH_EVENTS);
    expect(t?.events.at(-1)).toEqual({ at: 59, state: 'down' });
  });

  it('ok/tier changes are recorded once each; error/no more than MAX_TRACKED targets are held', () => {
    const h = newConsoleHistory();
    expect(observeTier(h, 'p', 'primary', 0)).toBe(true);
    expect(observeTier(h, 'p', 'primary', 1)).toBe(false);
    expect(observeTier(h, 'p', 'backup', 2)).toBe(true);
    expect(h.tiers.get('p')).toEqual([{ at: 0, tier: 'primary' }, { at: 2, tier: 'backup' }]);
    for (let i = 0; i < MAX_TRACKED + 10; i++) observeTargetHealth(h, 'big', `http://t${i}`, 'up', 0);
    expect(h.targets.size).toBe(MAX_TRACKED);
  });

  it('ok/forgetExcept drops targets and pools a reload removed', () => {
    const h = newConsoleHistory();
    observeTargetHealth(h, 'p', 'http://a', 'up', 0);
    observeTargetHealth(h, 'q', 'http://b', 'up', 0);
    observeTier(h, 'p', 'primary', 0);
    observeTier(h, 'q', 'primary', 0);
    forgetExcept(h, new Set(['p']), new Set([targetKey('p', 'http://a')]));
    expect([...h.targets.keys()]).toEqual([targetKey('p', 'http://a')]);
    expect([...h.tiers.keys()]).toEqual(['p']);
  });
});
