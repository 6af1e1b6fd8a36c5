import { describe, expect, it } from 'vitest';
import { newTargetState, type TargetState } from '../target-state.js';
import { compileMaglev, newConsistentHashSelector } from './consistent-hash.js';
import { firstAccepted, makeTargets, runSelectorSuite, shares } from './selector.case.js';

runSelectorSuite({ newSelector: () => newConsistentHashSelector() });

const KEYS = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);

function assign(targets: readonly TargetState[], accept?: (t: TargetState) => boolean): string[] {
  const selector = newConsistentHashSelector();
  return KEYS.map((k) => firstAccepted(selector, targets, k, accept)!.url);
}

function movedShare(before: string[], after: string[]): number {
  let moved = 0;
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) moved++;
  return moved / before.length;
}

describe('consistent-hash (maglev)', () => {
  it('ok/the same key always lands on the same target', () => {
    const targets = makeTargets([1, 1, 1, 1]);
    const selector = newConsistentHashSelector();
    const first = firstAccepted(selector, targets, 'alice');
    for (let i = 0; i < 50; i++) expect(firstAccepted(selector, targets, 'alice')).toBe(first);
  });

  it('ok/removing one of 10 targets remaps about 1/10 of the keys', () => {
    const ten = makeTargets(Array(10).fill(1));
    const before = assign(ten);
    const after = assign(ten.filter((_, i) => i !== 3));
    const moved = movedShare(before, after);
    // The keys of the removed target must move (≈10%); Maglev moves a few more, far from a full reshuffle.
    expect(moved).toBeGreaterThan(0.09);
    expect(moved).toBeLessThan(0.13);
  });

  it('ok/adding an 11th target remaps about 1/11 of the keys', () => {
    const ten = makeTargets(Array(10).fill(1));
    const eleven = [...ten, newTargetState('http://10.0.1.1:9000', 1, 'primary')];
    const moved = movedShare(assign(ten), assign(eleven));
    expect(moved).toBeGreaterThan(0.08);
    expect(moved).toBeLessThan(0.12);
  });

  it('ok/the order targets are listed in does not change the mapping', () => {
    const targets = makeTargets([1, 2, 1, 3]);
    expect(assign([...targets].reverse())).toEqual(assign(targets));
  });

  it('ok/a rejected target sends each of its keys to a stable fallback and no one else moves', () => {
    const targets = makeTargets([1, 1, 1, 1, 1]);
    const down = targets[2]!;
    const before = assign(targets);
    const during = assign(targets, (t) => t !== down);
    expect(assign(targets, (t) => t !== down)).toEqual(during);
    const strayed = KEYS.filter((_, i) => before[i] !== down.url && during[i] !== before[i]);
    expect(strayed).toEqual([]);
    expect(during.filter((u) => u === down.url)).toEqual([]);
  });

  it('ok/1:3 weights give about 25% and 75% of the table', () => {
    const targets = makeTargets([1, 3]);
    const table = compileMaglev(targets);
    let a = 0;
    for (const slot of table.slots) if (slot === 0) a++;
    expect(a / table.size).toBeCloseTo(0.25, 2);
    const [sa] = shares(newConsistentHashSelector(), targets, 20_000);
    expect(sa).toBeCloseTo(0.25, 1);
  });
});
