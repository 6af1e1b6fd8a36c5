/**
 * What the admin console remembers between samples, in bounded memory: per-route counts per sample
 * interval (a ring of `samples` points), each target's health transitions and each pool's tier
 * changes (the last HEALTH_EVENTS of each). Pure: the caller passes the totals, states and times.
 */

/** Cumulative counts of one route, as read from tollgate_requests_total. */
export interface RouteTotals {
  requests: number;
  errors: number;
  rejected: number;
}

/** One sample interval of one route: what happened since the previous sample. */
export interface RoutePoint {
  /** Wall ms at the end of the interval. */
  readonly at: number;
  readonly requests: number;
  readonly errors: number;
  readonly rejected: number;
  readonly seconds: number;
}

/** A target's health as the console names it. */
export type TargetHealth = 'up' | 'down' | 'ejected';

export interface HealthEvent {
  /** Wall ms of the sample that saw the change. */
  readonly at: number;
  readonly state: TargetHealth;
}

export interface TierEvent {
  readonly at: number;
  readonly tier: 'primary' | 'backup' | 'none';
}

/** A target's remembered health. */
export interface TargetHistory {
  state: TargetHealth;
  ups: number;
  downs: number;
  readonly events: HealthEvent[];
}

/** Health transitions and tier changes kept per target and per pool. */
export const HEALTH_EVENTS = 20;
/** Routes and targets tracked at most (reloads can name new ones without end). */
export const MAX_TRACKED = 500;

export interface ConsoleHistory {
  readonly routes: Map<string, RoutePoint[]>;
  /** The totals of the previous sample, per route (the baseline of the next point). */
  readonly lastTotals: Map<string, RouteTotals>;
  lastAt: number | undefined;
  /** By `pool \n url`. */
  readonly targets: Map<string, TargetHistory>;
  readonly tiers: Map<string, TierEvent[]>;
}

export function newConsoleHistory(): ConsoleHistory {
  return { routes: new Map(), lastTotals: new Map(), lastAt: undefined, targets: new Map(), tiers: new Map() };
}

function pushBounded<T>(list: T[], item: T, max: number): void {
  list.push(item);
  while (list.length > max) list.shift();
}

/**
 * Records one sample of the per-route totals at wall time `at`, keeping `samples` points per route.
 * The first sample is only a baseline. A total that went down (a counter reset) counts from zero.
 */
export function observeRouteTotals(h: ConsoleHistory, totals: ReadonlyMap<string, RouteTotals>, at: number, samples: number): void {
  const prevAt = h.lastAt;
  h.lastAt = at;
  for (const [route, t] of totals) {
    const prev = h.lastTotals.get(route);
    if (prev === undefined && h.lastTotals.size >= MAX_TRACKED) continue;
    h.lastTotals.set(route, { ...t });
    if (prevAt === undefined) continue;
    const base = prev ?? { requests: 0, errors: 0, rejected: 0 };
    const delta = (k: keyof RouteTotals): number => (t[k] >= base[k] ? t[k] - base[k] : t[k]);
    let ring = h.routes.get(route);
    if (ring === undefined) h.routes.set(route, (ring = []));
    pushBounded(ring, { at, requests: delta('requests'), errors: delta('errors'), rejected: delta('rejected'), seconds: Math.max(0.001, (at - prevAt) / 1000) }, samples);
  }
  // Routes with no series any more (a reload removed them, or metrics were reset) are forgotten.
  for (const route of h.lastTotals.keys()) {
    if (!totals.has(route)) {
      h.lastTotals.delete(route);
      h.routes.delete(route);
    }
  }
  for (const ring of h.routes.values()) while (ring.length > samples) ring.shift();
}

/** Records the health of a target of `pool`; returns true when it changed since the last look. */
export function observeTargetHealth(h: ConsoleHistory, pool: string, url: string, state: TargetHealth, at: number): boolean {
  const key = targetKey(pool, url);
  const t = h.targets.get(key);
  if (t === undefined) {
    if (h.targets.size >= MAX_TRACKED) return false;
    h.targets.set(key, { state, ups: 0, downs: 0, events: [{ at, state }] });
    return false;
  }
  if (t.state === state) return false;
  if (state === 'up') t.ups++;
  else if (t.state === 'up') t.downs++;
  t.state = state;
  pushBounded(t.events, { at, state }, HEALTH_EVENTS);
  return true;
}

/** Records the tier `pool` serves from; returns true when it changed. */
export function observeTier(h: ConsoleHistory, pool: string, tier: TierEvent['tier'], at: number): boolean {
  let list = h.tiers.get(pool);
  if (list === undefined) {
    if (h.tiers.size >= MAX_TRACKED) return false;
    h.tiers.set(pool, (list = []));
  }
  if (list.at(-1)?.tier === tier) return false;
  pushBounded(list, { at, tier }, HEALTH_EVENTS);
  return true;
}

/** Forgets targets and pools not in `live` (removed by a reload). */
export function forgetExcept(h: ConsoleHistory, livePools: ReadonlySet<string>, liveTargets: ReadonlySet<string>): void {
  for (const key of h.targets.keys()) if (!liveTargets.has(key)) h.targets.delete(key);
  for (const pool of h.tiers.keys()) if (!livePools.has(pool)) h.tiers.delete(pool);
}

/** The key `observeTargetHealth` files a target under. */
export function targetKey(pool: string, url: string): string {
  return `${pool}\n${url}`;
}
