/**
 * The live console in a real browser (Debian chromium driven by playwright-core): a pool of one primary
 * and one backup; the primary is stopped (its health check marks it down) and the page shows the pool
 * serving from the backup; the primary is restarted on its port and the page shows it back; a refused
 * reload shows in the reload history with its error. With JavaScript off the same page is a readable
 * snapshot. Screenshots go to test-artifacts/ (git-ignored).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { ok, startUpstream, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent } from '../support/clients.js';
import { waitFor } from '../support/wait.js';
import { workload } from '../identity/support.js';

const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts');
/** Generous: health checks, the page's polling and chromium itself all run on a loaded 2-core machine. */
const DOM_TIMEOUT_MS = 30_000;
/** Above DOM_TIMEOUT_MS, so a slow wait fails with its own message rather than the test's timeout. */
const TEST_TIMEOUT_MS = 90_000;

const BILLING = 'spiffe://tollgate.local/billing';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function config(extraRoutes: Record<string, unknown>[] = []): Record<string, unknown> {
  return {
    admin: { host: '127.0.0.1', port: 0, console: { sampleInterval: '1s', samples: 30 } },
    routes: [{ name: 'api', match: { pathPrefix: '/api' }, upstream: 'api', quota: { limit: 100000, per: '1d', by: 'ip' } }, ...extraRoutes],
    upstreams: {
      api: {
        targets: [{ url: `http://127.0.0.1:${primaryPort}` }],
        backups: [{ url: `http://127.0.0.1:${backupPort}` }],
        healthCheck: { path: '/healthz', interval: '100ms', timeout: '3s', healthyThreshold: 2, unhealthyThreshold: 2 },
      },
    },
  };
}

let primaryPort = 0;
let backupPort = 0;

describe('admin console in a browser', () => {
  let primary: TestUpstream;
  let backup: TestUpstream;
  let t: TestGateway;
  let agent: Agent;
  let browser: Browser;
  let page: Page;
  const outsideRequests: string[] = [];
  const pageErrors: string[] = [];
  let traffic: NodeJS.Timeout | undefined;
  let sent = 0;
  const served: Record<string, number> = {};

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    primary = await startUpstream('primary', () => ok());
    backup = await startUpstream('backup', () => ok());
    primaryPort = primary.port;
    backupPort = backup.port;
    t = await startTestGateway(config());
    agent = h1Agent({ ca: t.rootPem });
    // Background traffic, bounded in count: the sparklines and the identity table get something to show.
    traffic = setInterval(() => {
      if (sent >= 2000) return;
      sent++;
      h1(agent, `${t.url}/api/x`).then(
        (r) => {
          const who = String(r.headers['x-upstream'] ?? r.status);
          served[who] = (served[who] ?? 0) + 1;
        },
        () => undefined,
      );
    }, 50);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    page.on('request', (req) => {
      if (!req.url().startsWith(t.adminUrl) && !req.url().startsWith('data:')) outsideRequests.push(req.url());
    });
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    if (traffic !== undefined) clearInterval(traffic);
    await browser?.close();
    await agent?.close();
    await t?.stop();
    await Promise.all([primary?.close(), backup?.close()]);
  }, TEST_TIMEOUT_MS);

  const poolAttr = (name: string): Promise<string | null> => page.locator('[data-pool="api"]').getAttribute(name);
  const targetState = (port: number): Promise<string | null> => page.locator(`[data-pool="api"] tr[data-target="http://127.0.0.1:${port}"]`).getAttribute('data-state');

  it('ok/the page renders the pool on its primary tier and updates itself (script allowed by the CSP)', async () => {
    // A client with a workload certificate: its SPIFFE id is counted as an identity of its own.
    const billing = await workload(t.gw.tls.authority, BILLING);
    const mtls = h1Agent({ ca: t.rootPem, cert: billing.cert, key: billing.key }, { connections: 1 });
    try {
      for (let i = 0; i < 7; i++) expect((await h1(mtls, `${t.url}/api/billing`)).status).toBe(200);
    } finally {
      await mtls.close();
    }
    const res = await page.goto(`${t.adminUrl}/`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'none'");
    expect(await poolAttr('data-active-tier')).toBe('primary');
    expect(await targetState(primaryPort)).toBe('up');
    expect(await targetState(backupPort)).toBe('up');
    // The inline script ran (a CSP refusal would leave "static snapshot") and a poll replaced the body.
    await waitFor(async () => (await page.locator('#live').textContent()) === 'live', { timeoutMs: DOM_TIMEOUT_MS, what: 'the script to start' });
    const first = await page.locator('#meta').textContent();
    await waitFor(async () => (await page.locator('#meta').textContent()) !== first, { timeoutMs: DOM_TIMEOUT_MS, what: 'a refresh' });
    // Rates appear once the sampler has two samples and traffic flows.
    await waitFor(async () => Number(await page.locator('tr[data-route="api"] [data-k="requests"]').textContent()) > 0, {
      timeoutMs: DOM_TIMEOUT_MS,
      what: 'a request rate for route api',
    });
    expect(await page.locator('tr[data-identity="anonymous"]').count()).toBe(1);
    expect(await page.locator(`tr[data-identity="${BILLING}"] td`).allTextContents()).toEqual([BILLING, '7', expect.stringMatching(/^\d+ \/ 100000 \(api\)$/)]);
    expect(await page.locator('tr[data-identity="anonymous"]').textContent()).toMatch(/\d+ \/ 100000 \(api\)/);
    expect(await page.locator('#certificates tr[data-cert]').count()).toBeGreaterThanOrEqual(3);
    expect(await page.locator('tr[data-cert="root"]').textContent()).toMatch(/\d+ days/);
  }, TEST_TIMEOUT_MS);

  it('ok/primary stopped: the DOM shows it down and the pool failed over to the backup; screenshot saved', async () => {
    await primary.close();
    await waitFor(async () => (await poolAttr('data-active-tier')) === 'backup', { timeoutMs: DOM_TIMEOUT_MS, what: 'the page to show the backup tier' });
    expect(await targetState(primaryPort)).toBe('down');
    expect(await targetState(backupPort)).toBe('up');
    expect(await page.locator('[data-pool="api"] [data-k="tier"]').textContent()).toBe('serving: backup');
    expect(await page.locator('[data-pool="api"] [data-k="tier-history"]').textContent()).toMatch(/primary → .*backup/);
    // Traffic really moved: the backup answers now.
    const before = served.backup ?? 0;
    await waitFor(() => (served.backup ?? 0) > before + 3, { timeoutMs: DOM_TIMEOUT_MS, what: 'the backup to take traffic' });
    await page.screenshot({ path: join(ARTIFACTS, 'console-failover.png'), fullPage: true });
  }, TEST_TIMEOUT_MS);

  it('ok/primary restarted on its port: the DOM shows it up again and the pool back on its primaries', async () => {
    primary = await startUpstream('primary', () => ok(), { port: primaryPort });
    await waitFor(async () => (await poolAttr('data-active-tier')) === 'primary', { timeoutMs: DOM_TIMEOUT_MS, what: 'the page to show the primary tier again' });
    expect(await targetState(primaryPort)).toBe('up');
    const row = page.locator(`tr[data-target="http://127.0.0.1:${primaryPort}"]`);
    // One down and one up in its counts and history.
    expect(await row.locator('td').nth(3).textContent()).toBe('1 / 1');
    expect(await row.locator('.dot').allTextContents()).toEqual([expect.stringMatching(/ up$/), expect.stringMatching(/ down$/), expect.stringMatching(/ up$/)]);
    expect(await page.locator('[data-pool="api"] [data-k="tier-history"]').textContent()).toMatch(/primary → .*backup → .*primary/);
  }, TEST_TIMEOUT_MS);

  it('error/a refused reload shows in the reload history with its error; the running config stays', async () => {
    await t.writeConfig(config([{ name: 'ghost', match: { pathPrefix: '/ghost' }, upstream: 'no-such-pool' }]));
    const res = await fetch(`${t.adminUrl}/reload`, { method: 'POST' });
    expect(res.status).toBe(422);
    const failed = page.locator('#reload-history tr[data-result="failure"]');
    await waitFor(async () => (await failed.count()) === 1, { timeoutMs: DOM_TIMEOUT_MS, what: 'the refused reload in the history' });
    expect(await failed.locator('.err').textContent()).toContain('no-such-pool');
    expect(await page.locator('tr[data-route="ghost"]').count()).toBe(0);
    expect(await poolAttr('data-active-tier')).toBe('primary');
    await page.screenshot({ path: join(ARTIFACTS, 'console-reload-refused.png'), fullPage: true });
  }, TEST_TIMEOUT_MS);

  it('ok/with JavaScript off the page is a readable snapshot of the same state', async () => {
    const ctx = await browser.newContext({ javaScriptEnabled: false });
    try {
      const p = await ctx.newPage();
      await p.goto(`${t.adminUrl}/`);
      expect(await p.locator('#live').textContent()).toBe('static snapshot');
      expect(await p.locator('[data-pool="api"]').getAttribute('data-active-tier')).toBe('primary');
      expect(await p.locator('#reload-history tr[data-result="failure"] .err').textContent()).toContain('no-such-pool');
      expect(await p.locator('noscript').count()).toBe(1);
    } finally {
      await ctx.close();
    }
  }, TEST_TIMEOUT_MS);

  it('ok/the page asked nothing of any other origin and logged no errors', () => {
    expect(outsideRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, TEST_TIMEOUT_MS);
});
