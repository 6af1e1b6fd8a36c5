import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../core/random.js';
import { newLeastRequestSelector } from './least-request.js';
import { makeTargets, runSelectorSuite, shares } from './selector.case.js';

runSelectorSuite({ newSelector: (deps) => newLeastRequestSelector(deps) });

describe('least-request', () => {
  it('ok/the busier of two targets never takes the first choice', () => {
    const selector = newLeastRequestSelector({ random: seededRandom(1) });
    const targets = makeTargets([1, 1]);
    targets[0]!.inFlight = 10;
    const [a, b] = shares(selector, targets, 1_000);
    expect(a).toBe(0);
    expect(b).toBe(1);
  });

  it('ok/the busiest of many only wins when drawn with an equally busy one', () => {
    const selector = newLeastRequestSelector({ random: seededRandom(2) });
    const targets = makeTargets([1, 1, 1, 1]);
    targets[0]!.inFlight = 5;
    const [busy, ...rest] = shares(selector, targets, 8_000);
    expect(busy).toBe(0);
    // Each idle target is in the pair half the time and wins it unless paired with another idle one first.
    for (const s of rest) expect(s).toBeCloseTo(1 / 3, 1);
  });

  it('ok/load is in-flight per weight: 2 of weight 2 ties 1 of weight 1', () => {
    const selector = newLeastRequestSelector({ random: seededRandom(3) });
    const targets = makeTargets([2, 1]);
    targets[0]!.inFlight = 2;
    targets[1]!.inFlight = 1;
    const [a] = shares(selector, targets, 9_000);
    expect(a).toBeCloseTo(2 / 3, 1);
  });

  it('ok/a simulated backlog drains toward the idle target', () => {
    const selector = newLeastRequestSelector({ random: seededRandom(4) });
    const targets = makeTargets([1, 1, 1]);
    // Requests never finish on target 0 (a stuck backend): it stops receiving once it leads the others.
    for (let i = 0; i < 300; i++) {
      const t = [...selector.candidates(targets, '')][0]!;
      t.inFlight++;
      if (t !== targets[0]) t.inFlight--;
    }
    expect(targets[0]!.inFlight).toBeLessThanOrEqual(1);
  });
});
