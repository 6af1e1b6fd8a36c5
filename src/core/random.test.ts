import { describe, expect, it } from 'vitest';
import { seededRandom, systemRandom } from './random.js';

describe('random', () => {
  it('ok/system ids are lowercase hex of the asked length and do not repeat', () => {
    const seen = new Set<string>();
    for (const n of [1, 3, 4, 8, 16, 63, 64, 65, 200]) expect(systemRandom.hex(n)).toMatch(new RegExp(`^[0-9a-f]{${n * 2}}$`));
    for (let i = 0; i < 100_000; i++) seen.add(systemRandom.hex(8));
    expect(seen.size).toBe(100_000);
  });

  it('ok/system ids use every hex digit about evenly', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) for (const ch of systemRandom.hex(16)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(16);
    const expected = (20_000 * 32) / 16;
    for (const c of counts.values()) expect(Math.abs(c - expected) / expected).toBeLessThan(0.05);
  });

  it('ok/seeded randomness repeats for the same seed', () => {
    expect(seededRandom(7).hex(8)).toBe(seededRandom(7).hex(8));
  });
});
