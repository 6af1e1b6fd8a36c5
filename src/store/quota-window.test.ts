import { describe, expect, it } from 'vitest';
import { QUOTA_PERIOD_MS, isQuotaPeriod, quotaWindow } from './quota-window.js';

describe('quotaWindow', () => {
  it('ok/1h is the UTC hour', () => {
    const now = Date.UTC(2024, 2, 31, 23, 59, 59, 999);
    expect(quotaWindow(now, '1h')).toEqual({ startMs: Date.UTC(2024, 2, 31, 23), endMs: Date.UTC(2024, 3, 1, 0) });
  });

  it('ok/1d is the UTC day', () => {
    expect(quotaWindow(Date.UTC(2024, 1, 29, 12), '1d')).toEqual({
      startMs: Date.UTC(2024, 1, 29),
      endMs: Date.UTC(2024, 2, 1),
    });
  });

  it('ok/window start belongs to the new window', () => {
    const midnight = Date.UTC(2024, 0, 2);
    expect(quotaWindow(midnight, '1d').startMs).toBe(midnight);
    expect(quotaWindow(midnight - 1, '1d').endMs).toBe(midnight);
  });

  it('ok/30d windows are aligned to the Unix epoch, not to months', () => {
    expect(quotaWindow(0, '30d')).toEqual({ startMs: 0, endMs: 30 * 86_400_000 });
    // 2024-01-01 is day 19723 since the epoch; 19723 = 657 * 30 + 13.
    const w = quotaWindow(Date.UTC(2024, 0, 1), '30d');
    expect(w.startMs).toBe(657 * 30 * 86_400_000);
    expect(new Date(w.startMs).toISOString()).toBe('2023-12-19T00:00:00.000Z');
    expect(w.endMs - w.startMs).toBe(QUOTA_PERIOD_MS['30d']);
  });

  it('ok/periods narrow', () => {
    expect(['1h', '1d', '30d', '1m'].map(isQuotaPeriod)).toEqual([true, true, true, false]);
  });
});
