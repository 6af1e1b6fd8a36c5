/**
 * Renewal by client certificate is limited per identity (issue 17): only in the last `ca.renewal.window`
 * of the current certificate's lifetime, and at most `ca.renewal.maxPerHour` per identity; `ca revoke
 * --id` revokes every unexpired certificate of an id, renewed ones included. Real TLS, gateway clock mocked.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuthority } from '../../src/ca/authority.js';
import { runCa, type CliContext } from '../../src/cli/commands/ca.js';
import { ManualClock, systemClock } from '../../src/core/clock.js';
import { h1, h1Agent, type SimpleResponse } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { opensslCsr } from '../ca/support.js';
import { RELAXED_GUARD, workload, type Workload } from './support.js';

const WEB = 'spiffe://tollgate.local/web';
const PREFIX = '/.well-known/tollgate/ca';
const HOUR = 3_600_000;

describe('CA API renewal limits', () => {
  let up: TestUpstream;
  let t: TestGateway;
  const clock = new ManualClock(Date.now());
  let csr: string;

  beforeAll(async () => {
    up = await startUpstream('app');
    t = await startTestGateway(
      {
        ca: { dir: './ca', renewal: { maxPerHour: 2 } },
        routes: [{ name: 'protected', match: { pathPrefix: '/protected' }, upstream: 'app', auth: { mtls: { allow: [WEB] } } }],
        upstreams: { app: { targets: [{ url: up.url }] } },
      },
      { clock, edgeGuard: RELAXED_GUARD },
    );
    csr = await readFile((await opensslCsr(t.dir, 'renew', `URI:${WEB}`)).csrPath, 'utf8');
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  async function renew(w: Workload): Promise<SimpleResponse> {
    const agent = h1Agent({ ca: t.rootPem, cert: w.cert, key: w.key }, { connections: 1 });
    try {
      return await h1(agent, `${t.url}${PREFIX}/sign`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ csr }) });
    } finally {
      await agent.close();
    }
  }
  const codeOf = (r: SimpleResponse): string | undefined => (JSON.parse(r.body) as { error?: { code?: string } }).error?.code;

  it('error/too early: a fresh certificate cannot renew (403 with the opening time); ok in its last third', async () => {
    const w = await workload(t.gw.tls.authority, WEB, { ttlMs: 3 * HOUR });
    const early = await renew(w);
    expect(early.status).toBe(403);
    expect(early.body).toMatch(/renewal opens at/);
    clock.advance(2 * HOUR + 60_000);
    expect((await renew(w)).status).toBe(201);
  });

  it('error/more than maxPerHour renewals of one identity: 429 RATE_LIMITED; another identity is unaffected; an hour later ok', async () => {
    // Issued on the real clock (node checks validity with it); the gateway clock is 2 h ahead by now.
    const real = await openAuthority(join(t.dir, 'ca'), { clock: systemClock });
    const w = await workload(real, WEB, { ttlMs: 3 * HOUR });
    expect((await renew(w)).status).toBe(201); // the second of this hour (one in the case above)
    const third = await renew(w);
    expect(third.status).toBe(429);
    expect(codeOf(third)).toBe('RATE_LIMITED');
    clock.advance(HOUR);
    const later = await workload(real, WEB, { ttlMs: 4 * HOUR });
    expect((await renew(later)).status).toBe(201);
  });

  it('ok/CA API requests are in the access log (route "ca", status, code)', () => {
    const lines = t.logs.lines.filter((l) => l.msg === 'request' && l.route === 'ca');
    expect(lines).toContainEqual(expect.objectContaining({ method: 'POST', path: `${PREFIX}/sign`, status: 201 }));
    expect(lines).toContainEqual(expect.objectContaining({ status: 403, code: 'FORBIDDEN' }));
    expect(lines).toContainEqual(expect.objectContaining({ status: 429, code: 'RATE_LIMITED' }));
  });

  it('ok/expired records are pruned from issued.json at the next issue', async () => {
    const ca = t.gw.tls.authority;
    const short = await workload(ca, 'spiffe://tollgate.local/short', { ttlMs: 60_000 });
    const issuedPath = join(t.dir, 'ca', 'issued.json');
    const serials = async (): Promise<string[]> => (JSON.parse(await readFile(issuedPath, 'utf8')) as { certificates: { serial: string }[] }).certificates.map((c) => c.serial);
    expect(await serials()).toContain(short.serial);
    clock.advance(2 * 60_000);
    const next = await workload(ca, 'spiffe://tollgate.local/next', { ttlMs: 48 * HOUR });
    expect(await serials()).not.toContain(short.serial);
    expect(await serials()).toContain(next.serial);
  });

  it('ok/`ca revoke --id` revokes every unexpired certificate of the identity; others stay', async () => {
    const ca = t.gw.tls.authority;
    const a = await workload(ca, 'spiffe://tollgate.local/batch', { ttlMs: 48 * HOUR });
    const b = await workload(ca, 'spiffe://tollgate.local/batch', { ttlMs: 48 * HOUR });
    const other = await workload(ca, WEB, { ttlMs: 48 * HOUR });
    let out = '';
    const ctx: CliContext = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, clock: systemClock };
    expect(await runCa(['revoke', '--id', 'spiffe://tollgate.local/batch', '--dir', join(t.dir, 'ca'), '--reason', 'decommissioned'], ctx)).toBe(0);
    expect(out).toContain(`revoked ${a.serial}`);
    expect(out).toContain(`revoked ${b.serial}`);
    await ca.reloadState();
    expect(ca.isRevoked(a.serial) && ca.isRevoked(b.serial)).toBe(true);
    expect(ca.isRevoked(other.serial)).toBe(false);
  });
});
