/**
 * The admin console's data: one plain JSON document (served as `GET /console.json`, rendered by
 * console-page.ts), built from the running snapshot, the sampler's history, the identity tally, the
 * certificates and the reload history.
 */
import type { Clock } from '../core/clock.js';
import type { GatewayView } from '../runtime/view.js';
import { activeTier } from '../upstream/pool.js';
import { activeOf, pendingOf } from '../upstream/circuit-breaker.js';
import type { IdentityUse } from '../telemetry/identity-tally.js';
import { targetKey, type HealthEvent, type TargetHealth, type TierEvent } from './console-history.js';
import { targetHealth, type ConsoleSampler } from './console-sampler.js';
import { buildStatus, VERSION } from './status.js';
import type { OverrideRecord, TargetAdminState } from '../runtime/overrides.js';

/** Identities shown in the console. */
export const TOP_IDENTITIES = 10;

export interface ConsoleRoute {
  readonly name: string;
  readonly upstreams: readonly string[];
  /** Per second over the last sample interval; null before the second sample. */
  readonly rates: { readonly requests: number; readonly errors: number; readonly rejected: number } | null;
  /** Per-second rates of each kept sample, oldest first. */
  readonly series: { readonly requests: readonly number[]; readonly errors: readonly number[]; readonly rejected: readonly number[] };
}

export interface ConsoleTarget {
  readonly url: string;
  readonly tier: 'primary' | 'backup';
  readonly state: TargetHealth;
  readonly ups: number;
  readonly downs: number;
  readonly history: readonly HealthEvent[];
  /** ISO time the current passive ejection ends; null when not ejected. */
  readonly ejectedUntil: string | null;
  /** Outlier ejection count (decays while the target behaves). */
  readonly ejections: number;
  readonly inFlight: number;
  readonly ewmaMs: number;
  /** An operator override (drain / healthy / unhealthy); absent or null when none. */
  readonly override?: TargetAdminState | null;
}

export interface ConsolePool {
  readonly name: string;
  readonly balance: string;
  readonly activeTier: 'primary' | 'backup' | 'none';
  readonly tierHistory: readonly TierEvent[];
  readonly breaker: { readonly maxConnections: number; readonly maxPendingRequests: number; readonly active: number; readonly pending: number; readonly rejected: number; readonly open: boolean };
  readonly retryBudget: number;
  readonly targets: readonly ConsoleTarget[];
  /** A tier forced by an operator; absent or null when none. */
  readonly forcedTier?: 'primary' | 'backup' | null;
}

export interface ConsoleModel {
  readonly version: string;
  readonly generatedAt: number;
  readonly configHash: string;
  readonly loadedAt: string;
  readonly generation: number;
  readonly draining: boolean;
  readonly sampleIntervalMs: number;
  readonly routes: readonly ConsoleRoute[];
  readonly pools: readonly ConsolePool[];
  readonly identities: { readonly top: readonly IdentityUse[]; readonly tracked: number; readonly overflowRequests: number };
  /** Sorted by expiry, soonest first. */
  readonly certificates: readonly { readonly name: string; readonly notAfter: string }[];
  /** Newest first. */
  readonly reloads: readonly { readonly at: string; readonly result: string; readonly error: string | null; readonly configHash: string }[];
  /** Runtime overrides in force (drain / forced health / forced tier), with who set them and when. */
  readonly overrides?: readonly (OverrideRecord & { readonly applied: boolean })[];
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

/** Builds the console document now (and records health first, so a flip shows on this render). */
export function buildConsoleModel(gw: GatewayView, clock: Clock, sampler: ConsoleSampler): ConsoleModel {
  sampler.observeHealth();
  const h = sampler.history;
  const snap = gw.holder.current;
  const now = clock.monotonic();
  const wallNow = clock.now();

  const routes: ConsoleRoute[] = gw.spec.routes.map((r) => {
    const ring = h.routes.get(r.name) ?? [];
    const last = ring.at(-1);
    const per = (k: 'requests' | 'errors' | 'rejected'): number[] => ring.map((p) => round1(p[k] / p.seconds));
    return {
      name: r.name,
      upstreams: r.upstreams ? r.upstreams.map((u) => u.name) : [r.upstream ?? ''],
      rates: last === undefined ? null : { requests: round1(last.requests / last.seconds), errors: round1(last.errors / last.seconds), rejected: round1(last.rejected / last.seconds) },
      series: { requests: per('requests'), errors: per('errors'), rejected: per('rejected') },
    };
  });

  const pools: ConsolePool[] = [];
  for (const [name, pr] of snap.pools) {
    const b = pr.pool.breaker;
    const active = activeOf(b);
    const pending = pendingOf(b);
    pools.push({
      name,
      balance: pr.pool.balance,
      activeTier: activeTier(pr.pool, now),
      tierHistory: [...(h.tiers.get(name) ?? [])],
      breaker: {
        maxConnections: b.maxConnections,
        maxPendingRequests: b.maxPendingRequests,
        active,
        pending,
        rejected: b.rejected,
        // Envoy-style breaker: "open" means new requests are refused right now.
        open: active >= b.maxConnections && pending >= b.maxPendingRequests,
      },
      retryBudget: pr.retryBudget.available(wallNow),
      forcedTier: pr.pool.control.forcedTier ?? null,
      targets: [...pr.pool.primaries, ...pr.pool.backups].map((t) => {
        const th = h.targets.get(targetKey(name, t.url));
        return {
          url: t.url,
          tier: t.tier,
          state: targetHealth(t, now),
          ups: th?.ups ?? 0,
          downs: th?.downs ?? 0,
          history: [...(th?.events ?? [])],
          ejectedUntil: t.ejectedUntil > now ? new Date(wallNow + (t.ejectedUntil - now)).toISOString() : null,
          ejections: t.ejections,
          inFlight: t.inFlight,
          ewmaMs: round1(t.ewmaMs),
          override: t.adminState ?? null,
        };
      }),
    });
  }

  const certificates = Object.entries(gw.tls.certificates())
    .filter((e): e is [string, { readonly notAfter: string }] => e[1]?.notAfter !== undefined)
    .map(([name, c]) => ({ name, notAfter: c.notAfter }))
    .sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter));

  const tally = gw.metrics.identities;
  const status = buildStatus(gw, clock);
  const model: ConsoleModel = {
    version: VERSION,
    generatedAt: wallNow,
    configHash: snap.configHash,
    loadedAt: snap.loadedAt,
    generation: snap.generation,
    draining: gw.draining,
    sampleIntervalMs: sampler.intervalMs,
    routes,
    pools,
    identities: { top: tally.top(TOP_IDENTITIES), tracked: tally.size, overflowRequests: tally.overflow },
    certificates,
    reloads: [...gw.reloadHistory].reverse().map((r) => ({ at: r.at, result: r.result, error: r.error, configHash: r.configHash })),
  };
  return { ...model, overrides: status.overrides as ConsoleModel['overrides'] };
}
