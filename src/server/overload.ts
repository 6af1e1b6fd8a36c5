/**
 * The overload manager (after Envoy's): a cheap periodic look at event-loop delay and heap use.
 * While either is over its threshold the gateway is "overloaded": new connections are closed at
 * accept (listener.ts) and new requests get 503 OVERLOADED with `Retry-After: 1` (app.ts). The hot
 * path only reads `overloaded`; the sampling runs every `intervalMs` on an unref'd timer.
 *
 * Event-loop delay comes from node:perf_hooks `monitorEventLoopDelay` (the largest delay seen since
 * the previous sample); heap use is `heapUsed / heap_size_limit`. Event-loop delay must be over its
 * threshold in `LAG_SAMPLES` samples in a row: one long block (a reload compiling a large config) is
 * over once it has ended and shedding then would only refuse work the loop could do; a flood keeps
 * every sample late. Heap over its fraction sheds at the first sample. One good sample ends overload.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

export interface OverloadSample {
  /** Largest event-loop delay since the previous sample, ms. */
  readonly loopDelayMs: number;
  /** heapUsed / heap_size_limit, 0..1. */
  readonly heapFraction: number;
}

export interface OverloadThresholds {
  /** 0 turns the check off. */
  readonly maxEventLoopDelayMs: number;
  /** 0 turns the check off. */
  readonly maxHeapFraction: number;
}

export type OverloadReason = 'event_loop' | 'heap';

/** Consecutive samples over the event-loop threshold before shedding starts. */
export const LAG_SAMPLES = 2;

/** The pure decision: which threshold, if any, a sample is over. */
export function overloadReason(s: OverloadSample, t: OverloadThresholds): OverloadReason | undefined {
  if (t.maxEventLoopDelayMs > 0 && s.loopDelayMs > t.maxEventLoopDelayMs) return 'event_loop';
  if (t.maxHeapFraction > 0 && s.heapFraction > t.maxHeapFraction) return 'heap';
  return undefined;
}

export interface Sampler {
  sample(): OverloadSample;
  stop(): void;
}

/**
 * The process sampler: monitorEventLoopDelay (10 ms resolution), the lateness of the sampling call
 * itself against `intervalMs` (what a blocked loop does to the sampling timer; also covers the case
 * where the histogram misses a block), and v8 heap statistics.
 */
export function processSampler(intervalMs: number): Sampler {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const heapLimit = getHeapStatistics().heap_size_limit;
  let last = performance.now();
  return {
    sample() {
      const now = performance.now();
      const late = now - last - intervalMs;
      last = now;
      // h.max is in ns; with no sample yet it is 0.
      const loopDelayMs = Math.max(late, h.count > 0 ? h.max / 1e6 : 0);
      h.reset();
      return { loopDelayMs, heapFraction: heapLimit > 0 ? process.memoryUsage().heapUsed / heapLimit : 0 };
    },
    stop() {
      h.disable();
    },
  };
}

export interface OverloadManager {
  /** Read on every new connection and request. */
  readonly overloaded: boolean;
  readonly reason: OverloadReason | undefined;
  /** One sample now (the timer calls it; tests drive it). */
  check(): void;
  setThresholds(t: OverloadThresholds): void;
  stop(): void;
}

export interface OverloadOptions {
  readonly sampler?: Sampler;
  /** Sampling period (default 200 ms); 0: no timer, the caller calls check(). */
  readonly intervalMs?: number;
  /** Called when the state flips (the gauge, a log line). */
  readonly onChange?: (overloaded: boolean, reason: OverloadReason | undefined) => void;
}

export function createOverloadManager(thresholds: OverloadThresholds, opts: OverloadOptions = {}): OverloadManager {
  let t = thresholds;
  let sampler: Sampler | undefined = opts.sampler;
  let reason: OverloadReason | undefined;
  let lagged = 0;
  const intervalMs = opts.intervalMs ?? 200;
  let timer: NodeJS.Timeout | undefined;
  const enabled = (): boolean => t.maxEventLoopDelayMs > 0 || t.maxHeapFraction > 0;

  const check = (): void => {
    if (!enabled()) {
      set(undefined);
      return;
    }
    sampler ??= processSampler(intervalMs);
    const r = overloadReason(sampler.sample(), t);
    lagged = r === 'event_loop' ? lagged + 1 : 0;
    set(r === 'event_loop' && lagged < LAG_SAMPLES ? undefined : r);
  };
  const set = (r: OverloadReason | undefined): void => {
    const was = reason !== undefined;
    reason = r;
    if (was !== (r !== undefined)) opts.onChange?.(r !== undefined, r);
  };
  const arm = (): void => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
    if (intervalMs <= 0 || !enabled()) return;
    timer = setInterval(check, intervalMs);
    timer.unref();
  };
  arm();
  return {
    get overloaded() {
      return reason !== undefined;
    },
    get reason() {
      return reason;
    },
    check,
    setThresholds(next) {
      if (next.maxEventLoopDelayMs === t.maxEventLoopDelayMs && next.maxHeapFraction === t.maxHeapFraction) return;
      t = next;
      arm();
      if (!enabled()) set(undefined);
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      sampler?.stop();
      set(undefined);
    },
  };
}
