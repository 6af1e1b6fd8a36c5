import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ConsoleModel } from './console-model.js';
import { CONSOLE_CSP, esc, renderConsoleBody, renderConsolePage, sparkline } from './console-page.js';

const EVIL = '<img src=x onerror="alert(1)">\'&';
const NOW = Date.parse('2026-12-07T12:00:00Z');

function model(over: Partial<ConsoleModel> = {}): ConsoleModel {
  return {
    version: '0.1.0',
    generatedAt: NOW,
    configHash: 'sha256:abcdef0123456789abcdef',
    loadedAt: '2026-12-07T11:00:00.000Z',
    generation: 3,
    draining: false,
    sampleIntervalMs: 5000,
    routes: [{ name: 'api', upstreams: ['api'], rates: { requests: 12.5, errors: 0.5, rejected: 1 }, series: { requests: [1, 5, 12.5], errors: [0, 0, 0.5], rejected: [0, 1, 1] } }],
    pools: [
      {
        name: 'api',
        balance: 'round-robin',
        activeTier: 'backup',
        tierHistory: [{ at: NOW - 60_000, tier: 'primary' }, { at: NOW - 1000, tier: 'backup' }],
        breaker: { maxConnections: 10, maxPendingRequests: 5, active: 10, pending: 5, rejected: 7, open: true },
        retryBudget: 10,
        targets: [
          { url: 'http://127.0.0.1:1', tier: 'primary', state: 'down', ups: 0, downs: 1, history: [{ at: NOW - 60_000, state: 'up' }, { at: NOW - 1000, state: 'down' }], ejectedUntil: null, ejections: 0, inFlight: 0, ewmaMs: 1.5 },
          { url: 'http://127.0.0.1:2', tier: 'backup', state: 'up', ups: 0, downs: 0, history: [], ejectedUntil: null, ejections: 2, inFlight: 1, ewmaMs: 3 },
        ],
      },
    ],
    identities: { top: [{ id: `spiffe://td/${EVIL}`, requests: 9, quota: { route: 'api', used: 3, limit: 10 } }], tracked: 1, overflowRequests: 4 },
    certificates: [
      { name: 'workload', notAfter: new Date(NOW + 3_600_000).toISOString() },
      { name: 'root', notAfter: new Date(NOW + 3650 * 86_400_000).toISOString() },
      { name: 'old', notAfter: new Date(NOW - 1000).toISOString() },
    ],
    reloads: [{ at: '2026-12-07T11:59:00.000Z', result: 'failure', error: `routes[1].upstream: unknown upstream "${EVIL}"`, configHash: 'sha256:abc' }],
    ...over,
  };
}

describe('console page', () => {
  it('ok/esc escapes the five HTML specials', () => {
    expect(esc(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('error/user data (identities, reload errors, overrides) never appears unescaped', () => {
    const by = { address: EVIL, auth: 'none' as const };
    const html = renderConsolePage(
      model({
        overrides: [
          { kind: 'target', upstream: EVIL, target: EVIL, state: 'drain', reason: EVIL, by, at: EVIL, applied: false },
          { kind: 'tier', upstream: EVIL, tier: 'backup', reason: null, by, at: EVIL, applied: true },
        ],
      }),
      2000,
    );
    expect(html).not.toContain('<img');
    expect(html).not.toContain('onerror="');
    expect(html).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;');
    expect(html).toContain('<h2>Runtime overrides</h2>');
    // The only script is ours.
    expect(html.match(/<script/g)).toHaveLength(1);
  });

  it('ok/the snapshot shows tier, target states, ups/downs, breaker, quota use, cert expiry and reload errors', () => {
    const body = renderConsoleBody(model());
    expect(body).toContain('data-pool="api" data-active-tier="backup"');
    expect(body).toContain('serving: backup');
    expect(body).toMatch(/data-target="http:\/\/127\.0\.0\.1:1" data-state="down"/);
    expect(body).toContain('11:59:59 backup');
    expect(body).toMatch(/circuit breaker <span class="badge bad">open<\/span> active 10\/10, pending 5\/5, rejected 7/);
    expect(body).toContain('3 / 10 <span class="muted">(api)</span>');
    expect(body).toContain('4 requests from identities beyond the 1 tracked');
    expect(body).toMatch(/data-cert="old">.*expired/);
    expect(body).toMatch(/data-cert="workload">.*1\.0 h/);
    expect(body).toMatch(/data-cert="root">.*3650 days/);
    expect(body).toContain('data-result="failure"');
    expect(body).not.toContain('Runtime overrides');
  });

  it('ok/empty states read as such', () => {
    const body = renderConsoleBody(model({ routes: [], pools: [], identities: { top: [], tracked: 0, overflowRequests: 0 }, certificates: [], reloads: [] }));
    expect(body).toContain('no routes');
    expect(body).toContain('no pools');
    expect(body).toContain('no reloads since start');
  });

  it('ok/sparkline: one polyline per series scaled to the common peak; fewer than two points draw none', () => {
    const svg = sparkline([{ values: [0, 5, 10], color: '#00f' }, { values: [10], color: '#f00' }], 100, 20);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('points="0.0,19.0 50.0,10.0 100.0,1.0"');
    expect(svg).toContain('points="100.0,1.0"'); // a short series is right-aligned
    expect(svg).toContain('peak 10/s');
    expect(sparkline([{ values: [3], color: '#00f' }])).not.toContain('<polyline');
  });

  it('ok/the CSP allows exactly the inline script by its hash and nothing from elsewhere', () => {
    const html = renderConsolePage(model(), 2000);
    const script = /<script>([\s\S]*)<\/script>/.exec(html)?.[1] ?? '';
    const hash = createHash('sha256').update(script).digest('base64');
    expect(CONSOLE_CSP).toContain(`script-src 'sha256-${hash}'`);
    expect(CONSOLE_CSP).toContain("default-src 'none'");
    expect(html).not.toMatch(/(src|href)="https?:/);
    expect(html).toContain('<noscript><meta http-equiv="refresh" content="2"></noscript>');
  });

  it('ok/operator overrides: a badge on the target, the forced tier on the pool, and a table of who set what', () => {
    const m = model();
    const pool = m.pools[0];
    if (pool === undefined) throw new Error('no pool');
    const target = pool.targets[0];
    if (target === undefined) throw new Error('no target');
    const body = renderConsoleBody({
      ...m,
      pools: [{ ...pool, forcedTier: 'backup', targets: [{ ...target, override: 'drain' }, ...pool.targets.slice(1)] }],
      overrides: [
        { kind: 'target', upstream: 'api', target: target.url, state: 'drain', reason: 'deploy 42', by: { address: '127.0.0.1', auth: 'token' }, at: '2026-12-07T12:00:00.000Z', applied: true },
        { kind: 'tier', upstream: 'api', tier: 'backup', reason: null, by: { address: '::1', auth: 'none' }, at: '2026-12-07T12:01:00.000Z', applied: true },
      ],
    });
    expect(body).toContain(`data-override="drain"`);
    expect(body).toContain('draining (override)');
    expect(body).toContain('tier forced: backup');
    expect(body).toMatch(/127\.0\.0\.1 <span class="muted">with token<\/span><\/td><td>2026-12-07T12:00:00\.000Z<\/td><td>deploy 42/);
    expect(renderConsoleBody({ ...m, overrides: [] })).toContain('<div id="overrides"><p class="muted">none');
  });
});
