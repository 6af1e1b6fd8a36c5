/**
 * ACME end to end against a real ACME server (Debian's pebble, started here on loopback, its DNS a
 * local dnsmasq answering 127.0.0.1 for example.test): the gateway orders a certificate with http-01
 * (answered by its redirectHttp listener), serves it by SNI without a restart, stores it 0600, renews
 * it at 2/3 of its lifetime (ManualClock + ManualScheduler), and loads the stored one on the next start.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { ManualClock } from '../../src/core/clock.js';
import { ManualScheduler } from '../../src/core/scheduler.js';
import { acmeRenewAt } from '../../src/control/acme.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { freePort, startPebble, type Pebble } from '../support/pebble.js';
import { waitFor } from '../support/wait.js';
import { RELAXED_GUARD } from '../identity/support.js';

const NAMES = ['shop.example.test', 'www.example.test'];

/** The leaf served for `servername`, verified against `ca` (pebble's root) by node's client. */
function served(port: number, ca: string, servername: string): Promise<{ serial: string; authorized: boolean }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername, ALPNProtocols: ['http/1.1'] });
    s.once('secureConnect', () => {
      const r = { serial: s.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, ''), authorized: s.authorized };
      s.destroy();
      resolve(r);
    });
    s.once('error', reject);
  });
}

function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber.toLowerCase().replace(/^0+/, '');
}

describe('ACME with pebble', () => {
  let dir: string;
  let pebble: Pebble;
  let up: TestUpstream;
  let t: TestGateway | undefined;
  let httpPort: number;
  let config: Record<string, unknown>;
  const clock = new ManualClock(Date.now());
  const scheduler = new ManualScheduler(clock);
  let first: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-acme-'));
    httpPort = await freePort();
    pebble = await startPebble(dir, { httpPort });
    up = await startUpstream('up');
    config = {
      redirectHttp: { port: httpPort },
      routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'up' }],
      upstreams: { up: { targets: [{ url: up.url }] } },
      tls: { acme: { directory: pebble.directory, email: 'ops@example.test', names: NAMES, storage: './acme', directoryCA: pebble.tlsCertFile } },
    };
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    await up?.close();
    await pebble?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('ok/a certificate is obtained from pebble over http-01 and served by SNI without a restart', async () => {
    t = await startTestGateway(config, { dir, clock, acmeScheduler: scheduler, edgeGuard: RELAXED_GUARD, ports: { public: 0, admin: 0, redirect: httpPort } });
    await t.gw.tls.acme?.ready;
    expect(t.logs.find({ msg: 'ACME order failed; retrying later' }).map((l) => l.err)).toEqual([]);
    const stored = await readFile(join(dir, 'acme', 'cert.pem'), 'utf8');
    first = serialOf(stored);
    const root = await pebble.root();
    for (const name of NAMES) {
      const r = await waitFor(async () => {
        const s = await served(t!.gw.publicPort, root, name);
        return s.serial === first ? s : undefined;
      }, { timeoutMs: 15_000, what: `the ACME certificate for ${name}` });
      expect(r.authorized).toBe(true);
    }
    // other names still get the built-in certificate
    await expect(served(t.gw.publicPort, root, 'localhost')).rejects.toThrow();
    for (const f of ['cert.pem', 'key.pem', 'account.key']) expect(((await stat(join(dir, 'acme', f))).mode & 0o777).toString(8), f).toBe('600');
    const status = (await (await fetch(`${t.adminUrl}/status`)).json()) as { certificates: Record<string, { notAfter: string; serverNames?: string[] }> };
    expect(status.certificates['acme:shop.example.test']).toMatchObject({ serverNames: NAMES, notAfter: new Date(new X509Certificate(stored).validTo).toISOString() });
    const metrics = await (await fetch(`${t.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/tollgate_certificate_expiry_timestamp_seconds\{cert="acme:shop\.example\.test"\} \d+/);
  }, 90_000);

  it('ok/renewed at 2/3 of its lifetime, not before, and served without a restart', async () => {
    const gw = t!;
    const leaf = new X509Certificate(await readFile(join(dir, 'acme', 'cert.pem'), 'utf8'));
    const due = acmeRenewAt(new Date(leaf.validFrom), new Date(leaf.validTo));
    scheduler.advance(due - clock.now() - 3_600_000);
    const root = await pebble.root();
    expect((await served(gw.gw.publicPort, root, NAMES[0] as string)).serial).toBe(first);
    expect(gw.logs.find({ msg: 'ACME certificate obtained' })).toHaveLength(1);
    scheduler.advance(3_600_000 + 1_000);
    const renewed = await waitFor(async () => {
      const s = await served(gw.gw.publicPort, root, NAMES[1] as string);
      return s.serial !== first ? s : undefined;
    }, { timeoutMs: 60_000, what: 'the renewed certificate' });
    expect(renewed.authorized).toBe(true);
    expect(serialOf(await readFile(join(dir, 'acme', 'cert.pem'), 'utf8'))).toBe(renewed.serial);
    expect(gw.logs.find({ msg: 'ACME certificate obtained' })).toHaveLength(2);
    first = renewed.serial;
  }, 90_000);

  it('ok/the next start loads the stored certificate instead of ordering again', async () => {
    await t?.stop();
    // Back to real time: the clock above stands years ahead, where the renewed certificate is due too.
    const now = new ManualClock(Date.now());
    t = await startTestGateway(config, { dir, clock: now, acmeScheduler: new ManualScheduler(now), edgeGuard: RELAXED_GUARD, ports: { public: 0, admin: 0, redirect: httpPort } });
    await t.gw.tls.acme?.ready;
    expect(t.logs.find({ msg: 'ACME certificate loaded' })).toHaveLength(1);
    expect(t.logs.find({ msg: 'ACME certificate obtained' })).toHaveLength(0);
    expect((await served(t.gw.publicPort, await pebble.root(), NAMES[0] as string)).serial).toBe(first);
  }, 60_000);
});
