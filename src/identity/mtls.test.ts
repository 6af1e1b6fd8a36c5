import { request as httpsRequest } from 'node:https';
import { connect as h2connect, createSecureServer } from 'node:http2';
import type { Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initAuthority } from '../ca/authority.js';
import type { Authority } from '../ca/authority.js';
import { generateKeyPair, privateKeyToPem, splitPem } from '../ca/x509.js';
import { ManualClock } from '../core/clock.js';
import { tempDir } from '../../test/ca/support.js';
import { tlsSocketOf } from '../tls/peer.js';
import { builtInAnchor, identityFromSocket, parseSubjectAltName, peerVerdict, verifiedPeerRevoked, type PeerSocket, type PeerTrust, type TrustAnchor } from './mtls.js';

interface Creds {
  cert: string;
  key: string;
  serial: string;
  certHash: string;
}

async function issue(ca: Authority, id: string, ttlMs: number, opts: { dns?: string[]; ip?: string[] } = {}): Promise<Creds> {
  const keys = await generateKeyPair();
  const issued = await ca.issue({ id, ttlMs, publicKey: keys.publicKey, ...opts });
  return { cert: issued.chainPem, key: await privateKeyToPem(keys.privateKey), serial: issued.serial, certHash: issued.certHash };
}

describe('parseSubjectAltName', () => {
  it('ok/splits kinds and unquotes JSON-quoted values', () => {
    expect(parseSubjectAltName('DNS:a.example, URI:spiffe://td/x, IP Address:127.0.0.1, URI:"http://a/b,c"')).toEqual([
      { kind: 'DNS', value: 'a.example' },
      { kind: 'URI', value: 'spiffe://td/x' },
      { kind: 'IP Address', value: '127.0.0.1' },
      { kind: 'URI', value: 'http://a/b,c' },
    ]);
  });
});

describe('identityFromSocket over real TLS', () => {
  let cleanup: () => Promise<void>;
  let server: Http2SecureServer;
  let port: number;
  let ca: Authority;
  const clock = new ManualClock(Date.now());
  const sockets = new Set<object>();
  const creds: Record<string, Creds> = {};

  beforeAll(async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    const now = Date.now();
    clock.set(now - 2 * 86_400_000);
    ca = await initAuthority(join(t.dir, 'ca'), { trustDomain: 'tollgate.local', clock });
    creds.expired = await issue(ca, 'spiffe://tollgate.local/web', 3_600_000);
    clock.set(now);
    const foreign = await initAuthority(join(t.dir, 'foreign'), { trustDomain: 'tollgate.local', clock });
    creds.foreign = await issue(foreign, 'spiffe://tollgate.local/web', 3_600_000);
    creds.web = await issue(ca, 'spiffe://tollgate.local/web', 3_600_000);
    creds.revoked = await issue(ca, 'spiffe://tollgate.local/web', 3_600_000);
    await ca.revoke(creds.revoked.serial);
    creds.server = await issue(ca, 'spiffe://tollgate.local/tollgate', 3_600_000, { dns: ['localhost'], ip: ['127.0.0.1'] });

    server = createSecureServer(
      { cert: creds.server.cert, key: creds.server.key, ca: [ca.rootPem], requestCert: true, rejectUnauthorized: false, allowHTTP1: true },
      (req, res) => {
        const socket = tlsSocketOf(req);
        if (socket) sockets.add(socket);
        const identity = socket ? identityFromSocket(socket, { anchors: () => [builtInAnchor(ca.rootPem, ca.trustDomain)], isRevoked: (s) => ca.isRevoked(s), now: () => clock.now() }) : {};
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(identity));
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await cleanup();
  });

  function h1(c?: Creds): Promise<Record<string, string>> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port, path: '/', ca: ca.rootPem, agent: false, ...(c ? { cert: c.cert, key: c.key } : {}) },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve(JSON.parse(body) as Record<string, string>));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  async function h2(c?: Creds, requests = 1): Promise<Record<string, string>[]> {
    const session = h2connect(`https://localhost:${port}`, { ca: ca.rootPem, ...(c ? { cert: c.cert, key: c.key } : {}) });
    try {
      const one = (): Promise<Record<string, string>> =>
        new Promise((resolve, reject) => {
          const stream = session.request({ ':path': '/' });
          let body = '';
          stream.setEncoding('utf8');
          stream.on('data', (d: string) => (body += d));
          stream.on('end', () => resolve(JSON.parse(body) as Record<string, string>));
          stream.on('error', reject);
          stream.end();
        });
      const out: Record<string, string>[] = [];
      for (let i = 0; i < requests; i++) out.push(await one());
      return out;
    } finally {
      session.close();
    }
  }

  const cases: [string, () => Creds | undefined, Record<string, string>][] = [
    ['error/no certificate', () => undefined, {}],
    ['error/certificate of a foreign CA', () => creds.foreign, {}],
    ['error/expired certificate', () => creds.expired, {}],
    ['error/revoked certificate', () => creds.revoked, {}],
  ];
  for (const [name, pick, expected] of cases) {
    it(`${name} (h1)`, async () => expect(await h1(pick())).toEqual(expected));
    it(`${name} (h2)`, async () => expect(await h2(pick())).toEqual([expected]));
  }

  it('ok/right identity (h1)', async () => {
    expect(await h1(creds.web)).toEqual({ spiffeId: 'spiffe://tollgate.local/web', certHash: creds.web!.certHash });
  });

  it('ok/right identity on every stream of one h2 session, one socket object for all', async () => {
    sockets.clear();
    const bodies = await h2(creds.web, 3);
    for (const b of bodies) expect(b).toEqual({ spiffeId: 'spiffe://tollgate.local/web', certHash: creds.web!.certHash });
    expect(sockets.size).toBe(1);
  });

  it('ok/a revocation applies to a cached socket', async () => {
    const fresh = await issue(ca, 'spiffe://tollgate.local/late', 3_600_000);
    const session = h2connect(`https://localhost:${port}`, { ca: ca.rootPem, cert: fresh.cert, key: fresh.key });
    const get = (): Promise<Record<string, string>> =>
      new Promise((resolve, reject) => {
        const stream = session.request({ ':path': '/' });
        let body = '';
        stream.setEncoding('utf8');
        stream.on('data', (d: string) => (body += d));
        stream.on('end', () => resolve(JSON.parse(body) as Record<string, string>));
        stream.on('error', reject);
        stream.end();
      });
    try {
      expect((await get()).spiffeId).toBe('spiffe://tollgate.local/late');
      await ca.revoke(fresh.serial);
      expect(await get()).toEqual({});
    } finally {
      session.close();
    }
  });
});

describe('verifiedPeerRevoked (what clientAuth: require refuses after node verified the chain)', () => {
  let leaf: { raw: Buffer; serialNumber: string; valid_to: string; subjectaltname: string; issuerCertificate: { raw: Buffer } };
  let anchors: TrustAnchor[];
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mtls-unit-'));
    const ca = await initAuthority(join(dir, 'ca'), { trustDomain: 'tollgate.local', clock: new ManualClock(Date.parse('2028-12-31T00:00:00Z')) });
    const w = await issue(ca, 'spiffe://tollgate.local/web', 3_600_000 * 24 * 30);
    const [leafPem, interPem] = splitPem(w.cert) as [string, string];
    const x = new X509Certificate(leafPem);
    leaf = { raw: x.raw, serialNumber: x.serialNumber, valid_to: x.validTo, subjectaltname: x.subjectAltName ?? '', issuerCertificate: { raw: new X509Certificate(interPem).raw } };
    anchors = [builtInAnchor(ca.rootPem, ca.trustDomain)];
  });
  const socket = (authorized: boolean, cert: object): PeerSocket => ({ authorized, getPeerCertificate: () => cert });
  const trust = (revoked: string[], now = Date.parse('2029-01-01T00:00:00Z'), domains?: string[]): PeerTrust => ({
    anchors: () => (domains === undefined ? anchors : anchors.map((a) => ({ ...a, own: false, trustDomains: new Set(domains) }))),
    isRevoked: (s) => revoked.includes(s.toLowerCase().replace(/^0+/, '')),
    now: () => now,
  });
  const serial = (): string => leaf.serialNumber.toLowerCase().replace(/^0+/, '');

  it('ok/a verified, unrevoked, unexpired certificate is kept', () => {
    expect(verifiedPeerRevoked(socket(true, leaf), trust([]))).toBe(false);
  });
  it('error/revoked serial, and expired by the gateway clock', () => {
    expect(verifiedPeerRevoked(socket(true, leaf), trust([serial()]))).toBe(true);
    expect(verifiedPeerRevoked(socket(true, leaf), trust([], Date.parse('2030-01-02T00:00:00Z')))).toBe(true);
  });
  it('error/an id outside the trust domains of its anchor is refused; revocation of another anchor does not apply', () => {
    expect(verifiedPeerRevoked(socket(true, leaf), trust([], undefined, ['partner.example']))).toBe(true);
    expect(verifiedPeerRevoked(socket(true, leaf), trust([serial()], undefined, ['tollgate.local']))).toBe(false);
  });
  it('ok/peerVerdict reads the certificate once per socket and hands out one verdict; revocation and expiry still apply on every call', () => {
    let reads = 0;
    const counted: PeerSocket = {
      authorized: true,
      getPeerCertificate: () => {
        reads++;
        return leaf;
      },
    };
    let now = Date.parse('2029-01-01T00:00:00Z');
    const revoked: string[] = [];
    const t: PeerTrust = { anchors: () => anchors, isRevoked: (s) => revoked.includes(s.toLowerCase().replace(/^0+/, '')), now: () => now };
    const first = peerVerdict(counted, t);
    expect(first.identity.spiffeId).toBe('spiffe://tollgate.local/web');
    const readsAfterFirst = reads;
    for (let i = 0; i < 5; i++) expect(peerVerdict(counted, t)).toBe(first);
    expect(reads).toBe(readsAfterFirst);
    now = Date.parse('2030-01-02T00:00:00Z'); // past notAfter by the gateway clock
    expect(peerVerdict(counted, t).identity.spiffeId).toBeUndefined();
    now = Date.parse('2029-01-01T00:00:00Z');
    expect(peerVerdict(counted, t)).toBe(first);
    revoked.push(serial());
    expect(peerVerdict(counted, t)).toMatchObject({ revokedSinceOpen: true });
    expect(peerVerdict(counted, t).identity.spiffeId).toBeUndefined();
  });
  it('ok/no certificate or an unverified one is left to node (false)', () => {
    expect(verifiedPeerRevoked(socket(false, leaf), trust([serial()]))).toBe(false);
    expect(verifiedPeerRevoked(socket(true, {}), trust([serial()]))).toBe(false);
  });
});
