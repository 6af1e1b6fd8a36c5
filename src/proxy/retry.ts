/**
 * Whether a failed upstream attempt is tried again on another target: the one home of the retry rule
 * (docs/upstreams.md "Retries"). Pure apart from the retry budget withdrawal, which happens only when
 * everything else allows the retry.
 */
import type { GatewayError } from '../core/errors.js';
import type { UpstreamOutcome } from '../core/types.js';
import type { Fault } from './classify.js';

const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Whether `method` is idempotent (RFC 9110 §9.2.2), i.e. safe to send twice. Case-sensitive, as methods are. */
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/** The retry policy: RetriesSpec, or its compiled form with `on` as a set. */
export interface RetryPolicy {
  /** Retries after the first try: `attempts: 2` allows up to 3 tries in all. */
  readonly attempts: number;
  /** Outcome words and statuses from `retries.on`: connect-failure | reset | timeout | 502 | 503 | 504. */
  readonly on: readonly string[] | ReadonlySet<string>;
  readonly nonIdempotent?: boolean;
}

/** What a retry needs from a budget (upstream/retry-budget.ts). */
export interface RetryBudgetLike {
  tryRetry(nowMs?: number): boolean;
}

/** The parts of the question that need no budget and no clock (also asked before a 5xx is forwarded). */
export interface RetryRule {
  readonly outcome: UpstreamOutcome;
  /** The upstream's status when it answered (outcome 'http-5xx'), else undefined. */
  readonly status?: number | undefined;
  /** 1-based number of the try that just failed: 1 is the original request. */
  readonly attempt: number;
  /** The route's policy; undefined: the route has no retries. */
  readonly spec: RetryPolicy | undefined;
  readonly method: string;
  /** Whether the request has a body: such a request is never sent twice (it may have been partly streamed). */
  readonly hasBody: boolean;
}

/** One failed attempt, as decideRetry judges it. */
export interface RetryQuestion extends RetryRule {
  /** Whose fault the failure was (proxy/classify.ts faultOf): only an upstream's failure is retried. */
  readonly fault: Fault;
  readonly clientGone: boolean;
  /** Monotonic ms now and the route's deadline: no retry once it passed. */
  readonly nowMono: number;
  readonly deadline: number;
  /** When given, a retry also needs a token from it (taken only when everything else allows it). */
  readonly budget?: RetryBudgetLike | undefined;
  /** Wall ms passed to the budget. */
  readonly nowWall?: number;
}

function listed(on: RetryPolicy['on'], word: string): boolean {
  return Array.isArray(on) ? on.includes(word) : (on as ReadonlySet<string>).has(word);
}

/**
 * The policy part of the rule: the outcome (or, for an answered 5xx, its status) is listed in
 * `retries.on`; tries remain (`attempt <= spec.attempts`); the request has no body; and the method may
 * be sent again (idempotent, or `nonIdempotent: true`, or the failure was a connect-failure, where the
 * upstream never saw the request). An 'ok' outcome is never retried.
 */
export function retryAllowed(q: RetryRule): boolean {
  const { outcome, spec } = q;
  if (spec === undefined || outcome === 'ok') return false;
  if (q.attempt > spec.attempts) return false;
  const word = outcome === 'http-5xx' ? (q.status === undefined ? '' : String(q.status)) : outcome;
  if (!listed(spec.on, word)) return false;
  if (q.hasBody) return false;
  return outcome === 'connect-failure' || spec.nonIdempotent === true || isIdempotent(q.method);
}

/**
 * After a failed attempt: 'retry', or the error to send (`error`, from classifyUpstreamError). Never
 * retried: a client that left, a failure that was not the upstream's, a request past its deadline, or
 * one the budget has no token for; otherwise as retryAllowed.
 */
export function decideRetry(q: RetryQuestion, error: GatewayError): 'retry' | GatewayError {
  if (q.clientGone || q.fault !== 'upstream') return error;
  if (!retryAllowed(q)) return error;
  if (q.nowMono >= q.deadline) return error;
  if (q.budget !== undefined && !q.budget.tryRetry(q.nowWall)) return error;
  return 'retry';
}
