/** The /status document (SPEC §5). */
import type { GatewayView } from '../runtime/view.js';
import { activeTier } from '../upstream/pool.js';
import { activeOf, pendingOf } from '../upstream/circuit-breaker.js';
import { isAvailable, type TargetState } from '../upstream/target-state.js';
import type { Clock } from '../core/clock.js';
import { routeUpstreams } from '../spec/route-upstreams.js';
import { requestCounts } from './request-counts.js';
import type { OverrideRecord } from '../runtime/overrides.js';

/** The version /status reports. */
export const VERSION = '0.1.0';

/** One target as /status shows it: `healthy` is the active check, `available` adds passive ejection. */
function targetView(t: TargetState, nowMs: number, wallNowMs: number): Record<string, unknown> {
  return {
    url: t.url,
    tier: t.tier,
    weight: t.weight,
    healthy: t.healthy,
    available: isAvailable(t, nowMs),
    // Ejections run on the monotonic clock; shown as the wall time they end at, for display only.
    ejectedUntil: t.ejectedUntil > nowMs ? new Date(wallNowMs + (t.ejectedUntil - nowMs)).toISOString() : null,
    inFlight: t.inFlight,
    ewmaMs: Math.round(t.ewmaMs * 10) / 10,
    ...(t.source !== undefined ? { source: t.source } : {}),
    // An operator override (admin POST /overrides/targets): drain | healthy | unhealthy, else null.
    override: t.adminState ?? null,
  };
}

function isApplied(pools: ReadonlyMap<string, { readonly pool: { readonly primaries: readonly TargetState[]; readonly backups: readonly TargetState[] } }>, o: OverrideRecord): boolean {
  const pr = pools.get(o.upstream);
  if (pr === undefined) return false;
  if (o.kind === 'tier') return true;
  return [...pr.pool.primaries, ...pr.pool.backups].some((t) => t.url === o.target);
}

/** Builds the status JSON from the current snapshot and live target state. */
export function buildStatus(gw: GatewayView, clock: Clock): Record<string, unknown> {
  const snap = gw.holder.current;
  const now = clock.monotonic();
  const wallNow = clock.now();
  const upstreams: Record<string, unknown> = {};
  for (const [name, pr] of snap.pools) {
    const breaker = pr.pool.breaker;
    upstreams[name] = {
      balance: pr.pool.balance,
      activeTier: activeTier(pr.pool, now),
      forcedTier: pr.pool.control.forcedTier ?? null,
      targets: [...pr.pool.primaries, ...pr.pool.backups].map((t) => targetView(t, now, wallNow)),
      circuitBreaker: {
        maxConnections: breaker.maxConnections,
        maxPendingRequests: breaker.maxPendingRequests,
        active: activeOf(breaker),
        pending: pendingOf(breaker),
        rejected: breaker.rejected,
      },
      retryBudget: { available: pr.retryBudget.available(wallNow) },
      ...(pr.resolution !== undefined ? { resolution: pr.resolution() } : {}),
    };
  }
  const routes = gw.spec.routes.map((r) => ({ name: r.name, upstreams: routeUpstreams(r).map((u) => u.name) }));
  const last = gw.lastReload;
  return {
    version: VERSION,
    configHash: snap.configHash,
    loadedAt: snap.loadedAt,
    generation: snap.generation,
    draining: gw.draining,
    lastReload: last ? { at: last.at, result: last.result, error: last.error } : null,
    pendingRestart: gw.pendingRestart ?? [],
    routes,
    requests: requestCounts(gw.metrics),
    upstreams,
    // Runtime overrides in force, with who set them and when; `applied` is false for one naming a
    // target or upstream the config in force no longer has (it applies again if a reload brings it back).
    overrides: (gw.overrides?.list() ?? []).map((o) => ({ ...o, applied: isApplied(snap.pools, o) })),
    certificates: gw.tls.certificates(),
  };
}
