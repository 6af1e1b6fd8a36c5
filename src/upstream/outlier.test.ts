import { describe, expect, it } from 'vitest';
import { OutlierDetectionSpec } from '../spec/schema.js';
import { compileOutlierPolicy, ejectedCount, maxEjected, observeOutcome } from './outlier.js';
import { newTargetState, type TargetState } from './target-state.js';

const policy = compileOutlierPolicy(OutlierDetectionSpec.parse({ consecutiveFailures: 3, ejectionTime: '10s', maxEjectionPercent: 50 }));
const pool = (n: number): TargetState[] => Array.from({ length: n }, (_, i) => newTargetState(`http://10.0.0.${i + 1}:80`, 1, 'primary'));

function fail(t: TargetState, peers: TargetState[], now: number, times = policy.consecutiveFailures): boolean {
  let ejected = false;
  for (let i = 0; i < times; i++) ejected = observeOutcome(t, 'http-5xx', peers, policy, now) || ejected;
  return ejected;
}

describe('outlier detection', () => {
  it('ok/consecutive failures eject for the ejection time', () => {
    const peers = pool(4);
    const t = peers[0]!;
    expect(observeOutcome(t, 'connect-failure', peers, policy, 0)).toBe(false);
    expect(observeOutcome(t, 'reset', peers, policy, 0)).toBe(false);
    expect(observeOutcome(t, 'timeout', peers, policy, 1_000)).toBe(true);
    expect(t.ejectedUntil).toBe(11_000);
  });

  it('ok/a success resets the count', () => {
    const peers = pool(4);
    const t = peers[0]!;
    fail(t, peers, 0, 2);
    observeOutcome(t, 'ok', peers, policy, 0);
    expect(fail(t, peers, 0, 2)).toBe(false);
    expect(t.ejectedUntil).toBe(0);
  });

  it('ok/each ejection in a row lasts one ejection time longer, capped at 10×', () => {
    const peers = pool(4);
    const t = peers[0]!;
    let now = 0;
    const durations: number[] = [];
    for (let i = 0; i < 12; i++) {
      fail(t, peers, now);
      durations.push(t.ejectedUntil - now);
      now = t.ejectedUntil; // fails again as soon as it is back
    }
    expect(durations.slice(0, 4)).toEqual([10_000, 20_000, 30_000, 40_000]);
    expect(durations.at(-1)).toBe(100_000);
  });

  it('ok/the ejection count decays while the target behaves', () => {
    const peers = pool(4);
    const t = peers[0]!;
    fail(t, peers, 0);
    fail(t, peers, 10_000);
    expect(t.ejectedUntil).toBe(30_000);
    // Back at 30 s; fine for 20 s (two ejection times): the count drops from 2 to 0, so the next is 1×.
    fail(t, peers, 50_000);
    expect(t.ejectedUntil).toBe(60_000);
  });

  it('ok/failures while ejected do not extend the ejection', () => {
    const peers = pool(4);
    const t = peers[0]!;
    fail(t, peers, 0);
    expect(fail(t, peers, 5_000)).toBe(false);
    expect(t.ejectedUntil).toBe(10_000);
  });

  it('error/never more than maxEjectionPercent of the tier out at once', () => {
    const peers = pool(4);
    expect(fail(peers[0]!, peers, 0)).toBe(true);
    expect(fail(peers[1]!, peers, 0)).toBe(true);
    expect(fail(peers[2]!, peers, 0)).toBe(false);
    expect(ejectedCount(peers, 0)).toBe(2);
    // Once one is back, the next failure of the waiting one ejects it.
    expect(observeOutcome(peers[2]!, 'reset', peers, policy, 10_000)).toBe(true);
  });

  it('error/a lone target is never ejected at 50%', () => {
    const peers = pool(1);
    expect(fail(peers[0]!, peers, 0, 10)).toBe(false);
    expect(maxEjected(1, 50)).toBe(0);
    expect(maxEjected(3, 50)).toBe(1);
    expect(maxEjected(1, 100)).toBe(1);
    expect(maxEjected(10, 0)).toBe(0);
  });
});
