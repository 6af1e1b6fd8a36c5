import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { createRetryBudget } from './retry-budget.js';

describe('retry budget', () => {
  it('ok/a quiet service still gets the minimum: 3 per second over the window', () => {
    const budget = createRetryBudget({ clock: new ManualClock(0) });
    let granted = 0;
    while (budget.tryRetry()) granted++;
    expect(granted).toBe(30);
  });

  it('error/retries stay near 20% of requests when everything fails', () => {
    const clock = new ManualClock(0);
    const budget = createRetryBudget({ clock, minPerSecond: 0 });
    let requests = 0;
    let retries = 0;
    // 60 s at 100 requests per second, every request wants 2 retries.
    for (let ms = 0; ms < 60_000; ms += 10) {
      clock.advance(10);
      budget.recordRequest();
      requests++;
      if (budget.tryRetry()) retries++;
      if (budget.tryRetry()) retries++;
    }
    expect(retries / requests).toBeGreaterThan(0.19);
    expect(retries / requests).toBeLessThan(0.21);
  });

  it('ok/old requests leave the window', () => {
    const clock = new ManualClock(0);
    const budget = createRetryBudget({ clock, minPerSecond: 0, windowMs: 10_000 });
    for (let i = 0; i < 100; i++) budget.recordRequest();
    expect(budget.available()).toBe(20);
    clock.advance(5_000);
    expect(budget.available()).toBe(20);
    clock.advance(5_000);
    expect(budget.available()).toBe(0);
  });

  it('ok/nowMs passed per call works without a clock', () => {
    const budget = createRetryBudget({ minPerSecond: 0 });
    for (let i = 0; i < 10; i++) budget.recordRequest(1_000);
    expect(budget.tryRetry(1_500)).toBe(true);
    expect(budget.tryRetry(1_600)).toBe(true);
    expect(budget.tryRetry(1_700)).toBe(false);
    expect(budget.available(60_000)).toBe(0);
  });
});
