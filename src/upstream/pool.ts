/**
 * An upstream pool: primaries, backups, the selector that orders each tier, passive health, the circuit
 * breaker and the retry budget. Compiled once per pool definition (createPool); pick / observeResult /
 * tryAcquire run per request. Target state is owned by the caller so it survives reloads.
 */
import type { Clock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import type { Random } from '../core/random.js';
import type { BalanceName, UpstreamOutcome } from '../core/types.js';
import type { UpstreamSpec } from '../spec/schema.js';
import { createCircuitBreaker, leave, tryEnter, type CircuitBreaker } from './circuit-breaker.js';
import { compileOutlierPolicy, observeOutcome, type OutlierPolicy } from './outlier.js';
import { createRetryBudget, type RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
import { createSelector, type SelectorOptions } from './selection/create-selector.js';
import { DEFAULT_EWMA_DECAY_MS, observeLatency } from './selection/peak-ewma.js';
import type { Selector } from './selection/selector.js';
import { isAvailable, type TargetState } from './target-state.js';

/** A compiled upstream pool. Fields other than the first four are for this module and /status. */
export interface UpstreamPool {
  readonly name: string;
  readonly balance: string;
  readonly primaries: readonly TargetState[];
  readonly backups: readonly TargetState[];
  /** `hashBy` of the spec, for the caller's hashKeyOf. */
  readonly hashBy: string | undefined;
  /** Undefined when the spec has no outlierDetection: failures never eject. */
  readonly outlier: OutlierPolicy | undefined;
  readonly breaker: CircuitBreaker;
  /** Shared by every route that sends to this pool (Linkerd budgets per destination). */
  readonly retryBudget: RetryBudget;
  readonly primarySelector: Selector;
  readonly backupSelector: Selector;
  readonly clock: Clock;
  readonly ewmaDecayMs: number;
  /** Operator controls (admin API, control/overrides.ts): mutable, unlike the rest of the pool. */
  readonly control: PoolControl;
}

/** What an operator can force on a pool at run time. */
export interface PoolControl {
  /**
   * Only this tier takes traffic, whatever the health of the other: `backup` sends everything to the
   * backups while primaries are healthy, `primary` never fails over. Undefined: normal failover.
   */
  forcedTier: 'primary' | 'backup' | undefined;
}

/** What a pool depends on; the optional knobs are for tests and tuning. */
export interface PoolDeps {
  clock: Clock;
  random: Random;
  selector?: SelectorOptions;
  retryBudget?: RetryBudgetOptions;
}

/**
 * Compiles a pool for `spec` over caller-owned target states (kept across reloads by the caller).
 * Selector tables (Maglev, weights) are built here, not per request.
 */
export function createPool(name: string, spec: UpstreamSpec, targets: { primaries: TargetState[]; backups: TargetState[] }, deps: PoolDeps): UpstreamPool {
  const balance = spec.balance as BalanceName;
  const primaries = Object.freeze([...targets.primaries]);
  const backups = Object.freeze([...targets.backups]);
  const primarySelector = createSelector(balance, deps, deps.selector);
  const backupSelector = createSelector(balance, deps, deps.selector);
  primarySelector.prepare?.(primaries);
  backupSelector.prepare?.(backups);
  return Object.freeze({
    name,
    balance,
    primaries,
    backups,
    hashBy: spec.hashBy,
    outlier: spec.outlierDetection ? compileOutlierPolicy(spec.outlierDetection) : undefined,
    breaker: createCircuitBreaker(spec.circuitBreaker),
    retryBudget: createRetryBudget({ clock: deps.clock, ...deps.retryBudget }),
    primarySelector,
    backupSelector,
    clock: deps.clock,
    ewmaDecayMs: deps.selector?.ewmaDecayMs ?? DEFAULT_EWMA_DECAY_MS,
    control: { forcedTier: undefined },
  });
}

function anyAvailable(targets: readonly TargetState[], nowMs: number): boolean {
  for (const t of targets) if (isAvailable(t, nowMs)) return true;
  return false;
}

/** Which tier currently takes traffic: backups only while no primary is available (`nowMs`: monotonic). */
export function activeTier(pool: UpstreamPool, nowMs: number): 'primary' | 'backup' | 'none' {
  const forced = pool.control.forcedTier;
  if (forced !== 'backup' && anyAvailable(pool.primaries, nowMs)) return 'primary';
  if (forced !== 'primary' && anyAvailable(pool.backups, nowMs)) return 'backup';
  return 'none';
}

/**
 * Picks a target for one attempt. Primaries first; backups only while no primary is available (a tier
 * forced by an operator, `pool.control.forcedTier`, is the only one looked at). Within
 * a tier the selector's candidates are walked in order and the first available one not in `exclude` wins.
 * When every available one is excluded (all already tried), one of them is tried again rather than failing
 * over to the other tier, and never `previous` (the target of the attempt that just failed) while another
 * exists. `key` matters only for consistent-hash (see hash-key.ts).
 * Throws GatewayError NO_HEALTHY_UPSTREAM when no target of either tier is available.
 */
export function pick(pool: UpstreamPool, key: string, exclude: ReadonlySet<TargetState>, clock: Clock, previous?: TargetState): TargetState {
  const now = clock.monotonic(); // ejections are on the monotonic clock
  const last = exclude.size > 0 ? previous : undefined;
  const forced = pool.control.forcedTier; // an operator's tier override (undefined: none)
  const fromPrimaries = forced === 'backup' ? undefined : pickIn(pool.primarySelector, pool.primaries, key, exclude, last, now);
  if (fromPrimaries) return fromPrimaries;
  const fromBackups = forced === 'primary' ? undefined : pickIn(pool.backupSelector, pool.backups, key, exclude, last, now);
  if (fromBackups) return fromBackups;
  throw new GatewayError('NO_HEALTHY_UPSTREAM', `No healthy target in upstream "${pool.name}"`);
}

function pickIn(
  selector: Selector,
  targets: readonly TargetState[],
  key: string,
  exclude: ReadonlySet<TargetState>,
  last: TargetState | undefined,
  now: number,
): TargetState | undefined {
  if (targets.length === 0) return undefined;
  let fallback: TargetState | undefined;
  for (const t of selector.candidates(targets, key)) {
    if (!isAvailable(t, now)) continue;
    if (exclude.size > 0 && exclude.has(t)) {
      // Prefer any tried target over the one that just failed; that one only when it is the sole choice.
      if (fallback === undefined || (fallback === last && t !== last)) fallback = t;
      continue;
    }
    return t;
  }
  return fallback;
}

/** Marks an attempt to `target` as started (least-request and peak-ewma read `inFlight`). */
export function beginAttempt(target: TargetState): void {
  target.inFlight++;
}

/** Marks an attempt to `target` as finished, whatever its outcome. */
export function endAttempt(target: TargetState): void {
  if (target.inFlight > 0) target.inFlight--;
}

/**
 * Feeds one attempt's result back: outlier ejection (when configured) and peak-EWMA latency. Connect
 * failures and resets do not update latency: a target that fails fast must not look fast. Does not touch
 * `inFlight` (see beginAttempt / endAttempt). Returns true when this outcome ejected the target.
 */
export function observeResult(pool: UpstreamPool, target: TargetState, outcome: UpstreamOutcome, latencyMs: number, nowMono = pool.clock.monotonic()): boolean {
  if (outcome === 'ok' || outcome === 'http-5xx' || outcome === 'timeout') {
    observeLatency(target, latencyMs, nowMono, pool.ewmaDecayMs);
  }
  if (outcome === 'ok') target.consecutiveSuccesses++;
  else target.consecutiveSuccesses = 0;
  if (pool.outlier === undefined) {
    target.consecutiveFailures = outcome === 'ok' ? 0 : target.consecutiveFailures + 1;
    return false;
  }
  const peers = target.tier === 'primary' ? pool.primaries : pool.backups;
  return observeOutcome(target, outcome, peers, pool.outlier, nowMono);
}

/**
 * Circuit breaker: admits one request to the pool, or returns false when `maxConnections` active plus
 * `maxPendingRequests` pending are already admitted; the caller then answers 503 at once. Every true
 * must be paired with one release().
 */
export function tryAcquire(pool: UpstreamPool): boolean {
  return tryEnter(pool.breaker);
}

/** Releases what tryAcquire admitted. */
export function release(pool: UpstreamPool): void {
  leave(pool.breaker);
}
