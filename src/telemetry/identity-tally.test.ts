import { describe, expect, it } from 'vitest';
import { IdentityTally, identityKey } from './identity-tally.js';

describe('identity tally', () => {
  it('ok/keys: SPIFFE id, else jwt sub, else anonymous', () => {
    expect(identityKey({ spiffeId: 'spiffe://td/a', jwtClaims: { sub: 'x' } })).toBe('spiffe://td/a');
    expect(identityKey({ jwtClaims: { sub: 'alice' } })).toBe('jwt:alice');
    expect(identityKey({ jwtClaims: { sub: 42 } })).toBe('anonymous');
    expect(identityKey({})).toBe('anonymous');
  });

  it('ok/top N by requests, ties by name; quota use is the last decision seen', () => {
    const t = new IdentityTally();
    for (const id of ['b', 'a', 'c', 'a', 'c', 'c']) t.count(id);
    t.observeQuota('a', 'api', 90, 100);
    t.observeQuota('a', 'api', 80, 100);
    expect(t.top(2)).toEqual([
      { id: 'c', requests: 3, quota: undefined },
      { id: 'a', requests: 2, quota: { route: 'api', used: 20, limit: 100 } },
    ]);
    expect(t.top(10).map((u) => u.id)).toEqual(['c', 'a', 'b']);
  });

  it('ok/a quota decision before the first count holds the identity', () => {
    const t = new IdentityTally();
    t.observeQuota('new', 'api', 99, 100);
    t.count('new');
    expect(t.top(1)).toEqual([{ id: 'new', requests: 1, quota: { route: 'api', used: 1, limit: 100 } }]);
  });

  it('error/a full table counts newcomers only as overflow and keeps the ones it holds', () => {
    const t = new IdentityTally(2);
    t.count('a');
    t.count('b');
    t.count('c');
    t.observeQuota('d', 'api', 0, 1);
    t.count('a');
    expect(t.size).toBe(2);
    expect(t.overflow).toBe(1);
    expect(t.top(5).map((u) => [u.id, u.requests])).toEqual([['a', 2], ['b', 1]]);
  });
});
