import { describe, expect, it } from 'vitest';
import { GatewaySpec } from '../spec/schema.js';
import { diffSpecs } from './diff.js';

const spec = (routes: unknown[], upstreams: Record<string, unknown> = { up: { targets: [{ url: 'http://127.0.0.1:3001' }] } }): GatewaySpec =>
  GatewaySpec.parse({ routes, upstreams });
const allow = (...p: string[]) => ({ mtls: { allow: p } });

describe('diffSpecs', () => {
  it('ok/identical specs give no change', () => {
    const s = spec([{ name: 'a', match: { pathPrefix: '/a' }, upstream: 'up' }]);
    expect(diffSpecs(s, s, new Map([['http://127.0.0.1:3001', false]]))).toEqual([]);
  });

  it('error/removing authentication from a route is risky', () => {
    const before = spec([{ name: 'a', match: { pathPrefix: '/a' }, upstream: 'up', auth: allow('spiffe://td/ns/x') }]);
    const after = spec([{ name: 'a', match: { pathPrefix: '/a' }, upstream: 'up' }]);
    expect(diffSpecs(before, after).filter((c) => c.risky).map((c) => c.detail)).toEqual(['authentication removed: open to every client']);
  });

  it('ok/narrowing a wildcard, or a wildcard inside an existing one, is not risky', () => {
    const before = spec([{ name: 'a', match: { pathPrefix: '/a' }, upstream: 'up', auth: allow('spiffe://td/ns/*') }]);
    const after = spec([{ name: 'a', match: { pathPrefix: '/a' }, upstream: 'up', auth: allow('spiffe://td/ns/prod/*') }]);
    const changes = diffSpecs(before, after);
    expect(changes.some((c) => c.risky)).toBe(false);
    expect(changes.map((c) => c.detail)).toContain('gains spiffe://td/ns/prod/*');
  });

  it('error/moving a route onto a pool whose targets are all down is risky; unknown health is not', () => {
    const pools = { up: { targets: [{ url: 'http://127.0.0.1:3001' }] }, down: { targets: [{ url: 'http://127.0.0.1:3002' }] } };
    const before = spec([{ name: 'a', match: { pathPrefix: '/a' }, upstream: 'up' }], pools);
    const after = spec([{ name: 'a', match: { pathPrefix: '/a' }, upstream: 'down' }], pools);
    const health = new Map([['http://127.0.0.1:3001', true], ['http://127.0.0.1:3002', false]]);
    expect(diffSpecs(before, after, health).filter((c) => c.risky)).toHaveLength(1);
    expect(diffSpecs(before, after, new Map()).filter((c) => c.risky)).toHaveLength(0);
  });
});
