import { describe, expect, it } from 'vitest';
import { compileMtlsAllow } from './authz.js';

describe('compileMtlsAllow', () => {
  const allow = compileMtlsAllow(['spiffe://tollgate.local/web', 'spiffe://tollgate.local/ns/prod/*', 'spiffe://tollgate.local/ns/prod/db/*']);

  it.each([
    ['ok/exact id', 'spiffe://tollgate.local/web', 'ok'],
    ['ok/one segment below a glob', 'spiffe://tollgate.local/ns/prod/api', 'ok'],
    ['ok/deeper below a glob', 'spiffe://tollgate.local/ns/prod/team/api', 'ok'],
    ['error/the glob base itself', 'spiffe://tollgate.local/ns/prod', 'forbidden'],
    ['error/a sibling sharing a prefix', 'spiffe://tollgate.local/ns/production/api', 'forbidden'],
    ['error/exact id is not a prefix', 'spiffe://tollgate.local/web/admin', 'forbidden'],
    ['error/other trust domain', 'spiffe://other.local/web', 'forbidden'],
    ['error/no identity', undefined, 'unauthenticated'],
  ] as const)('%s', (_name, id, verdict) => {
    expect(allow(id)).toBe(verdict);
  });

  it('ok/whole trust domain glob', () => {
    const td = compileMtlsAllow(['spiffe://tollgate.local/*']);
    expect(td('spiffe://tollgate.local/anything/at/all')).toBe('ok');
    expect(td('spiffe://tollgate.localhost/x')).toBe('forbidden');
  });

  it('error/invalid patterns throw at compile time', () => {
    expect(() => compileMtlsAllow(['spiffe://Tollgate/x'])).toThrow();
    expect(() => compileMtlsAllow(['spiffe://td/a/../b'])).toThrow();
    expect(() => compileMtlsAllow(['https://td/x'])).toThrow();
  });
});
