/**
 * The admin console's sampler: every `admin.console.sampleInterval` (read at each sample, so a reload
 * applies it) it records per-route request, 5xx and 429 counts and every target's health into the
 * bounded ConsoleHistory. Health is also looked at on every console render, so a flip between two
 * samples shows at once. Control plane: owns one unref'd timer, stopped by close().
 */
import type { Clock } from '../core/clock.js';
import { parseDuration } from '../core/duration.js';
import type { GatewayView } from '../runtime/view.js';
import { activeTier } from '../upstream/pool.js';
import type { TargetState } from '../upstream/target-state.js';
import {
  forgetExcept,
  newConsoleHistory,
  observeRouteTotals,
  observeTargetHealth,
  observeTier,
  targetKey,
  type ConsoleHistory,
  type RouteTotals,
  type TargetHealth,
} from './console-history.js';

export interface ConsoleSampler {
  readonly history: ConsoleHistory;
  /** The interval in force, ms. */
  readonly intervalMs: number;
  /** Records target health and pool tiers as they are now. */
  observeHealth(): void;
  /** Takes one full sample now (route counts and health). */
  sample(): void;
  close(): void;
}

/** How the console names a target's state at monotonic `nowMs`. */
export function targetHealth(t: TargetState, nowMs: number): TargetHealth {
  if (!t.healthy) return 'down';
  return t.ejectedUntil > nowMs ? 'ejected' : 'up';
}

/** Per-route cumulative totals from tollgate_requests_total: all, 5xx, 429. */
export function routeTotals(gw: GatewayView): Map<string, RouteTotals> {
  const out = new Map<string, RouteTotals>();
  gw.metrics.requests.forEach((labels, value) => {
    const route = labels.route ?? '';
    const code = labels.code ?? '';
    let t = out.get(route);
    if (t === undefined) out.set(route, (t = { requests: 0, errors: 0, rejected: 0 }));
    t.requests += value;
    if (code.startsWith('5')) t.errors += value;
    if (code === '429') t.rejected += value;
  });
  return out;
}

function intervalOf(gw: GatewayView): number {
  return Math.max(50, parseDuration(gw.spec.admin.console.sampleInterval) ?? 5000);
}

/** Starts sampling `gw`; the first sample (a baseline) is taken at once. */
export function createConsoleSampler(gw: GatewayView, clock: Clock): ConsoleSampler {
  const history = newConsoleHistory();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const observeHealth = (): void => {
    const now = clock.monotonic();
    const at = clock.now();
    const pools = new Set<string>();
    const targets = new Set<string>();
    for (const [name, pr] of gw.holder.current.pools) {
      pools.add(name);
      for (const t of [...pr.pool.primaries, ...pr.pool.backups]) {
        targets.add(targetKey(name, t.url));
        observeTargetHealth(history, name, t.url, targetHealth(t, now), at);
      }
      observeTier(history, name, activeTier(pr.pool, now), at);
    }
    forgetExcept(history, pools, targets);
  };

  const sample = (): void => {
    observeRouteTotals(history, routeTotals(gw), clock.now(), gw.spec.admin.console.samples);
    observeHealth();
  };

  const schedule = (): void => {
    if (closed) return;
    timer = setTimeout(() => {
      sample();
      schedule();
    }, intervalOf(gw));
    timer.unref();
  };

  sample();
  schedule();
  return {
    history,
    get intervalMs() {
      return intervalOf(gw);
    },
    observeHealth,
    sample,
    close: () => {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
