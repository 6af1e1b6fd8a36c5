/**
 * Timers as the gateway sets them, injected beside the Clock so tests drive background loops (cert
 * rotation, health checks) by moving time instead of sleeping.
 */
import type { ManualClock } from './clock.js';

export interface TimerHandle {
  cancel(): void;
}

export interface Scheduler {
  /** Runs `fn` once after `delayMs`; the timer never keeps the process alive (unref'd). */
  after(delayMs: number, fn: () => void): TimerHandle;
}

export const systemScheduler: Scheduler = Object.freeze({
  after(delayMs: number, fn: () => void): TimerHandle {
    const timer = setTimeout(fn, delayMs);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
});

interface Pending {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** A scheduler on a ManualClock: timers run only inside `advance`, in due order. For tests. */
export class ManualScheduler implements Scheduler {
  readonly clock: ManualClock;
  #pending: Pending[] = [];
  #seq = 0;
  constructor(clock: ManualClock) {
    this.clock = clock;
  }
  after(delayMs: number, fn: () => void): TimerHandle {
    const entry: Pending = { at: this.clock.monotonic() + Math.max(0, delayMs), seq: this.#seq++, fn };
    this.#pending.push(entry);
    return { cancel: () => (this.#pending = this.#pending.filter((p) => p !== entry)) };
  }
  /** Timers set and not yet run or cancelled. */
  get pending(): number {
    return this.#pending.length;
  }
  /** Moves the clock by `ms`, running each timer that falls due at its moment (timers they set included). */
  advance(ms: number): void {
    const end = this.clock.monotonic() + ms;
    for (;;) {
      const next = this.#pending.filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (next === undefined) break;
      this.#pending = this.#pending.filter((p) => p !== next);
      if (next.at > this.clock.monotonic()) this.clock.advance(next.at - this.clock.monotonic());
      next.fn();
    }
    if (end > this.clock.monotonic()) this.clock.advance(end - this.clock.monotonic());
  }
}
