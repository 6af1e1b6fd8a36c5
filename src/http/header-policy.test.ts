import { describe, expect, it } from 'vitest';
import { addVary, applyToList, applyToRecord, compileHeaderOps } from './header-policy.js';
import { HOP_BY_HOP } from './hop-headers.js';
import { IDENTITY_HEADERS } from './request-headers.js';
import { protectedHeaderReason } from '../spec/policy-rules.js';

describe('compileHeaderOps', () => {
  it('ok/no levels or empty levels compile to undefined (the data path skips the route)', () => {
    expect(compileHeaderOps([])).toBeUndefined();
    expect(compileHeaderOps([undefined, {}])).toBeUndefined();
  });

  it('ok/remove → set → add within a level; global first, then the route', () => {
    const ops = compileHeaderOps([
      { set: { 'Strict-Transport-Security': 'max-age=63072000' }, remove: ['server'], add: { 'x-a': 'g' } },
      { remove: ['strict-transport-security'], add: { 'x-a': ['r1', 'r2'] }, set: { 'x-b': 'route' } },
    ]);
    expect(ops).toBeDefined();
    expect([...ops!.drop].sort()).toEqual(['server', 'strict-transport-security', 'x-b']);
    expect(ops!.append).toEqual(['x-a', 'g', 'x-a', 'r1', 'x-a', 'r2', 'x-b', 'route']);
  });

  it('ok/a route set replaces the global add of the same name', () => {
    const ops = compileHeaderOps([{ add: { 'x-a': 'g' } }, { set: { 'X-A': 'r' } }]);
    expect(ops!.append).toEqual(['x-a', 'r']);
    expect(ops!.drop.has('x-a')).toBe(true);
  });
});

describe('applying ops', () => {
  const ops = compileHeaderOps([{ remove: ['x-powered-by', 'server'], set: { 'x-env': 'prod' }, add: { via: 'tollgate' } }])!;

  it('ok/request list: case-insensitive drop, then append', () => {
    const list = ['Server', 'a', 'Accept', '*/*', 'X-Env', 'dev', 'via', '1.1 lb'];
    expect(applyToList(list, ops)).toEqual(['Accept', '*/*', 'via', '1.1 lb', 'x-env', 'prod', 'via', 'tollgate']);
  });

  it('ok/response record: drop, then append (a second value becomes an array)', () => {
    const h: Record<string, string | string[]> = { server: 'nginx', 'x-powered-by': 'php', via: '1.1 up', 'content-type': 'text/plain' };
    applyToRecord(h, ops);
    expect(h).toEqual({ via: ['1.1 up', 'tollgate'], 'content-type': 'text/plain', 'x-env': 'prod' });
  });

  it('ok/addVary adds once and respects *', () => {
    const h: Record<string, string | string[]> = {};
    addVary(h, 'Origin');
    addVary(h, 'origin');
    addVary(h, 'Accept-Encoding');
    expect(h.vary).toBe('Origin, Accept-Encoding');
    const star: Record<string, string | string[]> = { vary: '*' };
    addVary(star, 'Origin');
    expect(star.vary).toBe('*');
  });
});

describe('protectedHeaderReason', () => {
  it('ok/every hop-by-hop and identity header the data path knows is protected in requests', () => {
    for (const n of [...HOP_BY_HOP, ...IDENTITY_HEADERS, 'x-request-id', 'content-length', 'host', 'x-forwarded-port', 'X-Forwarded-Client-Cert', 'x-envoy-foo', 'x-ssl-client-dn']) {
      expect(protectedHeaderReason(n, 'request'), n).toBeDefined();
    }
  });

  it('ok/responses: framing and the request id are protected, identity names are not', () => {
    for (const n of [...HOP_BY_HOP, 'x-request-id', 'content-length']) expect(protectedHeaderReason(n, 'response'), n).toBeDefined();
    expect(protectedHeaderReason('server', 'response')).toBeUndefined();
    expect(protectedHeaderReason('strict-transport-security', 'response')).toBeUndefined();
  });

  it('error/names that are not tokens are refused', () => {
    expect(protectedHeaderReason('bad name', 'request')).toMatch(/token/);
    expect(protectedHeaderReason('', 'response')).toMatch(/token/);
  });
});
