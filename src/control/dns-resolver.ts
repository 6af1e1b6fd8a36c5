/**
 * DNS resolution of upstream targets (control plane). One loop per pool re-resolves every name of the
 * pool on its TTL (or the pool's `resolveInterval`), clamped to `dns.minInterval`..`dns.maxInterval`, and
 * hands the merged target list to the registry, which applies it to the running pool in place. A failed
 * answer (timeout, SERVFAIL, NXDOMAIN, no records) keeps that name's last known targets: a resolver
 * hiccup never empties a pool. A name that never resolved contributes no target.
 */
import { lookup as systemLookup } from 'node:dns/promises';
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Clock } from '../core/clock.js';
import { durationMs } from '../core/duration.js';
import { systemScheduler, type Scheduler, type TimerHandle } from '../core/scheduler.js';
import type { DnsSpec } from '../spec/schema.js';
import {
  addressUrl,
  mergeDesired,
  pickAddresses,
  srvTiers,
  srvWeight,
  type DesiredTarget,
  type DnsFamily,
  type DynamicSource,
  type ResolvedNameStatus,
  type SrvRecord,
  type Tier,
} from '../upstream/resolved-targets.js';

/** A name's addresses; `ttlSec` undefined when the resolver reports none (the system resolver). */
export interface AddressAnswer {
  readonly addresses: readonly string[];
  readonly ttlSec: number | undefined;
}

/** What the loop asks of DNS. Rejects on any failure, "no such name" and "no records" included. */
export interface DnsClient {
  addresses(host: string, family: DnsFamily): Promise<AddressAnswer>;
  srv(name: string): Promise<readonly SrvRecord[]>;
  /** Cancels queries in flight (they reject). */
  close(): void;
}

class NoRecordsError extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The DNS client of `dns`: with `servers`, node:dns `Resolver` queries those servers (A/AAAA with their
 * TTLs, SRV). Without, A/AAAA go through the system resolver (getaddrinfo: /etc/hosts, search domains,
 * as undici dialled host names before), which reports no TTL, and SRV to the system's name servers.
 */
export function createDnsClient(spec: DnsSpec): DnsClient {
  const timeoutMs = durationMs(spec.timeout);
  // c-ares: `timeout` per try, two tries per server.
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (spec.servers.length > 0) resolver.setServers(spec.servers);
  const overall = timeoutMs * 2 * Math.max(1, spec.servers.length) + 500;
  const viaResolver = async (host: string, family: DnsFamily): Promise<AddressAnswer> => {
    const ask = async (v: 4 | 6): Promise<{ address: string; ttl: number }[]> => {
      try {
        return v === 4 ? await resolver.resolve4(host, { ttl: true }) : await resolver.resolve6(host, { ttl: true });
      } catch (err) {
        // "This name has no records of that type" is an empty answer for the other family to fill.
        if ((err as NodeJS.ErrnoException).code === 'ENODATA') return [];
        throw err;
      }
    };
    let v4: { address: string; ttl: number }[] = [];
    let v6: { address: string; ttl: number }[] = [];
    if (family === 'v4') v4 = await ask(4);
    else if (family === 'v6') v6 = await ask(6);
    else if (family === 'all') {
      // Either family may fail (a server refusing AAAA) while the other answers.
      const [a, b] = await Promise.allSettled([ask(4), ask(6)]);
      if (a.status === 'rejected' && b.status === 'rejected') throw a.reason;
      v4 = a.status === 'fulfilled' ? a.value : [];
      v6 = b.status === 'fulfilled' ? b.value : [];
    }
    else {
      v4 = await ask(4);
      if (v4.length === 0) v6 = await ask(6);
    }
    const records = [...v4, ...v6];
    if (records.length === 0) throw new NoRecordsError(`${host}: no ${family === 'v6' ? 'AAAA' : family === 'v4' ? 'A' : 'A or AAAA'} records`);
    const addresses = pickAddresses(
      v4.map((r) => r.address),
      v6.map((r) => r.address),
      family,
    );
    return { addresses, ttlSec: Math.min(...records.map((r) => r.ttl)) };
  };
  const viaSystem = async (host: string, family: DnsFamily): Promise<AddressAnswer> => {
    const found = await systemLookup(host, { all: true, family: family === 'v4' ? 4 : family === 'v6' ? 6 : 0 });
    const addresses = pickAddresses(
      found.filter((a) => a.family === 4).map((a) => a.address),
      found.filter((a) => a.family === 6).map((a) => a.address),
      family,
    );
    if (addresses.length === 0) throw new NoRecordsError(`${host}: no addresses`);
    return { addresses, ttlSec: undefined };
  };
  const addresses = spec.servers.length > 0 ? viaResolver : viaSystem;
  return {
    addresses: (host, family) => withTimeout(addresses(host, family), overall, host),
    srv: async (name) => {
      const records = await withTimeout(resolver.resolveSrv(name), overall, name);
      if (records.length === 0) throw new NoRecordsError(`${name}: no SRV records`);
      return records;
    },
    close: () => resolver.cancel(),
  };
}

/** A name the loop resolves, with the tier and weight its configured entry gave. */
export interface ResolvedEntry {
  readonly source: DynamicSource;
  readonly tier: Tier;
  /** The configured weight (host names; SRV records carry their own). */
  readonly weight: number;
}

export interface PoolResolverOptions {
  readonly entries: readonly ResolvedEntry[];
  /** Targets given as IP literals: always part of the list. */
  readonly statics: readonly DesiredTarget[];
  readonly client: DnsClient;
  readonly clock: Clock;
  readonly scheduler?: Scheduler;
  readonly family: DnsFamily;
  /** The pool's `resolveInterval` in ms: used instead of the TTL. */
  readonly intervalMs: number | undefined;
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number;
  /** When the answer carries no TTL (the system resolver) and no `resolveInterval` is set. */
  readonly noTtlIntervalMs: number;
  /** The merged target list, after every round whose result differs from the last one handed over. */
  readonly onTargets: (targets: DesiredTarget[]) => void;
  /** After each name's resolution. */
  readonly onResult?: (source: string, ok: boolean, error: string | undefined) => void;
}

export interface PoolResolver {
  /** Settles when the first round has finished (whatever it found). */
  readonly ready: Promise<void>;
  status(): ResolvedNameStatus[];
  close(): void;
}

interface NameState {
  readonly entry: ResolvedEntry;
  targets: DesiredTarget[];
  resolvedAt: number | undefined;
  lastError: string | undefined;
  failures: number;
  /** Addresses of SRV target hosts, kept through failures of those hosts. */
  readonly hosts: Map<string, AddressAnswer>;
}

/** The next delay of a name: its TTL or interval on success, a growing backoff after failures. */
export function nextDelayMs(
  o: Pick<PoolResolverOptions, 'intervalMs' | 'minIntervalMs' | 'maxIntervalMs' | 'noTtlIntervalMs'>,
  ttlSec: number | undefined,
  failures: number,
): number {
  const clamp = (ms: number): number => Math.min(o.maxIntervalMs, Math.max(o.minIntervalMs, ms));
  const normal = clamp(o.intervalMs ?? (ttlSec === undefined ? o.noTtlIntervalMs : ttlSec * 1000));
  if (failures === 0) return normal;
  // After a failure: minInterval, doubling, never later than the normal interval.
  return Math.min(normal, clamp(o.minIntervalMs * 2 ** Math.min(failures - 1, 20)));
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e instanceof Error) return e.code !== undefined ? `${e.code}: ${e.message}` : e.message;
  return String(err);
}

/**
 * Starts resolving every entry now, then on each name's schedule. Rounds never overlap: the next one
 * is set when the current one ended, for the soonest name due.
 */
export function createPoolResolver(o: PoolResolverOptions): PoolResolver {
  const scheduler = o.scheduler ?? systemScheduler;
  const names: NameState[] = o.entries.map((entry) => ({ entry, targets: [], resolvedAt: undefined, lastError: undefined, failures: 0, hosts: new Map() }));
  const due = new Map<NameState, number>();
  let timer: TimerHandle | undefined;
  let closed = false;
  let handed: string | undefined;

  const resolveAddresses = async (host: string): Promise<AddressAnswer> => {
    if (isIP(host) !== 0) return { addresses: [host], ttlSec: undefined };
    return o.client.addresses(host, o.family);
  };

  /** Resolves one name; returns its TTL (seconds) or throws. */
  const resolveOne = async (n: NameState): Promise<number | undefined> => {
    const { source, tier, weight } = n.entry;
    if (source.kind === 'host') {
      const answer = await resolveAddresses(source.host);
      n.targets = answer.addresses.map((a) => ({ url: addressUrl(source.scheme, a, source.port), weight, tier, source: source.label, servername: source.host }));
      return answer.ttlSec;
    }
    const records = await o.client.srv(source.name);
    const tiered = srvTiers(records, tier);
    const answers = await Promise.all(
      tiered.map(async ({ record }) => {
        const host = record.name.replace(/\.$/, '').toLowerCase();
        try {
          const a = await resolveAddresses(host);
          n.hosts.set(host, a);
          return a;
        } catch (err) {
          // One target host failing keeps its last addresses; the others still count.
          o.onResult?.(`${source.label} → ${host}`, false, errorText(err));
          return n.hosts.get(host);
        }
      }),
    );
    const targets: DesiredTarget[] = [];
    let ttl: number | undefined;
    tiered.forEach(({ record, tier: t }, i) => {
      const a = answers[i];
      if (a === undefined) return;
      if (a.ttlSec !== undefined) ttl = Math.min(ttl ?? Infinity, a.ttlSec);
      const host = record.name.replace(/\.$/, '').toLowerCase();
      for (const address of a.addresses) {
        targets.push({ url: addressUrl(source.scheme, address, record.port), weight: srvWeight(record.weight), tier: t, source: source.label, servername: host });
      }
    });
    // Sorted, so a server rotating its records is not a change.
    n.targets = targets.sort((x, y) => (x.url < y.url ? -1 : x.url > y.url ? 1 : 0));
    for (const host of [...n.hosts.keys()]) if (!tiered.some(({ record }) => record.name.replace(/\.$/, '').toLowerCase() === host)) n.hosts.delete(host);
    return ttl;
  };

  const round = async (which: readonly NameState[]): Promise<void> => {
    await Promise.all(
      which.map(async (n) => {
        let ttl: number | undefined;
        try {
          ttl = await resolveOne(n);
          n.failures = 0;
          n.lastError = undefined;
          n.resolvedAt = o.clock.now();
          o.onResult?.(n.entry.source.label, true, undefined);
        } catch (err) {
          if (closed) return; // cancelled by close(): not a resolver failure
          n.failures++;
          n.lastError = errorText(err);
          o.onResult?.(n.entry.source.label, false, n.lastError);
        }
        due.set(n, o.clock.monotonic() + nextDelayMs(o, ttl, n.failures));
      }),
    );
    if (closed) return;
    const merged = mergeDesired([o.statics, ...names.map((n) => n.targets)]);
    const key = JSON.stringify(merged);
    if (key !== handed) {
      handed = key;
      try {
        o.onTargets(merged);
      } catch {
        // A throwing consumer must not stop the loop nor become an unhandled rejection.
      }
    }
    scheduleNext();
  };

  const scheduleNext = (): void => {
    if (closed || names.length === 0) return;
    const soonest = Math.min(...names.map((n) => due.get(n) ?? 0));
    timer = scheduler.after(Math.max(1, soonest - o.clock.monotonic()), () => {
      const now = o.clock.monotonic();
      void round(names.filter((n) => (due.get(n) ?? 0) <= now));
    });
  };

  const ready = round(names);
  return {
    ready,
    status: () => {
      const wallNow = o.clock.now();
      const monoNow = o.clock.monotonic();
      return names.map((n) => {
        const at = due.get(n);
        return {
          source: n.entry.source.label,
          tier: n.entry.tier,
          targets: n.targets.map((t) => t.url),
          resolvedAt: n.resolvedAt === undefined ? null : new Date(n.resolvedAt).toISOString(),
          lastError: n.lastError ?? null,
          nextAt: at === undefined || closed ? null : new Date(wallNow + Math.max(0, at - monoNow)).toISOString(),
        };
      });
    },
    close: () => {
      if (closed) return;
      closed = true;
      timer?.cancel();
      o.client.close();
    },
  };
}
