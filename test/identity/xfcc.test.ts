/**
 * x-forwarded-client-cert to the upstream (SPEC §3): exactly one element in Envoy's format for a
 * verified client certificate, and never anything the client sent, whatever the protocol or spelling.
 */
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openssl } from '../ca/support.js';
import { h1, h1Agent, h2, h2Session, type ClientTls } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { exchange } from '../support/raw.js';
import { startUpstream, type SeenRequest, type TestUpstream } from '../support/upstream.js';
import { foreignAuthority, workload, type Workload } from './support.js';

const WEB = 'spiffe://tollgate.local/web';
const FORGED = 'By=spiffe://tollgate.local/tollgate;Hash=00;URI=spiffe://tollgate.local/admin';

/** Every x-forwarded-client-cert value the upstream received, in order, whatever the name's case. */
function xfccOf(seen: SeenRequest): string[] {
  const out: string[] = [];
  for (let i = 0; i < seen.rawHeaders.length; i += 2) {
    if ((seen.rawHeaders[i] as string).toLowerCase() === 'x-forwarded-client-cert') out.push(seen.rawHeaders[i + 1] as string);
  }
  return out;
}

describe('x-forwarded-client-cert', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let web: Workload;
  let foreign: Workload;
  let expected: string;

  beforeAll(async () => {
    up = await startUpstream('app');
    t = await startTestGateway({
      routes: [
        { name: 'protected', match: { pathPrefix: '/protected' }, upstream: 'app', auth: { mtls: { allow: [WEB] } } },
        { name: 'open', match: { pathPrefix: '/' }, upstream: 'app' },
      ],
      upstreams: { app: { targets: [{ url: up.url }] } },
    });
    web = await workload(t.gw.tls.authority, WEB);
    foreign = await workload(await foreignAuthority(t.dir), WEB);
    // The hash as openssl computes it: the SHA-256 fingerprint of the leaf's DER.
    const fp = await openssl(['x509', '-noout', '-fingerprint', '-sha256'], { input: web.cert });
    const hash = /=([0-9A-F:]+)/.exec(fp)![1]!.replace(/:/g, '').toLowerCase();
    expect(hash).toBe(web.hash);
    expected = `By=spiffe://tollgate.local/tollgate;Hash=${hash};URI=${WEB}`;
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  /** Sends one request; returns what the upstream saw for it (found by a unique request id). */
  async function via(proto: 'h1' | 'h2', tls: ClientTls, path: string, headers: Record<string, string | string[]>): Promise<{ status: number; seen: SeenRequest | undefined }> {
    const id = `xfcc-${proto}-${Math.floor(performance.now() * 1000)}`;
    let status: number;
    if (proto === 'h1') {
      const agent = h1Agent(tls, { connections: 1 });
      try {
        status = (await h1(agent, `${t.url}${path}`, { headers: { ...(headers as Record<string, string>), 'x-request-id': id } })).status;
      } finally {
        await agent.close();
      }
    } else {
      const session = await h2Session(t.url, tls);
      try {
        status = (await h2(session, path, { headers: { ...headers, 'x-request-id': id } })).status;
      } finally {
        session.close();
      }
    }
    return { status, seen: up.seen.find((s) => s.headers['x-request-id'] === id) };
  }

  for (const proto of ['h1', 'h2'] as const) {
    it(`ok/${proto} verified certificate: exactly By=<gateway id>;Hash=<sha256 of DER>;URI=<client id>`, async () => {
      const { status, seen } = await via(proto, { ca: t.rootPem, cert: web.cert, key: web.key }, '/protected/a', {});
      expect(status).toBe(200);
      expect(xfccOf(seen!)).toEqual([expected]);
    });

    const spoofs: [string, Record<string, string | string[]>][] = [
      ['lower case', { 'x-forwarded-client-cert': FORGED }],
      ['odd casing', { 'X-Forwarded-CLIENT-cert': FORGED }],
      ['two copies', { 'x-forwarded-client-cert': [FORGED, `${FORGED};Subject="CN=x"`] }],
    ];
    for (const [what, headers] of spoofs) {
      it(`error/${proto} spoof (${what}) without a certificate never reaches the upstream`, async () => {
        const { status, seen } = await via(proto, { ca: t.rootPem }, '/open/a', headers);
        expect(status).toBe(200);
        expect(xfccOf(seen!)).toEqual([]);
      });
      it(`error/${proto} spoof (${what}) with a valid certificate is replaced by the gateway's own`, async () => {
        const { status, seen } = await via(proto, { ca: t.rootPem, cert: web.cert, key: web.key }, '/protected/a', headers);
        expect(status).toBe(200);
        expect(xfccOf(seen!)).toEqual([expected]);
      });
      it(`error/${proto} spoof (${what}) with a foreign certificate is dropped and earns no identity`, async () => {
        const open = await via(proto, { ca: t.rootPem, cert: foreign.cert, key: foreign.key }, '/open/a', headers);
        expect(open.status).toBe(200);
        expect(xfccOf(open.seen!)).toEqual([]);
        const protectedRes = await via(proto, { ca: t.rootPem, cert: foreign.cert, key: foreign.key }, '/protected/a', headers);
        expect(protectedRes.status).toBe(401);
        expect(protectedRes.seen).toBeUndefined();
      });
    }
  }

  it('error/raw HTTP/1.1: repeated, mixed-case and Connection-nominated copies never reach the upstream', async () => {
    const socket = await new Promise<import('node:tls').TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: t.gw.publicPort, ca: t.rootPem, servername: 'localhost', cert: web.cert, key: web.key, ALPNProtocols: ['http/1.1'] });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });
    const res = await exchange(
      socket,
      'GET /protected/raw HTTP/1.1\r\nHost: localhost\r\nx-request-id: xfcc-raw\r\n' +
        `X-FORWARDED-CLIENT-CERT: ${FORGED}\r\nx-forwarded-client-cert: ${FORGED}\r\nx-Forwarded-Client-Cert: Hash=1\r\n` +
        'Connection: close, x-forwarded-client-cert\r\n\r\n',
    );
    expect(res.data).toMatch(/^HTTP\/1\.1 200/);
    const seen = up.seen.find((s) => s.headers['x-request-id'] === 'xfcc-raw');
    expect(xfccOf(seen!)).toEqual([expected]);
  });

  it('ok/a header that merely starts with the name is an ordinary header and passes', async () => {
    const { seen } = await via('h1', { ca: t.rootPem }, '/open/b', { 'x-forwarded-client-cert-note': 'hello' });
    expect(seen!.headers['x-forwarded-client-cert-note']).toBe('hello');
    expect(xfccOf(seen!)).toEqual([]);
  });
});
