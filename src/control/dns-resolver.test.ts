import { describe, expect, it } from 'vitest';
import { nextDelayMs } from './dns-resolver.js';

const limits = { intervalMs: undefined, minIntervalMs: 1_000, maxIntervalMs: 300_000, noTtlIntervalMs: 30_000 };

describe('re-resolution schedule', () => {
  it('ok/on the TTL, within the floor and the ceiling', () => {
    expect(nextDelayMs(limits, 60, 0)).toBe(60_000);
    expect(nextDelayMs(limits, 0, 0)).toBe(1_000);
    expect(nextDelayMs(limits, 86_400, 0)).toBe(300_000);
  });

  it('ok/resolveInterval replaces the TTL (still clamped); no TTL uses noTtlInterval', () => {
    expect(nextDelayMs({ ...limits, intervalMs: 5_000 }, 60, 0)).toBe(5_000);
    expect(nextDelayMs({ ...limits, intervalMs: 10 }, 60, 0)).toBe(1_000);
    expect(nextDelayMs(limits, undefined, 0)).toBe(30_000);
  });

  it('ok/after failures: the floor, doubling, never later than the normal interval', () => {
    expect([1, 2, 3, 4, 5, 6, 10, 50].map((n) => nextDelayMs(limits, undefined, n))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    expect(nextDelayMs({ ...limits, intervalMs: 3_000 }, undefined, 5)).toBe(3_000);
  });
});
