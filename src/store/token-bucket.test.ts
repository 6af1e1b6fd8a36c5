import { describe, expect, it } from 'vitest';
import { BACKWARD_STEP_MS, bucketParams, msUntilFull, takeToken, type BucketState } from './token-bucket.js';

const T0 = 1_700_000_000_000;

/** Takes one token at each of `times`, threading the state. */
function run(params: ReturnType<typeof bucketParams>, times: number[], start?: BucketState) {
  let state = start;
  return times.map((t) => {
    const r = takeToken(state, t, params);
    state = r.state;
    return r;
  });
}

describe('takeToken', () => {
  it('ok/new bucket starts full at burst', () => {
    const r = takeToken(undefined, T0, bucketParams(10, 1000, 20));
    expect(r).toEqual({ allowed: true, state: { tokens: 19, updatedMs: T0 }, remaining: 19, retryAfterMs: 0 });
  });

  it('ok/capacity defaults to rate', () => {
    expect(bucketParams(100, 1000)).toEqual({ capacity: 100, refillPerMs: 0.1 });
  });

  it('ok/capacity is at least one token', () => {
    const p = bucketParams(0.5, 1000);
    expect(p.capacity).toBe(1);
    const [a, b, c] = run(p, [T0, T0 + 1999, T0 + 2000]);
    expect([a?.allowed, b?.allowed, c?.allowed]).toEqual([true, false, true]);
    expect(b?.retryAfterMs).toBe(1);
  });

  it('ok/burst then steady rate', () => {
    const p = bucketParams(10, 1000, 3); // one token per 100 ms
    const r = run(p, [T0, T0, T0, T0, T0 + 99, T0 + 100, T0 + 150, T0 + 200, T0 + 300]);
    expect(r.map((x) => x.allowed)).toEqual([true, true, true, false, false, true, false, true, true]);
    expect(r[3]?.retryAfterMs).toBe(100);
    expect(r[4]?.retryAfterMs).toBe(1);
    expect(r[6]?.retryAfterMs).toBe(50);
  });

  it('ok/refused take leaves the tokens untouched', () => {
    const p = bucketParams(1, 1000);
    const [, refused] = run(p, [T0, T0 + 400]);
    expect(refused?.state).toEqual({ tokens: 0.4, updatedMs: T0 + 400 });
    expect(refused?.remaining).toBe(0);
    expect(refused?.retryAfterMs).toBe(600);
  });

  it('ok/fractional refill is kept, not rounded away', () => {
    const p = bucketParams(3, 1000, 2); // 0.003 tokens per ms
    // 0.999 tokens is not one; 1.002 is, and the 0.002 left over counts towards the next.
    const r = run(p, [T0 + 100, T0 + 333, T0 + 334, T0 + 666, T0 + 667], { tokens: 0, updatedMs: T0 });
    expect(r.map((x) => x.allowed)).toEqual([false, false, true, false, true]);
    expect(r[1]?.retryAfterMs).toBe(1);
    expect(r[2]?.state.tokens).toBeCloseTo(0.002, 9);
    expect(r[4]?.state.tokens).toBeCloseTo(0.001, 9);
    const r2 = run(bucketParams(10, 1000, 1), [T0, T0 + 10, T0 + 30, T0 + 60, T0 + 100]); // 0.1 + 0.2 + 0.3 + 0.4
    expect(r2.map((x) => x.allowed)).toEqual([true, false, false, false, true]);
  });

  it('ok/clock going backwards by up to BACKWARD_STEP_MS mints nothing', () => {
    const p = bucketParams(10, 1000, 2);
    const r = run(p, [T0, T0, T0 - BACKWARD_STEP_MS, T0 - 500, T0]);
    expect(r.map((x) => x.allowed)).toEqual([true, true, false, false, false]);
    expect(r[4]?.state).toEqual({ tokens: 0, updatedMs: T0 });
    // Only time after the latest seen instant refills.
    expect(takeToken(r[4]?.state, T0 + 100, p).allowed).toBe(true);
  });

  it('ok/a backward step beyond BACKWARD_STEP_MS rebases: refill resumes from the new time, never negative', () => {
    const p = bucketParams(1, 1000, 2);
    const back = T0 - 3_600_000;
    const r = run(p, [T0, T0, back, back + 999, back + 1000]);
    expect(r.map((x) => x.allowed)).toEqual([true, true, false, false, true]);
    expect(r[2]?.state).toEqual({ tokens: 0, updatedMs: back });
    expect(r.every((x) => x.state.tokens >= 0)).toBe(true);
  });

  it('ok/long idle caps at capacity', () => {
    const p = bucketParams(10, 1000, 5);
    const r = run(p, [T0, T0 + 86_400_000]);
    expect(r[1]?.remaining).toBe(4);
    expect(r[1]?.state.tokens).toBe(4);
  });

  it('ok/retryAfterMs is 0 while a token remains', () => {
    const p = bucketParams(10, 1000, 2);
    expect(run(p, [T0]).at(0)?.retryAfterMs).toBe(0);
  });

  it('ok/cost above one waits for all of it', () => {
    const p = bucketParams(10, 1000, 5);
    const r = takeToken({ tokens: 2, updatedMs: T0 }, T0, p, 3);
    expect(r).toMatchObject({ allowed: false, remaining: 2, retryAfterMs: 100 });
  });

  it('ok/msUntilFull is when a stored state equals no state', () => {
    const p = bucketParams(10, 1000, 5);
    expect(msUntilFull(0, p)).toBe(500);
    expect(msUntilFull(5, p)).toBe(1);
    const idle = takeToken({ tokens: 0, updatedMs: T0 }, T0 + msUntilFull(0, p), p);
    expect(idle).toEqual(takeToken(undefined, T0 + 500, p));
  });
});
