import { describe, expect, it } from 'vitest';
import { newRoundRobinSelector } from './round-robin.js';
import { firstAccepted, makeTargets, runSelectorSuite } from './selector.case.js';

runSelectorSuite({ newSelector: () => newRoundRobinSelector() });

describe('round-robin', () => {
  const names = (weights: number[], rounds: number, accept?: (i: number) => boolean): string => {
    const selector = newRoundRobinSelector();
    const targets = makeTargets(weights);
    const out: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const t = firstAccepted(selector, targets, '', accept && ((x) => accept(targets.indexOf(x))));
      out.push(String.fromCharCode(97 + targets.indexOf(t!)));
    }
    return out.join(' ');
  };

  it('ok/3:1 weights give A A B A', () => {
    expect(names([3, 1], 8)).toBe('a a b a a a b a');
  });

  it('ok/5:1:1 weights give the nginx sequence a a b a c a a', () => {
    expect(names([5, 1, 1], 7)).toBe('a a b a c a a');
  });

  it('ok/equal weights rotate', () => {
    expect(names([1, 1, 1], 6)).toBe('a b c a b c');
  });

  it('ok/a rejected target is skipped and the rest keep their ratio', () => {
    // c rejected: a and b still alternate 2:1 as their weights say.
    expect(names([2, 1, 3], 6, (i) => i !== 2)).toBe('a b a a b a');
  });
});
