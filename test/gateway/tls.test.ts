import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:tls';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

function handshake(port: number, ca: string, opts: { maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'; minVersion?: 'TLSv1' | 'TLSv1.2'; alpn?: string[]; ciphers?: string }): Promise<{ protocol: string | null; alpn: string | false | null; cipher: string } | Error> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: opts.alpn, maxVersion: opts.maxVersion, minVersion: opts.minVersion, ciphers: opts.ciphers });
    s.once('secureConnect', () => {
      resolve({ protocol: s.getProtocol(), alpn: s.alpnProtocol, cipher: s.getCipher().name });
      s.destroy();
    });
    s.once('error', (err) => resolve(err));
  });
}

describe('public listener TLS', () => {
  let up: TestUpstream;
  let t: TestGateway;
  beforeAll(async () => {
    up = await startUpstream('up');
    t = await startTestGateway({ routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'up' }], upstreams: { up: { targets: [{ url: up.url }] } } });
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  it('ok/ALPN offers h2 and http/1.1', async () => {
    expect(await handshake(t.gw.publicPort, t.rootPem, { alpn: ['h2', 'http/1.1'] })).toMatchObject({ alpn: 'h2' });
    expect(await handshake(t.gw.publicPort, t.rootPem, { alpn: ['http/1.1'] })).toMatchObject({ alpn: 'http/1.1' });
  });

  it('ok/TLS 1.2 with an intermediate-profile cipher, and TLS 1.3', async () => {
    const r12 = await handshake(t.gw.publicPort, t.rootPem, { maxVersion: 'TLSv1.2' });
    expect(r12).toMatchObject({ protocol: 'TLSv1.2' });
    expect((r12 as { cipher: string }).cipher).toMatch(/^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
    expect(await handshake(t.gw.publicPort, t.rootPem, {})).toMatchObject({ protocol: 'TLSv1.3' });
  });

  it('error/TLS 1.1 and weak TLS 1.2 ciphers are refused', async () => {
    expect(await handshake(t.gw.publicPort, t.rootPem, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })).toBeInstanceOf(Error);
    expect(await handshake(t.gw.publicPort, t.rootPem, { maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA:ECDHE-ECDSA-AES128-SHA' })).toBeInstanceOf(Error);
  });
});
