/**
 * An upstream pool: primaries, backups and the selector that orders them.
 * FOUNDATION STUB: round-robin only; the pools issue replaces the internals, keeping this API.
 */
import { GatewayError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import type { UpstreamOutcome } from '../core/types.js';
import { isAvailable, type TargetState } from './target-state.js';

export interface UpstreamPool {
  readonly name: string;
  readonly balance: string;
  readonly primaries: readonly TargetState[];
  readonly backups: readonly TargetState[];
  /** Round-robin cursor (stub). */
  cursor: number;
}

export function createPool(name: string, balance: string, primaries: TargetState[], backups: TargetState[]): UpstreamPool {
  return { name, balance, primaries, backups, cursor: 0 };
}

/** Which tier currently takes traffic. */
export function activeTier(pool: UpstreamPool, nowMs: number): 'primary' | 'backup' | 'none' {
  if (pool.primaries.some((t) => isAvailable(t, nowMs))) return 'primary';
  if (pool.backups.some((t) => isAvailable(t, nowMs))) return 'backup';
  return 'none';
}

/**
 * Picks a target: primaries first, then backups; skips `exclude` when another exists.
 * Throws NO_HEALTHY_UPSTREAM when nothing is available.
 */
export function pick(pool: UpstreamPool, _key: string, exclude: ReadonlySet<TargetState>, clock: Clock): TargetState {
  const now = clock.now();
  for (const tier of [pool.primaries, pool.backups]) {
    const n = tier.length;
    let fallback: TargetState | undefined;
    for (let i = 0; i < n; i++) {
      const t = tier[(pool.cursor + i) % n] as TargetState;
      if (!isAvailable(t, now)) continue;
      if (exclude.has(t)) {
        fallback ??= t;
        continue;
      }
      pool.cursor = (pool.cursor + i + 1) % n;
      return t;
    }
    if (fallback) return fallback;
  }
  throw new GatewayError('NO_HEALTHY_UPSTREAM', `No healthy target in upstream "${pool.name}"`);
}

/** Feeds one attempt's result back into the target's state (passive health, latency). */
export function observeResult(_pool: UpstreamPool, target: TargetState, outcome: UpstreamOutcome, latencyMs: number): void {
  if (outcome === 'ok') {
    target.consecutiveFailures = 0;
    target.ewmaMs = target.ewmaMs === 0 ? latencyMs : target.ewmaMs * 0.8 + latencyMs * 0.2;
  } else {
    target.consecutiveFailures++;
  }
}
