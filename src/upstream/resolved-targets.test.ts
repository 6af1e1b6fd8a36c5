import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { seededRandom } from '../core/random.js';
import { UpstreamSpec } from '../spec/schema.js';
import { createPool, pick } from './pool.js';
import {
  addressUrl,
  diffChanges,
  diffTargets,
  isDynamicPool,
  mergeDesired,
  parseTargetSource,
  pickAddresses,
  setWeight,
  srvTiers,
  srvWeight,
  withTargets,
  type DesiredTarget,
} from './resolved-targets.js';
import { newTargetState } from './target-state.js';

const want = (url: string, over: Partial<DesiredTarget> = {}): DesiredTarget => ({ url, weight: 1, tier: 'primary', source: 'http://x.test:80', servername: 'x.test', ...over });

describe('target sources', () => {
  it('ok/an IP literal is static; a name is resolved; dns+srv is SRV (https for _https)', () => {
    expect(parseTargetSource('http://127.0.0.1:3001')).toEqual({ kind: 'static', url: 'http://127.0.0.1:3001' });
    expect(parseTargetSource('http://[::1]:3001').kind).toBe('static');
    expect(parseTargetSource('http://Orders.Internal:8080')).toEqual({ kind: 'host', label: 'http://orders.internal:8080', scheme: 'http:', host: 'orders.internal', port: 8080 });
    expect(parseTargetSource('https://orders.internal')).toMatchObject({ kind: 'host', scheme: 'https:', port: 443 });
    expect(parseTargetSource('dns+srv://_http._tcp.orders.internal/')).toEqual({ kind: 'srv', label: 'dns+srv://_http._tcp.orders.internal', scheme: 'http:', name: '_http._tcp.orders.internal' });
    expect(parseTargetSource('dns+srv://_https._tcp.orders.internal')).toMatchObject({ scheme: 'https:' });
    expect(isDynamicPool({ targets: [{ url: 'http://127.0.0.1:1' }], backups: [] })).toBe(false);
    expect(isDynamicPool({ targets: [{ url: 'http://127.0.0.1:1' }], backups: [{ url: 'http://b.test:1' }] })).toBe(true);
  });

  it('ok/address URLs bracket IPv6', () => {
    expect(addressUrl('http:', '10.0.0.1', 80)).toBe('http://10.0.0.1:80');
    expect(addressUrl('https:', 'fd00::1', 8443)).toBe('https://[fd00::1]:8443');
  });

  it('ok/the schema takes host names and dns+srv names, and refuses other schemes', () => {
    const parse = (url: string) => UpstreamSpec.safeParse({ targets: [{ url }] }).success;
    expect(parse('http://orders.internal:8080')).toBe(true);
    expect(parse('dns+srv://_http._tcp.orders.internal')).toBe(true);
    expect(parse('dns+srv://orders.internal')).toBe(false);
    expect(parse('ftp://orders.internal')).toBe(false);
  });
});

describe('SRV mapping', () => {
  it('ok/weights: 0 becomes 1 (a very small chance), others kept', () => {
    expect([0, 1, 3, 65535].map(srvWeight)).toEqual([1, 1, 3, 65535]);
  });

  it('ok/the lowest priority present is primary, higher ones backups; "." and port 0 dropped', () => {
    const r = (name: string, priority: number, port = 80) => ({ name, port, priority, weight: 1 });
    const tiers = srvTiers([r('a', 10), r('b', 20), r('c', 10), r('.', 0), r('d', 5, 0)], 'primary');
    expect(tiers.map((t) => `${t.record.name}:${t.tier}`)).toEqual(['a:primary', 'b:backup', 'c:primary']);
    expect(srvTiers([r('a', 10), r('b', 20)], 'backup').map((t) => t.tier)).toEqual(['backup', 'backup']);
    expect(srvTiers([r('.', 0)], 'primary')).toEqual([]);
  });
});

describe('address families', () => {
  it('ok/v4-preferred falls back to IPv6 only without IPv4; results sorted and deduplicated', () => {
    expect(pickAddresses(['10.0.0.2', '10.0.0.1', '10.0.0.2'], ['fd00::1'], 'v4-preferred')).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(pickAddresses([], ['fd00::1'], 'v4-preferred')).toEqual(['fd00::1']);
    expect(pickAddresses(['10.0.0.1'], ['fd00::1'], 'all')).toEqual(['10.0.0.1', 'fd00::1']);
    expect(pickAddresses(['10.0.0.1'], ['fd00::1'], 'v6')).toEqual(['fd00::1']);
  });
});

describe('target set diffing', () => {
  it('ok/merge: one target per tier and URL, the first entry wins, a primary is not repeated as a backup', () => {
    const merged = mergeDesired([
      [want('http://10.0.0.1:80', { weight: 2 }), want('http://10.0.0.9:80', { tier: 'backup' })],
      [want('http://10.0.0.1:80', { weight: 5 }), want('http://10.0.0.2:80'), want('http://10.0.0.1:80', { tier: 'backup' })],
    ]);
    expect(merged.map((d) => `${d.tier} ${d.url} ${d.weight}`)).toEqual(['primary http://10.0.0.1:80 2', 'primary http://10.0.0.2:80 1', 'backup http://10.0.0.9:80 1']);
  });

  it('ok/kept addresses keep their state object; new ones are added, missing ones removed, weights changed', () => {
    const a = newTargetState('http://10.0.0.1:80', 1, 'primary');
    const b = newTargetState('http://10.0.0.2:80', 1, 'primary');
    a.healthy = false;
    const d = diffTargets([a, b], [want('http://10.0.0.3:80'), want('http://10.0.0.1:80', { weight: 4 })]);
    expect(d.next[0]).toMatchObject({ url: 'http://10.0.0.3:80' });
    expect(d.next[1]).toBe(a);
    expect(d.added.map((x) => x.url)).toEqual(['http://10.0.0.3:80']);
    expect(d.removed).toEqual([b]);
    expect(d.reweighed).toEqual([{ target: a, weight: 4 }]);
    expect(diffChanges(d)).toBe(true);
    expect(diffChanges(diffTargets([a, b], [want(b.url), want(a.url)]))).toBe(false);
    setWeight(a, 4);
    expect(a.weight).toBe(4);
    expect(a.healthy).toBe(false);
  });

  it('ok/a pool over a new target set shares the breaker and retry budget and picks from the new set only', () => {
    const clock = new ManualClock();
    const deps = { clock, random: seededRandom(7) };
    const spec = UpstreamSpec.parse({ targets: [{ url: 'http://10.0.0.1:80' }] });
    const a = newTargetState('http://10.0.0.1:80', 1, 'primary');
    const b = newTargetState('http://10.0.0.2:80', 1, 'primary');
    const pool = createPool('p', spec, { primaries: [a], backups: [] }, deps);
    const next = withTargets(pool, [b], [], deps);
    expect(next.breaker).toBe(pool.breaker);
    expect(next.retryBudget).toBe(pool.retryBudget);
    expect(pool.primaries).toEqual([a]);
    for (let i = 0; i < 5; i++) expect(pick(next, '', new Set(), clock)).toBe(b);
    const empty = withTargets(pool, [], [], deps);
    expect(() => pick(empty, '', new Set(), clock)).toThrow(/No healthy target/);
  });
});
