/**
 * Trust bundles per trust domain (SPIFFE): a partner CA listed in tls.clientCAs speaks only for the
 * trust domains it is declared with. Over real TLS (h1 and h2), with the partner CA made by openssl:
 * its certificate claiming our web workload's id is anonymous on every path (protected route, XFCC,
 * clientAuth: require, CA API renewal); its certificate in its own trust domain is accepted where an
 * allow-list names it; our workloads keep working across an intermediate rotation; revoking our
 * serial leaves the partner's certificate with the same serial alone.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuthority } from '../../src/ca/authority.js';
import { systemClock } from '../../src/core/clock.js';
import { h1, h1Agent, h2, h2Session, type ClientTls, type SimpleResponse } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type SeenRequest, type TestUpstream } from '../support/upstream.js';
import { openssl, opensslCsr } from '../ca/support.js';
import { sClient, httpGet } from './openssl.js';
import { RELAXED_GUARD, workload, type Workload } from './support.js';

const WEB = 'spiffe://tollgate.local/web';
const PARTNER_API = 'spiffe://partner.example/api';
const CA_PREFIX = '/.well-known/tollgate/ca';

interface PartnerCert {
  readonly cert: string;
  readonly key: string;
  readonly certPath: string;
  readonly keyPath: string;
}

/** A partner root CA made by openssl, in `dir`: partner-root.crt / .key. */
async function partnerRoot(dir: string): Promise<string> {
  const rootPath = join(dir, 'partner-root.crt');
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', join(dir, 'partner-root.key'), '-out', rootPath, '-days', '2', '-subj', '/CN=Partner Root',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return rootPath;
}

/** A client certificate from the partner root with one URI SAN and the given serial (hex). */
async function partnerLeaf(dir: string, name: string, uri: string, serialHex: string): Promise<PartnerCert> {
  const { keyPath, csrPath } = await opensslCsr(dir, name, `URI:${uri}`);
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, `subjectAltName=URI:${uri}\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n`);
  const certPath = join(dir, `${name}.crt`);
  await openssl([
    'x509', '-req', '-in', csrPath, '-CA', join(dir, 'partner-root.crt'), '-CAkey', join(dir, 'partner-root.key'),
    '-set_serial', `0x${serialHex}`, '-days', '1', '-out', certPath, '-extfile', ext,
  ]);
  return { cert: await readFile(certPath, 'utf8'), key: await readFile(keyPath, 'utf8'), certPath, keyPath };
}

async function once(proto: 'h1' | 'h2', url: string, tls: ClientTls, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<SimpleResponse> {
  if (proto === 'h1') {
    const agent = h1Agent(tls, { connections: 1 });
    try {
      return await h1(agent, `${url}${path}`, opts);
    } finally {
      await agent.close();
    }
  }
  const session = await h2Session(url, tls);
  try {
    return await h2(session, path, opts);
  } finally {
    session.close();
  }
}

function xfccOf(seen: SeenRequest | undefined): string[] {
  const out: string[] = [];
  if (seen === undefined) return out;
  for (let i = 0; i < seen.rawHeaders.length; i += 2) {
    if ((seen.rawHeaders[i] as string).toLowerCase() === 'x-forwarded-client-cert') out.push(seen.rawHeaders[i + 1] as string);
  }
  return out;
}

describe('trust domains bound to their anchors (clientAuth: optional)', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let web: Workload;
  let impostor: PartnerCert;
  let partner: PartnerCert;
  let twin: PartnerCert;
  let twinOf: Workload;
  const seq = { n: 0 };

  beforeAll(async () => {
    up = await startUpstream('app');
    t = await startTestGateway(
      {
        tls: { clientAuth: 'optional', clientCAs: [{ file: './partner-root.crt', trustDomains: ['partner.example'] }] },
        routes: [
          { name: 'protected', match: { pathPrefix: '/protected' }, upstream: 'app', auth: { mtls: { allow: [WEB] } } },
          { name: 'partner', match: { pathPrefix: '/partner' }, upstream: 'app', auth: { mtls: { allow: ['spiffe://partner.example/*', WEB] } } },
          { name: 'open', match: { pathPrefix: '/' }, upstream: 'app' },
        ],
        upstreams: { app: { targets: [{ url: up.url }] } },
      },
      { edgeGuard: RELAXED_GUARD, dir: await (async () => {
        const { mkdtemp } = await import('node:fs/promises');
        const { tmpdir } = await import('node:os');
        const d = await mkdtemp(join(tmpdir(), 'tollgate-td-'));
        await partnerRoot(d);
        return d;
      })() },
    );
    web = await workload(t.gw.tls.authority, WEB);
    twinOf = await workload(t.gw.tls.authority, WEB);
    impostor = await partnerLeaf(t.dir, 'impostor', WEB, 'a1b2c3d4');
    partner = await partnerLeaf(t.dir, 'partner', PARTNER_API, 'b1b2c3d4');
    twin = await partnerLeaf(t.dir, 'twin', PARTNER_API, twinOf.serial);
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  const tlsOf = (c: { cert: string; key: string }): ClientTls => ({ ca: t.rootPem, cert: c.cert, key: c.key });
  const reqId = (): string => `td-${++seq.n}`;

  for (const proto of ['h1', 'h2'] as const) {
    it(`error/${proto} a partner certificate claiming our trust domain is anonymous on a protected route (401)`, async () => {
      const res = await once(proto, t.url, tlsOf(impostor), '/protected/x');
      expect(res.status).toBe(401);
      expect((await once(proto, t.url, tlsOf(impostor), '/partner/x')).status).toBe(401);
    });

    it(`error/${proto} a partner certificate claiming our trust domain gets no XFCC URI on an open route`, async () => {
      const id = reqId();
      const res = await once(proto, t.url, tlsOf(impostor), '/open/x', { headers: { 'x-request-id': id } });
      expect(res.status).toBe(200);
      const xfcc = xfccOf(up.seen.find((s) => s.headers['x-request-id'] === id));
      expect(xfcc.join(',')).not.toContain('URI=');
    });

    it(`ok/${proto} a partner certificate in its declared trust domain passes an allow-list naming that domain, with its XFCC URI`, async () => {
      const id = reqId();
      const res = await once(proto, t.url, tlsOf(partner), '/partner/x', { headers: { 'x-request-id': id } });
      expect(res.status).toBe(200);
      expect(xfccOf(up.seen.find((s) => s.headers['x-request-id'] === id))[0]).toContain(`URI=${PARTNER_API}`);
      expect((await once(proto, t.url, tlsOf(partner), '/protected/x')).status).toBe(403);
    });

    it(`ok/${proto} our own workload is unaffected`, async () => {
      expect((await once(proto, t.url, tlsOf(web), '/protected/x')).status).toBe(200);
    });
  }

  it('ok/the refusal is logged with reason, id and issuer, and counted', async () => {
    await once('h1', t.url, tlsOf(impostor), '/protected/log');
    const line = t.logs.lines.find((l) => l.msg === 'client certificate refused an identity' && l.spiffeId === WEB);
    expect(line).toMatchObject({ level: 'warn', reason: 'trust-domain', spiffeId: WEB });
    expect(String(line?.issuer)).toContain('Partner Root');
    const metrics = await (await fetch(`${t.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/tollgate_identity_rejections_total\{reason="trust-domain"\} [1-9]/);
  });

  it('error/the partner certificate claiming our id cannot renew at the CA API (401), openssl as the client', async () => {
    const { csrPath } = await opensslCsr(t.dir, 'renew-impostor', `URI:${WEB}`);
    const csr = await readFile(csrPath, 'utf8');
    for (const proto of ['h1', 'h2'] as const) {
      const res = await once(proto, t.url, tlsOf(impostor), `${CA_PREFIX}/sign`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ csr }),
      });
      expect(res.status).toBe(401);
    }
    const body = JSON.stringify({ csr });
    const raw = await sClient(
      t.gw.publicPort,
      ['-cert', impostor.certPath, '-key', impostor.keyPath, '-servername', 'localhost', '-quiet'],
      `POST ${CA_PREFIX}/sign HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(raw.out).toMatch(/HTTP\/1\.1 401/);
  });

  it('ok/revoking our serial leaves the partner certificate with the same serial working', async () => {
    expect(twin.cert).toBeTruthy();
    const { X509Certificate } = await import('node:crypto');
    expect(new X509Certificate(twin.cert).serialNumber.toLowerCase().replace(/^0+/, '')).toBe(twinOf.serial);
    await t.gw.tls.authority.revoke(twinOf.serial, 'test');
    for (const proto of ['h1', 'h2'] as const) {
      expect((await once(proto, t.url, tlsOf(twinOf), '/protected/x')).status).toBe(401);
      expect((await once(proto, t.url, tlsOf(twin), '/partner/x')).status).toBe(200);
    }
  });

  it('ok/our workloads keep working across an intermediate rotation (old and new intermediate)', async () => {
    const before = t.gw.tls.authority.intermediatePem;
    // A second handle on the CA directory; a leaf that outlives the intermediate makes it renew.
    const other = await openAuthority(join(t.dir, 'ca'), { clock: systemClock });
    const fresh = await workload(other, WEB, { ttlMs: 364.5 * 86_400_000 });
    expect(other.intermediatePem).not.toBe(before);
    expect(fresh.cert).toContain(other.intermediatePem.trim().split('\n')[1]);
    for (const proto of ['h1', 'h2'] as const) {
      expect((await once(proto, t.url, tlsOf(fresh), '/protected/x')).status).toBe(200);
      expect((await once(proto, t.url, tlsOf(web), '/protected/x')).status).toBe(200);
    }
    expect((await t.gw.reload()).result).toBe('success');
    expect((await once('h2', t.url, tlsOf(fresh), '/protected/x')).status).toBe(200);
    expect((await once('h1', t.url, tlsOf(web), '/protected/x')).status).toBe(200);
  });
});

describe('trust domains under clientAuth: require', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let impostor: PartnerCert;
  let partner: PartnerCert;
  let web: Workload;

  beforeAll(async () => {
    up = await startUpstream('app');
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-td-req-'));
    await partnerRoot(dir);
    t = await startTestGateway(
      {
        tls: { clientAuth: 'require', clientCAs: [{ file: './partner-root.crt', trustDomains: ['partner.example'] }] },
        routes: [{ name: 'open', match: { pathPrefix: '/' }, upstream: 'app' }],
        upstreams: { app: { targets: [{ url: up.url }] } },
      },
      { edgeGuard: RELAXED_GUARD, dir },
    );
    impostor = await partnerLeaf(dir, 'impostor', WEB, '0c0ffee1');
    partner = await partnerLeaf(dir, 'partner', PARTNER_API, '0c0ffee2');
    web = await workload(t.gw.tls.authority, WEB);
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  it('error/a partner certificate claiming our trust domain is refused at the handshake (openssl s_client)', async () => {
    const res = await sClient(t.gw.publicPort, ['-cert', impostor.certPath, '-key', impostor.keyPath, '-servername', 'localhost'], httpGet('/x'));
    expect(res.out).not.toMatch(/HTTP\/1\.1 200/);
    for (const proto of ['h1', 'h2'] as const) {
      // Closed right after the handshake: the request fails, or (h2) its stream ends without a status.
      const status = await once(proto, t.url, { ca: t.rootPem, cert: impostor.cert, key: impostor.key }, '/x').then((r) => r.status, () => undefined);
      expect(status === undefined || Number.isNaN(status)).toBe(true);
    }
  });

  it('ok/a partner certificate in its trust domain and our workload are served', async () => {
    const res = await sClient(t.gw.publicPort, ['-cert', partner.certPath, '-key', partner.keyPath, '-servername', 'localhost'], httpGet('/x'));
    expect(res.out).toMatch(/HTTP\/1\.1 200/);
    for (const proto of ['h1', 'h2'] as const) {
      expect((await once(proto, t.url, { ca: t.rootPem, cert: web.cert, key: web.key }, '/x')).status).toBe(200);
    }
  });
});
