import { describe, expect, it } from 'vitest';
import { createOverloadManager, overloadReason, type OverloadSample, type Sampler } from './overload.js';

const T = { maxEventLoopDelayMs: 250, maxHeapFraction: 0.95 };

function fakeSampler(): Sampler & { next: OverloadSample; stopped: boolean } {
  const s = {
    next: { loopDelayMs: 0, heapFraction: 0.1 },
    stopped: false,
    sample: () => s.next,
    stop: () => {
      s.stopped = true;
    },
  };
  return s;
}

describe('overload decision', () => {
  it('ok/below both thresholds is not overloaded', () => {
    expect(overloadReason({ loopDelayMs: 250, heapFraction: 0.95 }, T)).toBeUndefined();
  });
  it('error/event-loop delay over the threshold is overload', () => {
    expect(overloadReason({ loopDelayMs: 251, heapFraction: 0.1 }, T)).toBe('event_loop');
  });
  it('error/heap over the fraction is overload', () => {
    expect(overloadReason({ loopDelayMs: 0, heapFraction: 0.96 }, T)).toBe('heap');
  });
  it('ok/a threshold of 0 turns its check off', () => {
    expect(overloadReason({ loopDelayMs: 10_000, heapFraction: 1 }, { maxEventLoopDelayMs: 0, maxHeapFraction: 0 })).toBeUndefined();
  });
});

describe('overload manager', () => {
  it('error/enters after two late samples in a row and leaves on the next good one, reporting each flip once', () => {
    const s = fakeSampler();
    const flips: boolean[] = [];
    const m = createOverloadManager(T, { sampler: s, intervalMs: 0, onChange: (o) => flips.push(o) });
    m.check();
    expect(m.overloaded).toBe(false);
    s.next = { loopDelayMs: 900, heapFraction: 0.1 };
    m.check();
    expect(m.overloaded).toBe(false); // one block that has ended is not overload
    m.check();
    expect(m.overloaded).toBe(true);
    expect(m.reason).toBe('event_loop');
    s.next = { loopDelayMs: 5, heapFraction: 0.1 };
    m.check();
    expect(m.overloaded).toBe(false);
    expect(flips).toEqual([true, false]);
  });

  it('ok/a single long block between good samples never sheds', () => {
    const s = fakeSampler();
    const m = createOverloadManager(T, { sampler: s, intervalMs: 0 });
    for (const d of [0, 800, 0, 600, 0]) {
      s.next = { loopDelayMs: d, heapFraction: 0.1 };
      m.check();
      expect(m.overloaded).toBe(false);
    }
  });

  it('ok/thresholds turned off on reload clear the state at once', () => {
    const s = fakeSampler();
    s.next = { loopDelayMs: 0, heapFraction: 0.99 };
    const m = createOverloadManager(T, { sampler: s, intervalMs: 0 });
    m.check();
    expect(m.reason).toBe('heap');
    m.setThresholds({ maxEventLoopDelayMs: 0, maxHeapFraction: 0 });
    expect(m.overloaded).toBe(false);
    m.check();
    expect(m.overloaded).toBe(false);
    m.stop();
    expect(s.stopped).toBe(true);
  });

  it('ok/the process sampler reads a real delay from a blocked loop', () => {
    const block = (ms: number): void => {
      const until = performance.now() + ms;
      while (performance.now() < until) {
        /* block the loop, bounded */
      }
    };
    const m = createOverloadManager({ maxEventLoopDelayMs: 50, maxHeapFraction: 0 }, { intervalMs: 0 });
    m.check(); // starts the sampler
    block(150);
    m.check();
    expect(m.overloaded).toBe(false); // one late sample
    block(150);
    m.check();
    expect(m.reason).toBe('event_loop');
    m.stop();
  });
});
