/**
 * ACME tls-alpn-01 (RFC 8737) end to end against pebble: pebble validates on the gateway's public
 * port (no redirectHttp listener at all), the certificate is then served by SNI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { ManualClock } from '../../src/core/clock.js';
import { ManualScheduler } from '../../src/core/scheduler.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { freePort, startPebble, type Pebble } from '../support/pebble.js';
import { waitFor } from '../support/wait.js';
import { RELAXED_GUARD } from '../identity/support.js';

const NAMES = ['alpn.example.test', 'www2.example.test'];

function served(port: number, ca: string, servername: string, ALPNProtocols: string[]): Promise<{ serial: string; authorized: boolean; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername, ALPNProtocols });
    s.once('secureConnect', () => {
      const r = { serial: s.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, ''), authorized: s.authorized, alpn: s.alpnProtocol };
      s.destroy();
      resolve(r);
    });
    s.once('error', reject);
  });
}

describe('ACME tls-alpn-01 with pebble', () => {
  let dir: string;
  let pebble: Pebble;
  let up: TestUpstream;
  let t: TestGateway | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-acme-alpn-'));
    const publicPort = await freePort();
    pebble = await startPebble(dir, { httpPort: await freePort(), tlsPort: publicPort });
    up = await startUpstream('up');
    const config = {
      routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'up' }],
      upstreams: { up: { targets: [{ url: up.url }] } },
      tls: { acme: { directory: pebble.directory, email: 'ops@example.test', names: NAMES, challenge: 'tls-alpn-01', storage: './acme', directoryCA: pebble.tlsCertFile } },
    };
    const clock = new ManualClock(Date.now());
    t = await startTestGateway(config, { dir, clock, acmeScheduler: new ManualScheduler(clock), edgeGuard: RELAXED_GUARD, ports: { public: publicPort, admin: 0 } });
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    await up?.close();
    await pebble?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('ok/a certificate is obtained over tls-alpn-01 on the public port and served by SNI', async () => {
    await t!.gw.tls.acme?.ready;
    expect(t!.logs.find({ msg: 'ACME order failed; retrying later' }).map((l) => l.err)).toEqual([]);
    expect(t!.logs.find({ msg: 'ACME certificate obtained' })).toHaveLength(1);
    const serial = new X509Certificate(await readFile(join(dir, 'acme', 'cert.pem'), 'utf8')).serialNumber.toLowerCase().replace(/^0+/, '');
    const root = await pebble.root();
    for (const name of NAMES) {
      const r = await waitFor(async () => {
        const s = await served(t!.gw.publicPort, root, name, ['h2', 'http/1.1']);
        return s.serial === serial ? s : undefined;
      }, { timeoutMs: 15_000, what: `the ACME certificate for ${name}` });
      expect(r).toMatchObject({ authorized: true, alpn: 'h2' });
    }
    // no challenge pending: acme-tls/1 alone goes to the ordinary listener, which does not speak it
    expect(t!.gw.tls.acme?.alpnPending()).toBe(false);
  }, 90_000);
});
