/** Time as the gateway sees it. Injected everywhere so tests can drive it. */
export interface Clock {
  /** Wall-clock milliseconds since the epoch. */
  now(): number;
  /** Monotonic milliseconds, for measuring durations. */
  monotonic(): number;
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  monotonic: () => performance.now(),
});

/** A clock that only moves when told to: for tests. */
export class ManualClock implements Clock {
  #now: number;
  #mono = 0;
  constructor(startMs = 1_700_000_000_000) {
    this.#now = startMs;
  }
  now(): number {
    return this.#now;
  }
  monotonic(): number {
    return this.#mono;
  }
  advance(ms: number): void {
    this.#now += ms;
    this.#mono += ms;
  }
  set(ms: number): void {
    this.#now = ms;
  }
}
