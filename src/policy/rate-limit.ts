/**
 * A route's `rateLimit` and `quota`, compiled once into a LimitPolicy and evaluated per
 * request against a CounterStore (SPEC §2, §3).
 *
 * Order: the bucket first; a request it refuses is not counted against the quota. A request
 * the quota refuses has used a token: it reached the gateway and was answered.
 * Headers follow draft-ietf-httpapi-ratelimit-headers-09, one member per policy:
 *   RateLimit-Policy: "rate";q=100;w=1, "quota";q=100000;w=86400
 *   RateLimit: "rate";r=57;t=0, "quota";r=99812;t=40210
 * When the bucket refuses, the quota was not consulted and its member is left out of
 * RateLimit (its `r` is unknown without counting).
 */
import { createHash } from 'node:crypto';
import { parseDuration } from '../core/duration.js';
import { GatewayError } from '../core/errors.js';
import type { QuotaSpec, RateLimitSpec } from '../spec/schema.js';
// Types only: at run time store/ depends on policy/ (the bucket math), never the reverse.
import type { BucketDecision, CounterStore, QuotaDecision } from '../store/counter-store.js';
import { compileStoreKey, type LimitContext, type LimitKeyFn } from './limit-key.js';
import { isQuotaPeriod, QUOTA_PERIOD_MS, quotaWindow, type QuotaPeriod, type QuotaWindow } from '../store/quota-window.js';
import { bucketParams, type BucketParams } from '../store/token-bucket.js';

/** Which limit refused a request (the `kind` label of tollgate_ratelimit_rejections_total). */
export type LimitKind = 'rate' | 'quota';

/** The compiled token bucket of a route. */
export interface RateLimitPart {
  /** The whole store key of a request: `prefix` + its `by` key (limit-key.ts compileStoreKey). */
  readonly keyOf: LimitKeyFn;
  /** Store key prefix: route name + hash of the limit definition. */
  readonly prefix: string;
  readonly params: BucketParams;
}

/** The compiled quota of a route. */
export interface QuotaPart {
  /** The whole store key of a request: `prefix` + its `by` key. */
  readonly keyOf: LimitKeyFn;
  /** Store key prefix: route name + hash of what is counted (period and key). */
  readonly prefix: string;
  readonly limit: number;
  readonly per: QuotaPeriod;
  /** The calendar window of `nowMs` (remembers the last one: a window lasts an hour or more). */
  readonly windowAt: (nowMs: number) => QuotaWindow;
}

/** A route's limits, compiled at load time; immutable. */
export interface LimitPolicy {
  readonly routeName: string;
  /** The RateLimit-Policy value, precomputed. */
  readonly policyHeader: string;
  readonly rate: RateLimitPart | undefined;
  readonly quota: QuotaPart | undefined;
}

/** The outcome for one request: headers for every response, an error for a 429. */
export interface LimitVerdict {
  readonly rateLimitHeader: string;
  readonly policyHeader: string;
  /** RATE_LIMITED or QUOTA_EXCEEDED, with a `retry-after` header. */
  readonly error?: GatewayError;
  /** Set with `error`: which limit refused. */
  readonly kind?: LimitKind;
  /** Set when the quota was counted: what is left of `quotaLimit` in the window (the admin console's quota use). */
  readonly quotaRemaining?: number;
  readonly quotaLimit?: number;
  /**
   * Set only when this request left its quota key at or above QUOTA_NEAR_FRACTION of the limit: the
   * store key and the wall time its window ends (for the `tollgate_quota_keys_over_80_percent` gauge).
   */
  readonly quotaNear?: { readonly key: string; readonly windowEndMs: number };
}

/** The share of a quota from which a key counts as near its limit (the 80 % gauge). */
export const QUOTA_NEAR_FRACTION = 0.8;

function definitionHash(def: unknown): string {
  return createHash('sha256').update(JSON.stringify(def)).digest('hex').slice(0, 12);
}

/**
 * `q` and `w` are integers in the draft. `rate` per `per` is written with the smallest whole
 * number of seconds that makes it whole: 10 per 500ms → q=20;w=1, 0.5 per 1s → q=1;w=2.
 */
function ratePolicyMember(rate: number, perMs: number): string {
  for (let w = 1; w <= 3600; w++) {
    const q = (rate * w * 1000) / perMs;
    const whole = Math.round(q);
    if (whole >= 1 && Math.abs(q - whole) < 1e-9) return `"rate";q=${whole};w=${w}`;
  }
  // No whole form within an hour (e.g. 7 per 1.3s): round, keeping the given window.
  const w = Math.max(1, Math.round(perMs / 1000));
  return `"rate";q=${Math.max(1, Math.round((rate * w * 1000) / perMs))};w=${w}`;
}

/**
 * Compiles a route's limits; undefined when the route has none. Store keys are prefixed by
 * the route name and a hash of the bucket definition, so a changed limit starts with a fresh
 * bucket while an unchanged one keeps its tokens across reloads. The quota is keyed by what
 * it counts (period and key), not by its limit: a raised or lowered limit applies to the
 * requests already counted in the current window rather than handing out a second one.
 * Throws on a spec the schema would have refused.
 */
export function compileLimitPolicy(routeName: string, rateLimit?: RateLimitSpec, quota?: QuotaSpec): LimitPolicy | undefined {
  if (rateLimit === undefined && quota === undefined) return undefined;
  const members: string[] = [];
  let rate: RateLimitPart | undefined;
  if (rateLimit !== undefined) {
    const perMs = parseDuration(rateLimit.per);
    if (perMs === undefined || perMs <= 0) throw new Error(`route ${routeName}: invalid rateLimit.per "${rateLimit.per}"`);
    const params = bucketParams(rateLimit.rate, perMs, rateLimit.burst);
    const hash = definitionHash({ rate: rateLimit.rate, perMs, burst: rateLimit.burst ?? null, by: rateLimit.by });
    const prefix = `${routeName}:r:${hash}:`;
    rate = Object.freeze({ keyOf: compileStoreKey(rateLimit.by, prefix), prefix, params });
    members.push(ratePolicyMember(rateLimit.rate, perMs));
  }
  let quotaPart: QuotaPart | undefined;
  if (quota !== undefined) {
    const per = quota.per;
    if (!isQuotaPeriod(per)) throw new Error(`route ${routeName}: invalid quota.per "${per}"`);
    const hash = definitionHash({ per, by: quota.by });
    const prefix = `${routeName}:q:${hash}:`;
    quotaPart = Object.freeze({ keyOf: compileStoreKey(quota.by, prefix), prefix, limit: quota.limit, per, windowAt: windowMemo(per) });
    members.push(`"quota";q=${quota.limit};w=${QUOTA_PERIOD_MS[per] / 1000}`);
  }
  return Object.freeze({ routeName, policyHeader: members.join(', '), rate, quota: quotaPart });
}

function windowMemo(per: QuotaPeriod): (nowMs: number) => QuotaWindow {
  let last = quotaWindow(0, per);
  return (nowMs) => (nowMs >= last.startMs && nowMs < last.endMs ? last : (last = quotaWindow(nowMs, per)));
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown }).then === 'function';
}

/** Whole seconds, rounded up. */
function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

function retryAfter(ms: number): Readonly<Record<string, string>> {
  return { 'retry-after': String(Math.max(1, seconds(ms))) };
}

/**
 * Applies `policy` to one request. Synchronous when the store answers synchronously (memory),
 * a Promise otherwise. Store errors propagate (a failover store in `deny` mode throws
 * STORE_UNAVAILABLE).
 */
export function evaluateLimits(policy: LimitPolicy, ctx: LimitContext, store: CounterStore, nowMs: number): LimitVerdict | Promise<LimitVerdict> {
  const rate = policy.rate;
  if (rate === undefined) return countQuota(policy, ctx, store, nowMs, '');
  const d = store.takeToken(rate.keyOf(ctx), rate.params, nowMs);
  return isPromiseLike(d) ? d.then((b) => afterRate(policy, ctx, store, nowMs, b)) : afterRate(policy, ctx, store, nowMs, d);
}

// The last `"rate"` member built: a bucket far from empty answers the same r and t request after request.
let lastRemaining = -1;
let lastWait = -1;
let lastMember = '';

function rateMember(remaining: number, retryAfterMs: number): string {
  const wait = seconds(retryAfterMs);
  if (remaining !== lastRemaining || wait !== lastWait) {
    lastRemaining = remaining;
    lastWait = wait;
    lastMember = `"rate";r=${remaining};t=${wait}`;
  }
  return lastMember;
}

function afterRate(policy: LimitPolicy, ctx: LimitContext, store: CounterStore, nowMs: number, b: BucketDecision): LimitVerdict | Promise<LimitVerdict> {
  const member = rateMember(b.remaining, b.retryAfterMs);
  if (!b.allowed) {
    return {
      rateLimitHeader: member,
      policyHeader: policy.policyHeader,
      error: new GatewayError('RATE_LIMITED', 'Rate limit exceeded', { headers: retryAfter(b.retryAfterMs) }),
      kind: 'rate',
    };
  }
  return countQuota(policy, ctx, store, nowMs, member);
}

function countQuota(policy: LimitPolicy, ctx: LimitContext, store: CounterStore, nowMs: number, rateMember: string): LimitVerdict | Promise<LimitVerdict> {
  const quota = policy.quota;
  if (quota === undefined) return { rateLimitHeader: rateMember, policyHeader: policy.policyHeader };
  const key = quota.keyOf(ctx);
  const d = store.countQuota(key, quota.limit, quota.windowAt(nowMs), nowMs);
  return isPromiseLike(d) ? d.then((q) => afterQuota(policy, rateMember, q, key, nowMs)) : afterQuota(policy, rateMember, d, key, nowMs);
}

function afterQuota(policy: LimitPolicy, rateMember: string, q: QuotaDecision, key: string, nowMs: number): LimitVerdict {
  const member = `"quota";r=${q.remaining};t=${seconds(q.resetMs)}`;
  const rateLimitHeader = rateMember === '' ? member : `${rateMember}, ${member}`;
  const quotaLimit = policy.quota?.limit;
  // Allocates only for keys near their limit; the gauge is computed from these at scrape time.
  const near = quotaLimit !== undefined && quotaLimit - q.remaining >= QUOTA_NEAR_FRACTION * quotaLimit ? { key, windowEndMs: nowMs + q.resetMs } : undefined;
  if (q.allowed) return { rateLimitHeader, policyHeader: policy.policyHeader, quotaRemaining: q.remaining, quotaLimit, quotaNear: near };
  return {
    quotaNear: near,
    rateLimitHeader,
    policyHeader: policy.policyHeader,
    error: new GatewayError('QUOTA_EXCEEDED', 'Quota exceeded', { headers: retryAfter(q.resetMs) }),
    kind: 'quota',
    quotaRemaining: q.remaining,
    quotaLimit,
  };
}
