/**
 * The override registry: what operators forced on the admin API (drain a target, force it healthy or
 * unhealthy, force a pool's tier), keyed by upstream name + target URL, not by pool object. Pools are
 * rebuilt when their definition changes (control/registries.ts), so the registry puts every override
 * back on each pool it builds, and on every pool held when an override is set or cleared. The data path
 * reads only the flags this writes (TargetState.adminState, UpstreamPool.control.forcedTier).
 *
 * An override naming a target or upstream a reload removed stays in the registry (shown with
 * `applied: false`) and takes effect again if a later reload brings it back; only DELETE clears it.
 * Every change is logged (audit): who (client address, whether it carried the admin token), when, what.
 */
import type { Clock } from '../core/clock.js';
import type { PoolRuntime } from '../runtime/snapshot.js';
import { OverrideRefused, type AdminOverrides, type OverrideActor, type OverrideRecord, type TargetAdminState } from '../runtime/overrides.js';
import type { GatewaySpec } from '../spec/schema.js';
import type { Logger } from '../telemetry/logger.js';

const TARGET_STATES: readonly TargetAdminState[] = ['drain', 'healthy', 'unhealthy'];
const TIERS = ['primary', 'backup'] as const;
/** Bound on a free-text reason (it goes to the log and /status). */
const MAX_REASON = 200;

export interface OverrideRegistryDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** The config in force: upstream and target names are checked against it. */
  readonly spec: () => GatewaySpec;
  /** Every pool held now (the running snapshot's and any built for a reload). */
  readonly pools: () => Iterable<PoolRuntime>;
  /** With `workers > 1`: hands every change to the primary, which passes it to the other workers (replaceAll). */
  readonly share?: (records: readonly OverrideRecord[]) => void;
}

type TargetRecord = Extract<OverrideRecord, { kind: 'target' }>;
type TierRecord = Extract<OverrideRecord, { kind: 'tier' }>;

function targetKey(upstream: string, url: string): string {
  return `${upstream}\0${url}`;
}

/** `host:port` of a target URL (default port filled in), for the shorthand the API accepts. */
function hostPort(url: string): string | undefined {
  try {
    const u = new URL(url);
    const port = u.port !== '' ? u.port : u.protocol === 'https:' ? '443' : '80';
    return `${u.hostname}:${port}`.toLowerCase();
  } catch {
    return undefined;
  }
}

function cleanReason(reason: string | undefined): string | null {
  if (reason === undefined) return null;
  // Control characters would forge log lines or break the console: replaced.
  const text = reason.replace(/\p{Cc}/gu, ' ').trim();
  return text === '' ? null : text.slice(0, MAX_REASON);
}

export class OverrideRegistry implements AdminOverrides {
  readonly #targets = new Map<string, TargetRecord>();
  readonly #tiers = new Map<string, TierRecord>();
  readonly #deps: OverrideRegistryDeps;

  constructor(deps: OverrideRegistryDeps) {
    this.#deps = deps;
  }

  list(): readonly OverrideRecord[] {
    return [...this.#targets.values(), ...this.#tiers.values()];
  }

  /** The override of one target, if any (for /status and the console). */
  targetOverride(upstream: string, url: string): TargetRecord | undefined {
    return this.#targets.get(targetKey(upstream, url));
  }

  /** The forced tier of one pool, if any. */
  tierOverride(upstream: string): TierRecord | undefined {
    return this.#tiers.get(upstream);
  }

  setTarget(upstream: string, target: string, state: TargetAdminState, by: OverrideActor, reason?: string): OverrideRecord {
    if (!TARGET_STATES.includes(state)) throw new OverrideRefused(400, `state must be one of ${TARGET_STATES.join(', ')}`);
    const url = this.#resolveTarget(upstream, target);
    const record: TargetRecord = { kind: 'target', upstream, target: url, state, reason: cleanReason(reason), by, at: this.#now() };
    const key = targetKey(upstream, url);
    // Re-inserted so list() keeps the order of the last change.
    this.#targets.delete(key);
    this.#targets.set(key, record);
    this.#changed();
    this.#audit('admin override set', record);
    return record;
  }

  clearTarget(upstream: string, target: string, by: OverrideActor): OverrideRecord | undefined {
    const url = this.#findRecorded(upstream, target) ?? target;
    const key = targetKey(upstream, url);
    const record = this.#targets.get(key);
    if (record === undefined) return undefined;
    this.#targets.delete(key);
    this.#changed();
    this.#audit('admin override cleared', record, by);
    return record;
  }

  setTier(upstream: string, tier: 'primary' | 'backup', by: OverrideActor, reason?: string): OverrideRecord {
    if (!TIERS.includes(tier)) throw new OverrideRefused(400, 'tier must be primary or backup');
    const up = this.#deps.spec().upstreams[upstream];
    if (up === undefined) throw new OverrideRefused(404, `no upstream "${upstream}" in the config in force`);
    if (tier === 'backup' && up.backups.length === 0) throw new OverrideRefused(400, `upstream "${upstream}" has no backups`);
    const record: TierRecord = { kind: 'tier', upstream, tier, reason: cleanReason(reason), by, at: this.#now() };
    this.#tiers.delete(upstream);
    this.#tiers.set(upstream, record);
    this.#changed();
    this.#audit('admin override set', record);
    return record;
  }

  clearTier(upstream: string, by: OverrideActor): OverrideRecord | undefined {
    const record = this.#tiers.get(upstream);
    if (record === undefined) return undefined;
    this.#tiers.delete(upstream);
    this.#changed();
    this.#audit('admin override cleared', record, by);
    return record;
  }

  /** Puts the overrides on one pool (every pool the pool registry builds goes through here). */
  applyTo(runtime: PoolRuntime): void {
    const pool = runtime.pool;
    pool.control.forcedTier = this.#tiers.get(runtime.name)?.tier;
    for (const t of pool.primaries) t.adminState = this.#targets.get(targetKey(runtime.name, t.url))?.state;
    for (const t of pool.backups) t.adminState = this.#targets.get(targetKey(runtime.name, t.url))?.state;
  }

  /**
   * Takes the overrides another worker set (`workers > 1`: the primary passes on the admin worker's
   * changes, and the whole set to a worker that starts). Not audit-logged again: the admin worker did.
   */
  replaceAll(records: readonly OverrideRecord[]): void {
    this.#targets.clear();
    this.#tiers.clear();
    for (const r of records) {
      if (r.kind === 'target') this.#targets.set(targetKey(r.upstream, r.target), r);
      else this.#tiers.set(r.upstream, r);
    }
    this.#apply();
  }

  #changed(): void {
    this.#apply();
    this.#deps.share?.(this.list());
  }

  #apply(): void {
    for (const runtime of this.#deps.pools()) this.applyTo(runtime);
  }

  /** The configured URL of `target` (a URL or `host:port`) in `upstream` of the config in force. */
  #resolveTarget(upstream: string, target: string): string {
    const up = this.#deps.spec().upstreams[upstream];
    if (up === undefined) throw new OverrideRefused(404, `no upstream "${upstream}" in the config in force`);
    const urls = [...up.targets, ...up.backups].map((t) => t.url);
    if (urls.includes(target)) return target;
    const want = target.toLowerCase();
    const matches = urls.filter((u) => hostPort(u) === want || u.toLowerCase().replace(/\/+$/, '') === want.replace(/\/+$/, ''));
    if (matches.length === 1) return matches[0] as string;
    if (matches.length > 1) throw new OverrideRefused(400, `"${target}" names more than one target of "${upstream}"; give the full URL`);
    throw new OverrideRefused(404, `no target "${target}" in upstream "${upstream}"`);
  }

  /** The URL of a recorded override matching `target` (also for targets no longer configured). */
  #findRecorded(upstream: string, target: string): string | undefined {
    const want = target.toLowerCase();
    for (const r of this.#targets.values()) {
      if (r.upstream !== upstream) continue;
      if (r.target === target || hostPort(r.target) === want || r.target.toLowerCase().replace(/\/+$/, '') === want.replace(/\/+$/, '')) return r.target;
    }
    return undefined;
  }

  #now(): string {
    return new Date(this.#deps.clock.now()).toISOString();
  }

  #audit(msg: string, record: OverrideRecord, clearedBy?: OverrideActor): void {
    const what = record.kind === 'target' ? { target: record.target, state: record.state } : { tier: record.tier };
    const by = clearedBy ?? record.by;
    this.#deps.logger.warn({
      msg,
      audit: true,
      kind: record.kind,
      upstream: record.upstream,
      ...what,
      reason: record.reason,
      by: by.address,
      auth: by.auth,
      at: clearedBy === undefined ? record.at : this.#now(),
    });
  }
}
