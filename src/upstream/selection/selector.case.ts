/**
 * The shared suite every selector runs (hono's `runTest({ newRouter })` in router/common.case.test.ts):
 * what any `Selector` promises, whatever its algorithm.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.js';
import { seededRandom } from '../../core/random.js';
import { newTargetState, type TargetState } from '../target-state.js';
import type { NewSelector, Selector } from './selector.js';

/** Targets named a, b, c… on consecutive ports, with the given weights. */
export function makeTargets(weights: readonly number[], tier: 'primary' | 'backup' = 'primary'): TargetState[] {
  return weights.map((w, i) => newTargetState(`http://10.0.0.${i + 1}:${8000 + i}`, w, tier));
}

/** A selector with a seeded Random and a ManualClock. */
export function freshSelector(newSelector: NewSelector, seed = 42): { selector: Selector; clock: ManualClock } {
  const clock = new ManualClock();
  return { selector: newSelector({ clock, random: seededRandom(seed) }), clock };
}

/** The first candidate that `accept` takes, as the pool would pick it. */
export function firstAccepted(selector: Selector, targets: readonly TargetState[], key: string, accept: (t: TargetState) => boolean = () => true): TargetState | undefined {
  for (const t of selector.candidates(targets, key)) if (accept(t)) return t;
  return undefined;
}

/** Share of first choices per target over `rounds` requests with distinct keys. */
export function shares(selector: Selector, targets: readonly TargetState[], rounds: number, accept?: (t: TargetState) => boolean): number[] {
  const counts = new Map<TargetState, number>();
  for (let i = 0; i < rounds; i++) {
    const t = firstAccepted(selector, targets, `user-${i}`, accept);
    if (t) counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  return targets.map((t) => (counts.get(t) ?? 0) / rounds);
}

/** Runs the shared selector cases against `newSelector`. */
export function runSelectorSuite({ newSelector }: { newSelector: NewSelector }): void {
  describe('selector contract', () => {
    it('ok/empty target set yields nothing', () => {
      const { selector } = freshSelector(newSelector);
      expect([...selector.candidates([], 'k')]).toEqual([]);
    });

    it('ok/single target is always the first choice', () => {
      const { selector } = freshSelector(newSelector);
      const targets = makeTargets([3]);
      for (let i = 0; i < 20; i++) expect(firstAccepted(selector, targets, `k${i}`)).toBe(targets[0]);
    });

    it('ok/walking to the end sees every target and nothing else', () => {
      const { selector } = freshSelector(newSelector);
      const targets = makeTargets([1, 2, 3, 1, 1]);
      for (let i = 0; i < 50; i++) {
        const seen = [...selector.candidates(targets, `k${i}`)];
        expect(new Set(seen)).toEqual(new Set(targets));
        expect(seen.length).toBeLessThanOrEqual(64 * targets.length + targets.length);
      }
    });

    it('ok/equal weights share the first choice evenly', () => {
      const { selector } = freshSelector(newSelector);
      const targets = makeTargets([1, 1, 1, 1, 1]);
      for (const s of shares(selector, targets, 10_000)) expect(s).toBeCloseTo(0.2, 1);
    });

    it('ok/3:1 weights share the first choice about 3:1', () => {
      const { selector } = freshSelector(newSelector);
      const targets = makeTargets([3, 1]);
      const [a, b] = shares(selector, targets, 10_000);
      expect(a).toBeGreaterThan(0.71);
      expect(a).toBeLessThan(0.79);
      expect(b).toBeGreaterThan(0.21);
    });

    it('ok/traffic of a rejected target spreads over the others', () => {
      const { selector } = freshSelector(newSelector);
      const targets = makeTargets([1, 1, 1]);
      const down = targets[0];
      const [a, b, c] = shares(selector, targets, 6_000, (t) => t !== down);
      expect(a).toBe(0);
      expect(b).toBeGreaterThan(0.4);
      expect(c).toBeGreaterThan(0.4);
    });

    it('ok/a different target array is compiled on first use', () => {
      const { selector } = freshSelector(newSelector);
      const before = makeTargets([1, 1]);
      firstAccepted(selector, before, 'k');
      const after = [newTargetState('http://10.9.9.9:9000', 1, 'primary')];
      selector.prepare?.(after);
      for (let i = 0; i < 10; i++) expect(firstAccepted(selector, after, `k${i}`)).toBe(after[0]);
    });
  });
}
