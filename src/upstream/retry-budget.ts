import type { Clock } from '../core/clock.js';

/** Limits of a retry budget. */
export interface RetryBudgetOptions {
  /** Time source (wall clock, `now()`), unless each call passes its own `nowMs`. */
  readonly clock?: Clock;
  /** Retries allowed per original request in the window (Finagle/Linkerd: 0.2). */
  readonly ratio?: number;
  /** Retries always allowed per second of window, so a quiet service can still retry (default 3). */
  readonly minPerSecond?: number;
  /** Sliding window length, ms (default 10 s). */
  readonly windowMs?: number;
  /** Buckets the window is split into; more is smoother (default 10). */
  readonly buckets?: number;
}

/**
 * A retry budget (Finagle `RetryBudget`, Linkerd `retryBudget`): over a sliding window, retries may be at
 * most `ratio` × requests + `minPerSecond` × window seconds. When an upstream fails everything, the
 * gateway then sends at most ~1.2× the offered load instead of (attempts)× — retries cannot amplify an
 * outage. Time is `nowMs` when given, else the injected clock's `now()`; use one or the other.
 */
export interface RetryBudget {
  /** Counts one original request (call it for every request, retried or not, exactly once). */
  recordRequest(nowMs?: number): void;
  /** Takes one retry from the budget: true (and counted) when allowed, false when the budget is spent. */
  tryRetry(nowMs?: number): boolean;
  /** Whole retries left right now, for metrics and tests. */
  available(nowMs?: number): number;
}

/** A fresh retry budget; state only, no timers. Defaults: 20 % of requests + 3/s over a 10 s window. */
export function createRetryBudget(opts: RetryBudgetOptions = {}): RetryBudget {
  return new WindowedRetryBudget(opts);
}

const zeroClock: Pick<Clock, 'now'> = { now: () => 0 };

class WindowedRetryBudget implements RetryBudget {
  readonly #clock: Pick<Clock, 'now'>;
  readonly #ratio: number;
  readonly #reserve: number;
  readonly #bucketMs: number;
  readonly #requests: Float64Array;
  readonly #retries: Float64Array;
  /** Index of the bucket the clock was last in, as an absolute bucket number. */
  #epoch = -1;

  constructor(opts: RetryBudgetOptions) {
    const windowMs = opts.windowMs ?? 10_000;
    const buckets = Math.max(1, Math.floor(opts.buckets ?? 10));
    // Without a clock every call must pass nowMs; a missing one then counts as time 0.
    this.#clock = opts.clock ?? zeroClock;
    this.#ratio = opts.ratio ?? 0.2;
    this.#reserve = (opts.minPerSecond ?? 3) * (windowMs / 1000);
    this.#bucketMs = windowMs / buckets;
    this.#requests = new Float64Array(buckets);
    this.#retries = new Float64Array(buckets);
  }

  recordRequest(nowMs?: number): void {
    const i = this.#advance(nowMs);
    this.#requests[i] = (this.#requests[i] as number) + 1;
  }

  tryRetry(nowMs?: number): boolean {
    const i = this.#advance(nowMs);
    if (this.#balance() < 1) return false;
    this.#retries[i] = (this.#retries[i] as number) + 1;
    return true;
  }

  available(nowMs?: number): number {
    this.#advance(nowMs);
    return Math.max(0, Math.floor(this.#balance()));
  }

  #balance(): number {
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < this.#requests.length; i++) {
      requests += this.#requests[i] as number;
      retries += this.#retries[i] as number;
    }
    return this.#reserve + this.#ratio * requests - retries;
  }

  /** Clears the buckets the clock has moved past and returns the current one. */
  #advance(nowMs: number | undefined): number {
    const n = this.#requests.length;
    const epoch = Math.floor((nowMs ?? this.#clock.now()) / this.#bucketMs);
    if (this.#epoch < 0) this.#epoch = epoch;
    const gap = Math.min(n, epoch - this.#epoch);
    for (let k = 1; k <= gap; k++) {
      const j = (((this.#epoch + k) % n) + n) % n;
      this.#requests[j] = 0;
      this.#retries[j] = 0;
    }
    // A clock that stepped back keeps filling the newest bucket rather than corrupting older ones.
    if (epoch > this.#epoch) this.#epoch = epoch;
    return ((this.#epoch % n) + n) % n;
  }
}
