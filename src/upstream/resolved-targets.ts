/**
 * Targets that come from DNS (pure parts; the resolver loop is control/dns-resolver.ts): which target
 * URLs name a host or an SRV record, how SRV records become targets, and how a new set of addresses is
 * applied to a pool's live target states (kept by address, so health and ejections survive a re-resolve).
 */
import { isIP } from 'node:net';
import type { BalanceName } from '../core/types.js';
import type { UpstreamPool } from './pool.js';
import { createSelector } from './selection/create-selector.js';
import type { SelectorDeps } from './selection/selector.js';
import type { TargetState } from './target-state.js';

export type Tier = 'primary' | 'backup';
export type Scheme = 'http:' | 'https:';

/** What one configured target URL stands for. */
export type TargetSource =
  /** An IP literal: one fixed target. */
  | { readonly kind: 'static'; readonly url: string }
  /** `http(s)://NAME:PORT`: every A/AAAA address of NAME on PORT. */
  | { readonly kind: 'host'; readonly label: string; readonly scheme: Scheme; readonly host: string; readonly port: number }
  /** `dns+srv://_service._proto.NAME`: each SRV record's target host and port, weighted by the record. */
  | { readonly kind: 'srv'; readonly label: string; readonly scheme: Scheme; readonly name: string };

export type DynamicSource = Exclude<TargetSource, { kind: 'static' }>;

/** `127.0.0.1`, `::1` (also as `[::1]`): an address, not a name to resolve. */
export function isAddressLiteral(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return isIP(bare) !== 0;
}

/**
 * Reads a target URL of the config (already validated by the schema). An SRV name whose service label is
 * `_https` gives https:// targets; any other gives http://.
 */
export function parseTargetSource(url: string): TargetSource {
  if (url.startsWith('dns+srv://')) {
    const name = url.slice('dns+srv://'.length).replace(/\/$/, '').toLowerCase();
    return { kind: 'srv', label: `dns+srv://${name}`, scheme: name.startsWith('_https.') ? 'https:' : 'http:', name };
  }
  const u = new URL(url);
  if (isAddressLiteral(u.hostname)) return { kind: 'static', url };
  const scheme = u.protocol === 'https:' ? 'https:' : 'http:';
  const port = u.port === '' ? (scheme === 'https:' ? 443 : 80) : Number(u.port);
  return { kind: 'host', label: u.origin, scheme, host: u.hostname, port };
}

/** Whether any target of the pool (either tier) is resolved through DNS. */
export function isDynamicPool(spec: { readonly targets: readonly { url: string }[]; readonly backups: readonly { url: string }[] }): boolean {
  return [...spec.targets, ...spec.backups].some((t) => parseTargetSource(t.url).kind !== 'static');
}

/** The origin URL of one resolved address (IPv6 in brackets). */
export function addressUrl(scheme: Scheme, address: string, port: number): string {
  return `${scheme}//${isIP(address) === 6 ? `[${address}]` : address}:${port}`;
}

/** One target a resolution asks for. */
export interface DesiredTarget {
  readonly url: string;
  readonly weight: number;
  readonly tier: Tier;
  /** The configured URL it came from (`http://orders.internal:8080`, `dns+srv://…`); undefined for a literal. */
  readonly source: string | undefined;
  /** The name it was resolved from: the TLS server name (SNI, certificate check) of https:// targets. */
  readonly servername: string | undefined;
}

/** An SRV record as node:dns returns it (RFC 2782). */
export interface SrvRecord {
  readonly name: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
}

/**
 * An SRV weight as a target weight. RFC 2782: weight 0 means "a very small chance" when others weigh
 * more; it becomes 1 (target weights are at least 1), so 0 next to 100 takes about 1 %.
 */
export function srvWeight(weight: number): number {
  return Math.max(1, Math.floor(weight));
}

/**
 * The tier of each usable SRV record (RFC 2782: the lowest priority is tried first). Under `targets` the
 * records of the lowest priority present are primaries and all others backups; under `backups` every
 * record is a backup. A record whose target is "." (service not offered) or whose port is 0 is dropped.
 */
export function srvTiers(records: readonly SrvRecord[], entryTier: Tier): { record: SrvRecord; tier: Tier }[] {
  const usable = records.filter((r) => r.name !== '' && r.name !== '.' && r.port > 0);
  if (usable.length === 0) return [];
  const lowest = Math.min(...usable.map((r) => r.priority));
  return usable.map((record) => ({ record, tier: entryTier === 'backup' || record.priority !== lowest ? 'backup' : 'primary' }));
}

/** Which address family a name's targets use. */
export type DnsFamily = 'v4-preferred' | 'v4' | 'v6' | 'all';

/**
 * The addresses to use of a name's A and AAAA answers: `v4-preferred` takes IPv4 when there is any, else
 * IPv6 (Envoy's V4_PREFERRED); `all` both. Sorted and deduplicated, so a server rotating its answers
 * (round-robin DNS) is not a change.
 */
export function pickAddresses(v4: readonly string[], v6: readonly string[], family: DnsFamily): string[] {
  const chosen = family === 'v4' ? v4 : family === 'v6' ? v6 : family === 'all' ? [...v4, ...v6] : v4.length > 0 ? v4 : v6;
  return [...new Set(chosen)].sort();
}

/**
 * Merges the targets of every source into one list: one entry per tier and URL (an address reached
 * through two names is one target; the first entry wins), primaries' URLs not repeated as backups.
 */
export function mergeDesired(lists: readonly (readonly DesiredTarget[])[]): DesiredTarget[] {
  const out: DesiredTarget[] = [];
  const primaries = new Set<string>();
  const backups = new Set<string>();
  const all = lists.flat();
  for (const t of all) {
    if (t.tier !== 'primary' || primaries.has(t.url)) continue;
    primaries.add(t.url);
    out.push(t);
  }
  for (const t of all) {
    if (t.tier !== 'backup' || primaries.has(t.url) || backups.has(t.url)) continue;
    backups.add(t.url);
    out.push(t);
  }
  return out;
}

/** How one tier's live targets must change to match a resolution. */
export interface TargetDiff {
  /** The tier's new list in the desired order: kept states, and the desired entry of each added one. */
  readonly next: readonly (TargetState | DesiredTarget)[];
  readonly added: readonly DesiredTarget[];
  readonly removed: readonly TargetState[];
  /** Kept targets whose weight changes. */
  readonly reweighed: readonly { readonly target: TargetState; readonly weight: number }[];
}

/** Compares a tier's live targets with what a resolution wants (by URL). */
export function diffTargets(current: readonly TargetState[], desired: readonly DesiredTarget[]): TargetDiff {
  const byUrl = new Map(current.map((t) => [t.url, t]));
  const wanted = new Set(desired.map((d) => d.url));
  const next: (TargetState | DesiredTarget)[] = [];
  const added: DesiredTarget[] = [];
  const reweighed: { target: TargetState; weight: number }[] = [];
  for (const d of desired) {
    const kept = byUrl.get(d.url);
    if (kept === undefined) {
      added.push(d);
      next.push(d);
      continue;
    }
    if (kept.weight !== d.weight) reweighed.push({ target: kept, weight: d.weight });
    next.push(kept);
  }
  const removed = current.filter((t) => !wanted.has(t.url));
  return { next, added, removed, reweighed };
}

/** Whether a diff changes anything. */
export function diffChanges(d: TargetDiff): boolean {
  return d.added.length > 0 || d.removed.length > 0 || d.reweighed.length > 0;
}

/**
 * Sets a kept target's weight: the same address at a new weight keeps its health, ejections and
 * in-flight count (TargetState is mutable on purpose; `weight` is readonly only to the data path).
 */
export function setWeight(target: TargetState, weight: number): void {
  (target as { weight: number }).weight = weight;
}

/**
 * The pool over a new target set: fresh selectors (their tables compiled now), the same breaker, retry
 * budget and outlier policy, so a re-resolve neither resets limits nor admits a burst.
 */
export function withTargets(pool: UpstreamPool, primaries: readonly TargetState[], backups: readonly TargetState[], deps: SelectorDeps): UpstreamPool {
  const balance = pool.balance as BalanceName;
  const p = Object.freeze([...primaries]);
  const b = Object.freeze([...backups]);
  const opts = { ewmaDecayMs: pool.ewmaDecayMs };
  const primarySelector = createSelector(balance, deps, opts);
  const backupSelector = createSelector(balance, deps, opts);
  primarySelector.prepare?.(p);
  backupSelector.prepare?.(b);
  return Object.freeze({ ...pool, primaries: p, backups: b, primarySelector, backupSelector });
}

/** One name of a pool as /status shows it. */
export interface ResolvedNameStatus {
  readonly source: string;
  readonly tier: Tier;
  /** Target URLs the last successful answer gave (kept through failures). */
  readonly targets: readonly string[];
  /** ISO time of the last successful resolution; null before the first. */
  readonly resolvedAt: string | null;
  /** The last failure's message while it is the latest result; null after a success. */
  readonly lastError: string | null;
  /** ISO time of the next resolution. */
  readonly nextAt: string | null;
}

/** A DNS-resolved pool's resolution as /status shows it. */
export interface ResolutionStatus {
  readonly names: readonly ResolvedNameStatus[];
  /** Removed targets whose requests are still finishing. */
  readonly draining: readonly string[];
}
