/**
 * Token-bucket math (SPEC §2): capacity `burst` (default `rate`), refilled continuously at
 * `rate / per`. Pure: the caller passes the clock. `store/redis-store.ts` runs the same
 * steps in Lua, in the same order, so both give the same answer under the same clock.
 */

/** A bucket as stored: fractional tokens and the time they were counted. */
export interface BucketState {
  tokens: number;
  updatedMs: number;
}

/** A compiled limit: how many tokens fit and how many are added per millisecond. */
export interface BucketParams {
  readonly capacity: number;
  readonly refillPerMs: number;
}

/** The outcome of one `takeToken`. */
export interface TakeResult {
  allowed: boolean;
  state: BucketState;
  /** Whole tokens left after this take. */
  remaining: number;
  /** Milliseconds until `cost` tokens are available again; 0 when they are now. */
  retryAfterMs: number;
}

/**
 * Floating-point slack: 0.1 + 0.2 must count as 0.3 tokens, so a refill that is exact in
 * decimal is not refused by one unit in the last place. Far below any real token amount.
 */
const TOKEN_EPSILON = 1e-9;

/**
 * A bucket updated more than this far in the future of `nowMs` is rebased to `nowMs` (a backward
 * clock step). Stores on the monotonic clock never see one; the Redis script does the same.
 */
export const BACKWARD_STEP_MS = 1000;

/**
 * Builds bucket parameters from a limit: `rate` tokens per `perMs`, capacity `burst ?? rate`.
 * The capacity is at least one token, otherwise a limit like `rate: 0.5, per: 1s` could never
 * admit a request (it means one request every two seconds).
 */
export function bucketParams(rate: number, perMs: number, burst?: number): BucketParams {
  return Object.freeze({ capacity: Math.max(1, burst ?? rate), refillPerMs: rate / perMs });
}

/**
 * Refills `state` up to `nowMs` and takes `cost` tokens when they are there.
 * A missing state is a full bucket. A clock that goes backwards refills nothing and keeps
 * the later `updatedMs`, so the same interval is never credited twice.
 */
export function takeToken(
  state: BucketState | undefined,
  nowMs: number,
  params: BucketParams,
  cost = 1,
): TakeResult {
  const { capacity, refillPerMs } = params;
  let tokens: number;
  let updatedMs: number;
  if (state === undefined) {
    tokens = capacity;
    updatedMs = nowMs;
  } else {
    tokens = state.tokens;
    updatedMs = state.updatedMs;
    if (nowMs > updatedMs) {
      tokens = Math.min(capacity, tokens + (nowMs - updatedMs) * refillPerMs);
      updatedMs = nowMs;
    } else if (updatedMs - nowMs > BACKWARD_STEP_MS) {
      // The clock went back (a wall-clock step on a shared store): refill from now on rather than
      // stall until the clock catches up. Never a negative refill. Small differences (replica skew)
      // are left alone: rebasing on them would hand out the skew as extra tokens on every switch.
      updatedMs = nowMs;
    }
  }
  let allowed = false;
  if (tokens + TOKEN_EPSILON >= cost) {
    tokens = Math.max(0, tokens - cost);
    allowed = true;
  }
  return {
    allowed,
    state: { tokens, updatedMs },
    remaining: Math.floor(tokens + TOKEN_EPSILON),
    retryAfterMs: waitMs(tokens, cost, refillPerMs),
  };
}

/** Milliseconds until `tokens` reaches `cost`, rounded up to whole milliseconds. */
function waitMs(tokens: number, cost: number, refillPerMs: number): number {
  if (tokens + TOKEN_EPSILON >= cost) return 0;
  return Math.ceil((cost - tokens) / refillPerMs - TOKEN_EPSILON);
}

/**
 * Milliseconds after which an untouched bucket is full again: from then on its stored
 * state equals no state, so stores may drop it.
 */
export function msUntilFull(tokens: number, params: BucketParams): number {
  return Math.max(1, Math.ceil((params.capacity - tokens) / params.refillPerMs));
}
