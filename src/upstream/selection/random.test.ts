import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../core/random.js';
import { newRandomSelector } from './random.js';
import { makeTargets, runSelectorSuite, shares } from './selector.case.js';

runSelectorSuite({ newSelector: (deps) => newRandomSelector(deps) });

describe('random', () => {
  it('ok/1:2:7 weights give shares near 10% 20% 70%', () => {
    const selector = newRandomSelector({ random: seededRandom(7) });
    const [a, b, c] = shares(selector, makeTargets([1, 2, 7]), 20_000);
    expect(a).toBeCloseTo(0.1, 1);
    expect(b).toBeCloseTo(0.2, 1);
    expect(c).toBeCloseTo(0.7, 1);
  });

  it('ok/same seed gives the same sequence', () => {
    const targets = makeTargets([1, 1, 1]);
    const run = (): string[] => {
      const s = newRandomSelector({ random: seededRandom(3) });
      return Array.from({ length: 20 }, () => [...s.candidates(targets, '')][0]!.url);
    };
    expect(run()).toEqual(run());
  });
});
