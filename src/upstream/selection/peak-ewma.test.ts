import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.js';
import { seededRandom } from '../../core/random.js';
import { newPeakEwmaSelector, observeLatency, peakEwmaCost } from './peak-ewma.js';
import { makeTargets, runSelectorSuite, shares } from './selector.case.js';

runSelectorSuite({ newSelector: (deps) => newPeakEwmaSelector(deps) });

describe('peak-ewma', () => {
  it('ok/a slower sample replaces the average at once (the peak)', () => {
    const [t] = makeTargets([1]);
    observeLatency(t!, 10, 0);
    observeLatency(t!, 200, 1);
    expect(t!.ewmaMs).toBe(200);
  });

  it('ok/a faster sample is blended in by the time elapsed', () => {
    const [t] = makeTargets([1]);
    observeLatency(t!, 100, 0, 10_000);
    observeLatency(t!, 0, 10_000, 10_000);
    expect(t!.ewmaMs).toBeCloseTo(100 * Math.exp(-1), 6);
  });

  it('ok/cost decays toward zero while idle and scales with requests in flight', () => {
    const [t] = makeTargets([1]);
    observeLatency(t!, 100, 0, 10_000);
    expect(peakEwmaCost(t!, 0, 10_000)).toBe(100);
    expect(peakEwmaCost(t!, 10_000, 10_000)).toBeCloseTo(100 * Math.exp(-1), 6);
    t!.inFlight = 3;
    expect(peakEwmaCost(t!, 0, 10_000)).toBe(400);
  });

  it('ok/a target with requests in flight and no latency yet costs more than any measured one', () => {
    const [fresh, measured] = makeTargets([1, 1]);
    fresh!.inFlight = 1;
    observeLatency(measured!, 5_000, 0);
    expect(peakEwmaCost(fresh!, 0)).toBeGreaterThan(peakEwmaCost(measured!, 0));
  });

  it('ok/the faster of two targets takes the first choice', () => {
    const clock = new ManualClock();
    const selector = newPeakEwmaSelector({ clock, random: seededRandom(5) });
    const [slow, fast] = makeTargets([1, 1]);
    observeLatency(slow!, 300, clock.monotonic());
    observeLatency(fast!, 20, clock.monotonic());
    expect(shares(selector, [slow!, fast!], 1_000)).toEqual([0, 1]);
  });

  it('ok/a slow target gets traffic again once its cost has decayed', () => {
    const clock = new ManualClock();
    const selector = newPeakEwmaSelector({ clock, random: seededRandom(6), decayMs: 1_000 });
    const [slow, fast] = makeTargets([1, 1]);
    observeLatency(slow!, 300, 0, 1_000);
    observeLatency(fast!, 20, 0, 1_000);
    fast!.inFlight = 20; // the fast one is now busy: 20 × 21 = 420 > 300
    expect(shares(selector, [slow!, fast!], 100)).toEqual([1, 0]);
    fast!.inFlight = 0;
    expect(shares(selector, [slow!, fast!], 100)).toEqual([0, 1]);
    // Idle, the slow target's cost decays toward zero; the busy fast one keeps getting fresh samples,
    // so once 300 ms has faded below 20 ms the slow one is probed again (Finagle's recovery path).
    clock.advance(5_000);
    observeLatency(fast!, 20, clock.monotonic(), 1_000);
    expect(shares(selector, [slow!, fast!], 100)).toEqual([1, 0]);
  });
});
