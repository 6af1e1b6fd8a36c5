import { describe, expect, it } from 'vitest';
import { QuotaWatch } from './quota-watch.js';

describe('QuotaWatch', () => {
  it('ok/counts distinct keys per route until their window ends; routes seen stay at 0', () => {
    const w = new QuotaWatch();
    w.observe('api', 'k1', 1000);
    w.observe('api', 'k1', 1000);
    w.observe('api', 'k2', 2000);
    w.observe('web', 'k1', 1000);
    expect(Object.fromEntries(w.counts(500))).toEqual({ api: 2, web: 1 });
    expect(Object.fromEntries(w.counts(1000))).toEqual({ api: 1, web: 0 });
    expect(Object.fromEntries(w.counts(2000))).toEqual({ api: 0, web: 0 });
  });

  it('error/past the bound new keys are dropped (counted), known keys still update', () => {
    const w = new QuotaWatch(2);
    w.observe('api', 'a', 10);
    w.observe('api', 'b', 10);
    w.observe('api', 'c', 10);
    w.observe('api', 'a', 20);
    expect(w.dropped).toBe(1);
    expect(Object.fromEntries(w.counts(15))).toEqual({ api: 1 });
  });
});
