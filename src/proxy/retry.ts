/**
 * When a failed upstream attempt may be tried again on another target. Pure apart from the retry budget
 * withdrawal, which happens only when everything else allows the retry.
 */
import type { UpstreamOutcome } from '../core/types.js';

const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Whether `method` is idempotent (RFC 9110 §9.2.2), i.e. safe to send twice. Case-sensitive, as methods are. */
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/** The retry policy shouldRetry reads: RetriesSpec, or its compiled form with `on` as a set. */
export interface RetryPolicy {
  /** Retries after the first try: `attempts: 2` allows up to 3 tries in all. */
  readonly attempts: number;
  /** Outcome words and statuses from `retries.on`: connect-failure | reset | timeout | 502 | 503 | 504. */
  readonly on: readonly string[] | ReadonlySet<string>;
  readonly nonIdempotent?: boolean;
}

/** What shouldRetry needs from a budget (upstream/retry-budget.ts). */
export interface RetryBudgetLike {
  tryRetry(nowMs?: number): boolean;
}

/** One failed attempt, as shouldRetry judges it. */
export interface RetryQuestion {
  readonly outcome: UpstreamOutcome;
  /** The upstream's status when it answered (outcome 'http-5xx'), else undefined. */
  readonly status?: number | undefined;
  /** 1-based number of the try that just failed: 1 is the original request. */
  readonly attempt: number;
  readonly spec: RetryPolicy;
  readonly method: string;
  /** When given, a retry also needs a token from it (taken only when the answer is true). */
  readonly budget?: RetryBudgetLike | undefined;
}

function listed(on: RetryPolicy['on'], word: string): boolean {
  return Array.isArray(on) ? on.includes(word) : (on as ReadonlySet<string>).has(word);
}

/**
 * Whether to retry after a failed attempt: the outcome (or, for an answered 5xx, its status) is listed in
 * `retries.on`; tries remain (`attempt <= spec.attempts`); the method may be sent again (idempotent, or
 * `nonIdempotent: true`, or the failure was connect-failure, where the upstream never saw the request);
 * and the budget, when given, has a token. An 'ok' outcome is never retried.
 */
export function shouldRetry(q: RetryQuestion): boolean {
  const { outcome, spec } = q;
  if (outcome === 'ok') return false;
  if (q.attempt > spec.attempts) return false;
  const word = outcome === 'http-5xx' ? (q.status === undefined ? '' : String(q.status)) : outcome;
  if (!listed(spec.on, word)) return false;
  if (outcome !== 'connect-failure' && spec.nonIdempotent !== true && !isIdempotent(q.method)) return false;
  return q.budget === undefined || q.budget.tryRetry();
}
