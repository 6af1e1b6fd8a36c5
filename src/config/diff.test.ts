import { describe, expect, it } from 'vitest';
import { GatewaySpec } from '../spec/schema.js';
import { diffSpecs, pendingRestart, RESTART_ONLY_KEYS } from './diff.js';

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

describe('pendingRestart', () => {
  const base = GatewaySpec.parse({});
  it('ok/nothing pending when only live keys change', () => {
    const next = GatewaySpec.parse({ trustedProxies: ['10.0.0.0/8'], tls: { serverNames: ['a.example'] }, limits: { maxConcurrentStreams: 7, headersTimeout: '3s', newConnectionsPerIp: { count: 5 } }, ca: { workloadTTL: '1h', maxTTL: '2h' } });
    expect(pendingRestart(base, next)).toEqual([]);
  });
  it('ok/each restart-only change is named by its YAML path, in a fixed order', () => {
    const next = GatewaySpec.parse({
      workers: 2,
      listen: { port: 9443, proxyProtocol: true },
      redirectHttp: { port: 8080 },
      admin: { allowedHosts: ['gw.internal'] },
      ca: { trustDomain: 'other.local' },
      limits: { newConnectionsPerIp: { count: 5 } },
    });
    expect(pendingRestart(base, next)).toEqual([
      'listen.port',
      'listen.proxyProtocol',
      'redirectHttp.port',
      'workers',
      'admin.allowedHosts',
      'ca.trustDomain',
    ]);
  });
  it('ok/a change reverted before the restart is no longer pending', () => {
    expect(pendingRestart(base, GatewaySpec.parse({ listen: { port: 8443 } }))).toEqual([]);
  });
  it('ok/every restart-only key names a value of the parsed config (no typo hides a change)', () => {
    const full = GatewaySpec.parse({ redirectHttp: { port: 8080 } }) as unknown as Record<string, unknown>;
    for (const k of RESTART_ONLY_KEYS) {
      const v = k.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown> | undefined)?.[p], full);
      expect(v, k).not.toBeUndefined();
    }
  });
});
