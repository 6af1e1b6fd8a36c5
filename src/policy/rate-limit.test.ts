import { describe, expect, it } from 'vitest';
import { ANONYMOUS, type Identity } from '../core/types.js';
import { GatewayError } from '../core/errors.js';
import type { QuotaSpec, RateLimitSpec } from '../spec/schema.js';
import type { CounterStore } from '../store/counter-store.js';
import { createMemoryStore } from '../store/memory-store.js';
import type { LimitContext } from './limit-key.js';
import { compileLimitPolicy, evaluateLimits, type LimitPolicy, type LimitVerdict } from './rate-limit.js';

const NOON = Date.UTC(2024, 4, 1, 12, 0, 0); // 43,200 s before the day ends

const rl = (o: Partial<RateLimitSpec> = {}): RateLimitSpec => ({ rate: 100, per: '1s', by: 'ip', ...o });
const qs = (o: Partial<QuotaSpec> = {}): QuotaSpec => ({ limit: 100_000, per: '1d', by: 'identity', ...o });

function ctx(ip = '192.0.2.1', identity: Identity = ANONYMOUS): LimitContext {
  return { ip, routeName: 'api', identity, header: () => undefined };
}

/** The same memory store behind Promises, as Redis would answer. */
function asyncStore(): CounterStore {
  const mem = createMemoryStore();
  return {
    takeToken: async (...a) => mem.takeToken(...a),
    countQuota: async (...a) => mem.countQuota(...a),
    close: () => mem.close(),
  };
}

function must(p: LimitPolicy | undefined): LimitPolicy {
  if (p === undefined) throw new Error('no policy');
  return p;
}

describe('compileLimitPolicy', () => {
  it('ok/no limits, no policy', () => {
    expect(compileLimitPolicy('api')).toBeUndefined();
  });

  it('ok/policy header as SPEC §3', () => {
    expect(must(compileLimitPolicy('api', rl(), qs())).policyHeader).toBe('"rate";q=100;w=1, "quota";q=100000;w=86400');
    expect(must(compileLimitPolicy('api', undefined, qs({ per: '30d', limit: 5 }))).policyHeader).toBe('"quota";q=5;w=2592000');
    expect(must(compileLimitPolicy('api', undefined, qs({ per: '1h', limit: 5 }))).policyHeader).toBe('"quota";q=5;w=3600');
  });

  it('ok/rate policy is written with whole q and w', () => {
    const h = (o: Partial<RateLimitSpec>) => must(compileLimitPolicy('r', rl(o))).policyHeader;
    expect(h({ rate: 10, per: '500ms' })).toBe('"rate";q=20;w=1');
    expect(h({ rate: 0.5, per: '1s' })).toBe('"rate";q=1;w=2');
    expect(h({ rate: 60, per: '1m' })).toBe('"rate";q=1;w=1');
    expect(h({ rate: 7, per: '1h' })).toBe('"rate";q=7;w=3600');
  });

  it('ok/an unchanged limit keeps its keys, a changed one gets new keys', () => {
    const a = must(compileLimitPolicy('api', rl(), qs()));
    const b = must(compileLimitPolicy('api', rl(), qs()));
    const c = must(compileLimitPolicy('api', rl({ burst: 200 }), qs({ limit: 5 })));
    expect(b.rate?.prefix).toBe(a.rate?.prefix);
    expect(c.rate?.prefix).not.toBe(a.rate?.prefix);
    expect(c.quota?.prefix).toBe(a.quota?.prefix); // the quota is keyed by what it counts
    expect(must(compileLimitPolicy('api', rl(), qs({ per: '1h' }))).quota?.prefix).not.toBe(a.quota?.prefix);
    expect(must(compileLimitPolicy('other', rl())).rate?.prefix).not.toBe(a.rate?.prefix);
  });

  it('ok/an unchanged limit keeps its tokens across a recompile', () => {
    const store = createMemoryStore();
    const spec = rl({ rate: 1, per: '1m' });
    expect(evaluate(must(compileLimitPolicy('api', spec)), ctx(), store, NOON).error).toBeUndefined();
    expect(evaluate(must(compileLimitPolicy('api', { ...spec })), ctx(), store, NOON).kind).toBe('rate');
    expect(evaluate(must(compileLimitPolicy('api', { ...spec, burst: 2 })), ctx(), store, NOON).error).toBeUndefined();
  });

  it('error/invalid per', () => {
    expect(() => compileLimitPolicy('api', rl({ per: 'soon' }))).toThrow(/rateLimit.per/);
    expect(() => compileLimitPolicy('api', undefined, qs({ per: '1w' }))).toThrow(/quota.per/);
  });
});

/** Evaluates and insists on a synchronous answer (memory store). */
function evaluate(policy: LimitPolicy, c: LimitContext, store: CounterStore, now: number): LimitVerdict {
  const v = evaluateLimits(policy, c, store, now);
  if (v instanceof Promise) throw new Error('expected a synchronous verdict');
  return v;
}

describe('evaluateLimits', () => {
  it('ok/RateLimit header as SPEC §3', () => {
    const policy = must(compileLimitPolicy('api', rl(), qs()));
    const v = evaluate(policy, ctx(), createMemoryStore(), NOON);
    expect(v).toEqual({ rateLimitHeader: '"rate";r=99;t=0, "quota";r=99999;t=43200', policyHeader: policy.policyHeader, quotaRemaining: 99999, quotaLimit: 100000 });
  });

  it('error/empty bucket gives RATE_LIMITED with Retry-After, and the quota is not counted', () => {
    const policy = must(compileLimitPolicy('api', rl({ rate: 2, per: '10s' }), qs({ limit: 10 })));
    const store = createMemoryStore();
    evaluate(policy, ctx(), store, NOON);
    evaluate(policy, ctx(), store, NOON);
    const v = evaluate(policy, ctx(), store, NOON + 1);
    expect(v.kind).toBe('rate');
    expect(v.error).toBeInstanceOf(GatewayError);
    expect(v.error).toMatchObject({ code: 'RATE_LIMITED', status: 429, headers: { 'retry-after': '5' } });
    expect(v.rateLimitHeader).toBe('"rate";r=0;t=5');
    // Two requests were counted, not three.
    const later = evaluate(policy, ctx(), store, NOON + 10_000);
    expect(later.rateLimitHeader).toBe('"rate";r=1;t=0, "quota";r=7;t=43190');
  });

  it('ok/Retry-After is at least one second', () => {
    const policy = must(compileLimitPolicy('api', rl({ rate: 100, per: '1s', burst: 1 })));
    const store = createMemoryStore();
    evaluate(policy, ctx(), store, NOON);
    const v = evaluate(policy, ctx(), store, NOON);
    expect(v.error?.headers).toEqual({ 'retry-after': '1' });
    expect(v.rateLimitHeader).toBe('"rate";r=0;t=1');
  });

  it('error/used-up quota gives QUOTA_EXCEEDED until the window ends', () => {
    const policy = must(compileLimitPolicy('api', undefined, qs({ limit: 2, per: '1h' })));
    const store = createMemoryStore();
    const at = NOON + 30 * 60_000 + 500; // 1799.5 s before the hour ends
    evaluate(policy, ctx(), store, at);
    expect(evaluate(policy, ctx(), store, at).rateLimitHeader).toBe('"quota";r=0;t=1800');
    const v = evaluate(policy, ctx(), store, at);
    expect(v).toMatchObject({ kind: 'quota', error: { code: 'QUOTA_EXCEEDED', headers: { 'retry-after': '1800' } } });
    expect(evaluate(policy, ctx(), store, NOON + 3_600_000).error).toBeUndefined();
  });

  it('ok/clients are limited apart by their key', () => {
    const policy = must(compileLimitPolicy('api', rl({ rate: 1, per: '1m', by: 'identity' })));
    const store = createMemoryStore();
    const web = ctx('192.0.2.1', { spiffeId: 'spiffe://tollgate.local/web' });
    expect(evaluate(policy, web, store, NOON).error).toBeUndefined();
    expect(evaluate(policy, web, store, NOON).kind).toBe('rate');
    expect(evaluate(policy, ctx('192.0.2.1'), store, NOON).error).toBeUndefined(); // anonymous: by IP
  });

  it('ok/an async store gives the same verdicts as a sync one', async () => {
    const policy = must(compileLimitPolicy('api', rl({ rate: 2, per: '1s' }), qs({ limit: 3 })));
    const [sync, async] = [createMemoryStore(), asyncStore()];
    for (let i = 0; i < 6; i++) {
      const now = NOON + i * 300;
      const a = evaluate(policy, ctx(), sync, now);
      const p = evaluateLimits(policy, ctx(), async, now);
      expect(p).toBeInstanceOf(Promise);
      expect(await p).toEqual(a);
    }
  });
});

describe('evaluateLimits: what is remembered between requests', () => {
  it('ok/the quota window follows the clock across a window boundary', () => {
    const store = createMemoryStore();
    const policy = must(compileLimitPolicy('api', undefined, qs({ limit: 2, per: '1h', by: 'ip' })));
    const hour = 3_600_000;
    const start = Math.floor(NOON / hour) * hour;
    const at = (t: number) => evaluateLimits(policy, ctx(), store, t) as LimitVerdict;
    expect(at(start + 10).quotaRemaining).toBe(1);
    expect(at(start + hour - 1).quotaRemaining).toBe(0);
    expect(at(start + hour - 1).error?.code).toBe('QUOTA_EXCEEDED');
    // The next hour: a fresh window (not the one remembered), and its reset is an hour away.
    const next = at(start + hour);
    expect(next.quotaRemaining).toBe(1);
    expect(next.rateLimitHeader).toBe('"quota";r=1;t=3600');
    // A clock stepped back into the earlier hour is answered from the window it is in.
    expect(policy.quota?.windowAt(start + 5)).toEqual({ startMs: start, endMs: start + hour });
  });

  it('ok/the rate member is rebuilt whenever remaining or t changes', () => {
    const store = createMemoryStore();
    const a = must(compileLimitPolicy('a', rl({ rate: 3, per: '1s' })));
    const b = must(compileLimitPolicy('b', rl({ rate: 5, per: '1s' })));
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      seen.push((evaluateLimits(a, ctx(), store, NOON) as LimitVerdict).rateLimitHeader);
      seen.push((evaluateLimits(b, ctx(), store, NOON) as LimitVerdict).rateLimitHeader);
    }
    expect(seen).toEqual([
      '"rate";r=2;t=0', '"rate";r=4;t=0',
      '"rate";r=1;t=0', '"rate";r=3;t=0',
      '"rate";r=0;t=1', '"rate";r=2;t=0',
      '"rate";r=0;t=1', '"rate";r=1;t=0',
    ]);
  });
});
