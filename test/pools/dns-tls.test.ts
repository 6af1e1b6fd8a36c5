/**
 * An https:// target named by host: the gateway dials the resolved address but speaks TLS to the name
 * (SNI, certificate check against the name, not the address), for requests and health probes alike,
 * presenting its workload certificate (`tls.identity: workload`).
 */
import { webcrypto } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { h1, h1Agent } from '../support/clients.js';
import { startDnsmasq, type Dnsmasq } from '../support/dnsmasq.js';
import { waitFor } from '../support/wait.js';
import { upstreamStatus } from './support.js';

async function keyPair(): Promise<{ publicKey: webcrypto.CryptoKey; keyPem: string }> {
  const pair = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return { publicKey: pair.publicKey, keyPem: `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n` };
}

describe('pools: an https target resolved from DNS', () => {
  let dir: string;
  let dns: Dnsmasq;
  let t: TestGateway;
  let server: HttpsServer;
  let agent: Agent;
  const seen: { path: string; sni: string; peer: string }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-dnstls-'));
    dns = await startDnsmasq(dir);
    await dns.setHosts({ 'secure.test': ['127.0.0.2'] });
    // The gateway first: it owns the CA that issues the upstream's certificate.
    t = await startTestGateway({ routes: [], upstreams: {} });
    const { publicKey, keyPem } = await keyPair();
    // Named secure.test only: an address-based check (no SNI, IP SAN) would refuse it.
    const issued = await t.gw.tls.authority.issue({ id: `spiffe://${t.gw.tls.authority.trustDomain}/secure`, dns: ['secure.test'], ip: [], ttlMs: 3_600_000, publicKey });
    server = createHttpsServer({ cert: issued.chainPem, key: keyPem, ca: t.rootPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const socket = req.socket as TLSSocket;
      const san = socket.getPeerCertificate().subjectaltname ?? '';
      seen.push({ path: req.url ?? '', sni: String((socket as TLSSocket & { servername?: string }).servername), peer: /URI:([^,]+)/.exec(san)?.[1] ?? '' });
      res.end('secure');
    });
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.2', () => resolve((server.address() as AddressInfo).port)));
    await t.writeConfig({
      dns: { servers: [dns.server], minInterval: '200ms' },
      routes: [{ name: 'secure', match: { pathPrefix: '/secure' }, upstream: 'secure' }],
      upstreams: {
        secure: {
          tls: { identity: 'workload' },
          targets: [{ url: `https://secure.test:${port}` }],
          healthCheck: { path: '/healthz', interval: '100ms', timeout: '2s', healthyThreshold: 1, unhealthyThreshold: 3 },
        },
      },
    });
    expect(await t.gw.reload()).toMatchObject({ result: 'success' });
    agent = h1Agent({ ca: t.rootPem });
  });

  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await dns?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('ok/requests and probes reach the address with the name as SNI and verified certificate name', async () => {
    await waitFor(() => seen.filter((s) => s.path === '/healthz').length >= 2, { timeoutMs: 10_000, what: 'two health probes' });
    await waitFor(async () => (await upstreamStatus(t, 'secure')).targets.some((x) => x.healthy), { timeoutMs: 10_000, what: 'the target healthy' });
    const res = await h1(agent, `${t.url}/secure/x`);
    expect([res.status, res.body]).toEqual([200, 'secure']);
    const s = await upstreamStatus(t, 'secure');
    expect(s.targets.map((x) => [x.url, x.healthy])).toEqual([[expect.stringMatching(/^https:\/\/127\.0\.0\.2:\d+$/), true]]);
    const gatewayId = `spiffe://${t.gw.tls.authority.trustDomain}/tollgate`;
    expect(new Set(seen.map((x) => `${x.sni} ${x.peer}`))).toEqual(new Set([`secure.test ${gatewayId}`]));
  });
});
