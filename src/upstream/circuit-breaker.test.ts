import { describe, expect, it } from 'vitest';
import { activeOf, createCircuitBreaker, leave, pendingOf, tryEnter } from './circuit-breaker.js';

describe('circuit breaker', () => {
  it('ok/admits maxConnections active plus maxPendingRequests pending, then refuses', () => {
    const cb = createCircuitBreaker({ maxConnections: 2, maxPendingRequests: 1 });
    expect([tryEnter(cb), tryEnter(cb), tryEnter(cb), tryEnter(cb)]).toEqual([true, true, true, false]);
    expect(activeOf(cb)).toBe(2);
    expect(pendingOf(cb)).toBe(1);
    expect(cb.rejected).toBe(1);
  });

  it('ok/a release lets the next one in', () => {
    const cb = createCircuitBreaker({ maxConnections: 1, maxPendingRequests: 0 });
    expect(tryEnter(cb)).toBe(true);
    expect(tryEnter(cb)).toBe(false);
    leave(cb);
    expect(tryEnter(cb)).toBe(true);
  });

  it('ok/a double release does not open the gate wider', () => {
    const cb = createCircuitBreaker({ maxConnections: 1, maxPendingRequests: 0 });
    leave(cb);
    leave(cb);
    expect(tryEnter(cb)).toBe(true);
    expect(tryEnter(cb)).toBe(false);
  });
});
