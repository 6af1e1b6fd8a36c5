/**
 * The gateway's own serving certificate (issued by the built-in CA when tls.cert is absent) renews at
 * 2/3 of its lifetime through setSecureContext: under a concurrent load over kept-alive h1, h2 and
 * fresh connections, no request fails, and a new handshake afterwards sees the new certificate.
 */
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { h1, h1Agent, h2, h2Session } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';
import { handshake, RELAXED_GUARD } from './support.js';

describe('serving certificate rotation under load', () => {
  let up: TestUpstream;
  let t: TestGateway;

  beforeAll(async () => {
    up = await startUpstream('app');
    // A 6 s lifetime: renewal is due 4 s after start, with 2 s to spare on a loaded machine.
    t = await startTestGateway(
      {
        ca: { dir: './ca', workloadTTL: '6s' },
        routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'app' }],
        upstreams: { app: { targets: [{ url: up.url }] } },
      },
      { edgeGuard: RELAXED_GUARD },
    );
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  it('ok/zero failed requests across the renewal; new handshakes see the new serial, old connections keep working', async () => {
    const before = await handshake(t.gw.publicPort, t.rootPem);
    const notAfterBefore = t.gw.tls.certificates().serving?.notAfter;
    const results = { ok: 0, failed: [] as string[], fresh: 0 };
    let stop = false;

    const keepAlive = h1Agent({ ca: t.rootPem }, { connections: 4 });
    const session = await h2Session(t.url, { ca: t.rootPem, servername: 'localhost' });
    // A fresh connection (and so a full handshake) per request, without session resumption.
    const fresh = new Agent({ connect: { ca: t.rootPem, servername: 'localhost', maxCachedSessions: 0 }, pipelining: 0 });
    const record = (status: number, what: string): void => {
      if (status === 200) results.ok++;
      else results.failed.push(`${what}: ${status}`);
    };
    const loop = async (what: string, one: () => Promise<number>): Promise<void> => {
      for (let i = 0; !stop && i < 100_000; i++) {
        try {
          record(await one(), what);
        } catch (err) {
          results.failed.push(`${what}: ${(err as Error).message}`);
        }
      }
    };
    const loops = [
      ...[0, 1, 2, 3].map((n) => loop(`h1-${n}`, async () => (await h1(keepAlive, `${t.url}/k${n}`)).status)),
      ...[0, 1, 2].map((n) => loop(`h2-${n}`, async () => (await h2(session, `/s${n}`)).status)),
      loop('fresh', async () => {
        const res = await request(`${t.url}/fresh`, { dispatcher: fresh, reset: true });
        await res.body.text();
        results.fresh++;
        return res.statusCode;
      }),
    ];
    try {
      await waitFor(() => t.logs.find({ msg: 'gateway certificate issued' }).length > 0, { timeoutMs: 15_000, intervalMs: 50, what: 'rotation' });
      // Keep the load going a little past the swap.
      const okAtSwap = results.ok;
      await waitFor(() => results.ok > okAtSwap + 50, { timeoutMs: 10_000, what: 'requests after the rotation' });
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    const after = await handshake(t.gw.publicPort, t.rootPem, { alpn: ['h2', 'http/1.1'] });
    // The h2 session opened before the rotation still serves.
    const late = await h2(session, '/late');
    session.close();
    await keepAlive.close();
    await fresh.close();

    expect(results.failed).toEqual([]);
    expect(results.ok).toBeGreaterThan(100);
    expect(results.fresh).toBeGreaterThan(5);
    expect(after.serial).not.toBe(before.serial);
    expect(after.alpn).toBe('h2');
    expect(late.status).toBe(200);
    expect(t.gw.tls.certificates().serving?.notAfter).not.toBe(notAfterBefore);
    const issued = await t.gw.tls.authority.list();
    expect(issued.find((c) => c.serial === after.serial)?.spiffeId).toBe('spiffe://tollgate.local/tollgate');
  }, 30_000);
});
