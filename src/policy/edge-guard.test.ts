import { describe, expect, it } from 'vitest';
import { createEdgeGuard } from './edge-guard.js';

async function poll(pred: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await pred())) {
    if (performance.now() > deadline) throw new Error(`not within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('edge guard (memory)', () => {
  it('ok/handshakes per IP up to the limit, then refused; other IPs unaffected', async () => {
    const g = createEdgeGuard({ handshakes: { points: 3, durationSec: 60 } });
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await g.allowHandshake('192.0.2.1'));
    expect(got).toEqual([true, true, true, false]);
    expect(await g.allowHandshake('192.0.2.2')).toBe(true);
  });

  it('error/CA failures block the IP at the limit', async () => {
    const g = createEdgeGuard({ caFailures: { maxFailures: 3, windowSec: 60, blockSec: 60 } });
    expect(await g.caBlocked('192.0.2.1')).toBe(false);
    expect([await g.recordCaFailure('192.0.2.1'), await g.recordCaFailure('192.0.2.1')]).toEqual([true, true]);
    expect(await g.caBlocked('192.0.2.1')).toBe(false);
    expect(await g.recordCaFailure('192.0.2.1')).toBe(false);
    expect(await g.caBlocked('192.0.2.1')).toBe(true);
    expect(await g.recordCaFailure('192.0.2.1')).toBe(false);
    expect(await g.caBlocked('192.0.2.9')).toBe(false);
  });

  it('ok/the block ends after blockSec', async () => {
    const g = createEdgeGuard({ caFailures: { maxFailures: 1, windowSec: 60, blockSec: 0.2 } });
    expect(await g.recordCaFailure('192.0.2.1')).toBe(false);
    expect(await g.caBlocked('192.0.2.1')).toBe(true);
    await poll(async () => !(await g.caBlocked('192.0.2.1')), 2000);
  });
});
