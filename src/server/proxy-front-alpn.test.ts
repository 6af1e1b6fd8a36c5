/**
 * The public front's tls-alpn-01 routing on real sockets: while a challenge is pending, a ClientHello
 * offering exactly `acme-tls/1` reaches the challenge server (acmeIdentifier certificate, ALPN
 * acme-tls/1, closed after the handshake); h2 and http/1.1 clients reach the main server unchanged.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import type { Server as NetServer } from 'node:net';
import { connect, createServer, createSecureContext, type Server as TlsServer } from 'node:tls';
import * as acme from 'acme-client';
import { createFront } from './proxy-front.js';

/** DER of the OID 1.3.6.1.5.5.7.1.31 (id-pe-acmeIdentifier). */
const ACME_IDENTIFIER_DER = Buffer.from([0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f]);

async function alpnCert(name: string): Promise<{ cert: string; key: string }> {
  const authz = { identifier: { type: 'dns', value: name } } as unknown as acme.Authorization;
  const [key, cert] = await acme.crypto.createAlpnCertificate(authz, 'token.thumbprint', await acme.crypto.createPrivateEcdsaKey('P-256'));
  return { cert: cert.toString(), key: key.toString() };
}

function hello(port: number, servername: string, ALPNProtocols: string[]): Promise<{ raw: Buffer; alpn: string | false | null; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername, ALPNProtocols, rejectUnauthorized: false });
    const ended = new Promise<void>((r) => s.once('close', () => r()));
    s.once('secureConnect', () => resolve({ raw: s.getPeerCertificate().raw, alpn: s.alpnProtocol, ended }));
    s.once('error', reject);
    s.resume();
  });
}

describe('front: tls-alpn-01 routing', () => {
  const closers: (() => void)[] = [];
  afterEach(() => {
    for (const c of closers.splice(0)) c();
  });

  async function start(pending: () => boolean): Promise<{ port: number; main: { cert: string; key: string }; challenge: { cert: string; key: string } }> {
    const main = await alpnCert('main.example.test');
    const challenge = await alpnCert('shop.example.test');
    const mainServer = createServer({ ...main, ALPNProtocols: ['h2', 'http/1.1'] }, (s) => s.end());
    const ctx = createSecureContext(challenge);
    const alpnServer: TlsServer = createServer({ ALPNProtocols: ['acme-tls/1'], SNICallback: (name, cb) => cb(name === 'shop.example.test' ? null : new Error('none'), ctx) }, (s) => s.end());
    alpnServer.on('tlsClientError', () => undefined);
    const front: NetServer = createFront(mainServer, { proxyProtocol: () => false, isTrusted: () => true, timeoutMs: () => 5000, alpnChallenge: { pending, server: alpnServer } });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    closers.push(() => front.close());
    return { port: (front.address() as { port: number }).port, main, challenge };
  }

  it('ok/acme-tls/1 during a pending challenge gets the acmeIdentifier certificate, then the connection closes', async () => {
    const { port, challenge } = await start(() => true);
    const r = await hello(port, 'shop.example.test', ['acme-tls/1']);
    expect(r.alpn).toBe('acme-tls/1');
    const leaf = new X509Certificate(r.raw);
    expect(leaf.raw.equals(new X509Certificate(challenge.cert).raw)).toBe(true);
    expect(leaf.raw.includes(ACME_IDENTIFIER_DER)).toBe(true);
    await r.ended;
  });

  it('ok/h2 and http/1.1 clients are unaffected while a challenge is pending', async () => {
    const { port, main } = await start(() => true);
    for (const protos of [['h2', 'http/1.1'], ['http/1.1'], ['h2', 'acme-tls/1']]) {
      const r = await hello(port, 'shop.example.test', protos);
      expect(new X509Certificate(r.raw).raw.equals(new X509Certificate(main.cert).raw)).toBe(true);
      expect(r.alpn).toBe(protos[0]);
    }
  });

  it('edge/no challenge pending: acme-tls/1 goes to the main server (no peek)', async () => {
    const { port, main } = await start(() => false);
    await expect(hello(port, 'shop.example.test', ['acme-tls/1'])).rejects.toThrow();
    expect(main.cert).toContain('BEGIN CERTIFICATE');
  });
});
