import { describe, expect, it } from 'vitest';
import { observeProbe } from './health.js';
import { newTargetState } from './target-state.js';

const t = { healthyThreshold: 2, unhealthyThreshold: 3 };

describe('observeProbe', () => {
  it('ok/three failures in a row mark a healthy target down, on the third', () => {
    const s = newTargetState('http://127.0.0.1:1', 1, 'primary');
    expect([observeProbe(s, false, t), observeProbe(s, false, t), observeProbe(s, false, t)]).toEqual([false, false, true]);
    expect(s.healthy).toBe(false);
    expect(observeProbe(s, false, t)).toBe(false);
  });

  it('ok/a success in between resets the failure count', () => {
    const s = newTargetState('http://127.0.0.1:1', 1, 'primary');
    for (const ok of [false, false, true, false, false]) expect(observeProbe(s, ok, t)).toBe(false);
    expect(s.healthy).toBe(true);
  });

  it('ok/two successes in a row bring a down target back', () => {
    const s = newTargetState('http://127.0.0.1:1', 1, 'primary');
    s.healthy = false;
    expect(observeProbe(s, true, t)).toBe(false);
    expect(observeProbe(s, false, t)).toBe(false);
    expect(observeProbe(s, true, t)).toBe(false);
    expect(observeProbe(s, true, t)).toBe(true);
    expect(s.healthy).toBe(true);
  });

  it('ok/thresholds of one flip on every change', () => {
    const s = newTargetState('http://127.0.0.1:1', 1, 'primary');
    const one = { healthyThreshold: 1, unhealthyThreshold: 1 };
    expect([true, false, false, true, true].map((ok) => observeProbe(s, ok, one))).toEqual([false, true, false, true, false]);
  });
});
