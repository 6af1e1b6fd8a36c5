/**
 * `tls.clientAuth: require` refuses the handshake for any client certificate that fails (missing,
 * unknown CA, expired, revoked); `none` never asks for one. openssl s_client is the independent peer.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { h1, h1Agent, h2, h2Session, type ClientTls } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { httpGet, sClient } from './openssl.js';
import { clientCertArgs, expiredWorkload, foreignAuthority, workload, writeWorkload, type Workload } from './support.js';

const WEB = 'spiffe://tollgate.local/web';

function config(clientAuth: string, upUrl: string): Record<string, unknown> {
  return {
    tls: { clientAuth },
    routes: [
      { name: 'protected', match: { pathPrefix: '/protected' }, upstream: 'app', auth: { mtls: { allow: [WEB] } } },
      { name: 'open', match: { pathPrefix: '/open' }, upstream: 'app' },
    ],
    upstreams: { app: { targets: [{ url: upUrl }] } },
  };
}

/** Resolves the status of one request on a fresh connection, or 'refused' when the connection fails. */
async function attempt(proto: 'h1' | 'h2', url: string, tls: ClientTls, path: string): Promise<number | 'refused'> {
  if (proto === 'h1') {
    const agent = h1Agent(tls, { connections: 1 });
    try {
      return (await h1(agent, `${url}${path}`)).status;
    } catch {
      return 'refused';
    } finally {
      await agent.close().catch(() => undefined);
    }
  }
  let session;
  try {
    session = await h2Session(url, tls);
    // TLS 1.3: the client finishes its handshake before the server's verdict arrives as an alert.
    session.on('error', () => undefined);
    const status = (await h2(session, path)).status;
    // A stream ended by the session closing carries no :status.
    return Number.isNaN(status) ? 'refused' : status;
  } catch {
    return 'refused';
  } finally {
    session?.destroy();
  }
}

describe('clientAuth: require', () => {
  let up: TestUpstream;
  let t: TestGateway;
  const creds: Record<string, Workload> = {};
  const files: Record<string, { certPath: string; keyPath: string; chainPath: string }> = {};
  let rootPath: string;

  beforeAll(async () => {
    up = await startUpstream('app');
    t = await startTestGateway(config('require', up.url));
    rootPath = join(t.dir, 'ca', 'root.crt');
    const ca = t.gw.tls.authority;
    creds.right = await workload(ca, WEB);
    creds.wrong = await workload(ca, 'spiffe://tollgate.local/billing');
    creds.foreign = await workload(await foreignAuthority(t.dir), WEB);
    creds.expired = await expiredWorkload(join(t.dir, 'ca'), WEB);
    creds.revoked = await workload(ca, WEB);
    await ca.revoke(creds.revoked.serial);
    expect((await t.gw.reload()).result).toBe('success');
    for (const [name, w] of Object.entries(creds)) files[name] = await writeWorkload(t.dir, name, w);
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  const tlsOf = (name: string | undefined): ClientTls => ({ ca: t.rootPem, cert: name ? creds[name]?.cert : undefined, key: name ? creds[name]?.key : undefined });

  for (const proto of ['h1', 'h2'] as const) {
    for (const name of [undefined, 'foreign', 'expired', 'revoked'] as const) {
      it(`error/${proto} ${name ?? 'no'} cert: the connection is refused, even for an open route`, async () => {
        expect(await attempt(proto, t.url, tlsOf(name), '/open/x')).toBe('refused');
      });
    }
    it(`ok/${proto} right identity 200; wrong identity connects and gets 403`, async () => {
      expect(await attempt(proto, t.url, tlsOf('right'), '/protected/x')).toBe(200);
      expect(await attempt(proto, t.url, tlsOf('wrong'), '/protected/x')).toBe(403);
      expect(await attempt(proto, t.url, tlsOf('wrong'), '/open/x')).toBe(200);
    });
  }

  it('error/openssl s_client without a certificate: TLS 1.3 gets "certificate required", TLS 1.2 a failed handshake', async () => {
    const v13 = await sClient(t.gw.publicPort, ['-CAfile', rootPath, '-verify_return_error', '-servername', 'localhost', '-alpn', 'http/1.1'], httpGet('/open/x'));
    expect(v13.code).not.toBe(0);
    expect(v13.out).toMatch(/certificate required/);
    expect(v13.out).not.toMatch(/HTTP\/1\.1 200/);
    const v12 = await sClient(t.gw.publicPort, ['-tls1_2', '-CAfile', rootPath, '-verify_return_error', '-servername', 'localhost'], httpGet('/open/x'));
    expect(v12.code).not.toBe(0);
    expect(v12.out).toMatch(/handshake failure|alert/i);
    expect(v12.out).not.toMatch(/HTTP\/1\.1 200/);
  });

  it('error/openssl s_client with a foreign certificate is refused', async () => {
    const r = await sClient(
      t.gw.publicPort,
      ['-CAfile', rootPath, '-verify_return_error', '-servername', 'localhost', ...clientCertArgs(files.foreign!)],
      httpGet('/open/x'),
    );
    // The server's verdict comes after the client's Finished (TLS 1.3): an alert or a plain close.
    expect(r.code).not.toBe(0);
    expect(r.out).not.toMatch(/HTTP\/1\.1 200/);
  });

  it('ok/openssl s_client with the workload certificate: verified chain, ALPN h2 offered, HTTP/1.1 200 on the protected route', async () => {
    const certArgs = clientCertArgs(files.right!);
    const h2 = await sClient(t.gw.publicPort, ['-CAfile', rootPath, '-verify_return_error', '-servername', 'localhost', '-alpn', 'h2,http/1.1', ...certArgs]);
    expect(h2.out).toMatch(/Verify return code: 0 \(ok\)/);
    expect(h2.out).toMatch(/ALPN protocol: h2/);
    expect(h2.out).toMatch(/Acceptable client certificate CA names\n.*tollgate root CA/);
    const get = await sClient(t.gw.publicPort, ['-CAfile', rootPath, '-verify_return_error', '-servername', 'localhost', '-alpn', 'http/1.1', ...certArgs], httpGet('/protected/x'));
    expect(get.out).toMatch(/HTTP\/1\.1 200/);
    expect(get.out).toMatch(/\r\n\r\n[\s\S]*app/);
  });
});

describe('clientAuth: none and optional, seen by openssl', () => {
  let up: TestUpstream;
  let none: TestGateway;
  let optional: TestGateway;
  let web: Workload;

  beforeAll(async () => {
    up = await startUpstream('app');
    none = await startTestGateway(config('none', up.url));
    optional = await startTestGateway(config('optional', up.url));
    web = await workload(none.gw.tls.authority, WEB);
  });
  afterAll(async () => {
    await none?.stop();
    await optional?.stop();
    await up?.close();
  });

  it('ok/none: no CertificateRequest; a client holding a valid certificate never sends it, so the mTLS route is 401', async () => {
    const paths = await writeWorkload(none.dir, 'web', web);
    const r = await sClient(
      none.gw.publicPort,
      ['-CAfile', join(none.dir, 'ca', 'root.crt'), '-verify_return_error', '-servername', 'localhost', ...clientCertArgs(paths)],
      httpGet('/protected/x'),
    );
    expect(r.out).toMatch(/No client certificate CA names sent/);
    expect(r.out).toMatch(/HTTP\/1\.1 401/);
    const tls = { ca: none.rootPem, cert: web.cert, key: web.key };
    expect(await attempt('h1', none.url, tls, '/protected/x')).toBe(401);
    expect(await attempt('h2', none.url, tls, '/protected/x')).toBe(401);
    expect(await attempt('h2', none.url, tls, '/open/x')).toBe(200);
  });

  it('ok/optional: asks (naming the built-in root) and serves a client without a certificate', async () => {
    const r = await sClient(optional.gw.publicPort, ['-CAfile', join(optional.dir, 'ca', 'root.crt'), '-verify_return_error', '-servername', 'localhost'], httpGet('/open/x'));
    expect(r.out).toMatch(/Acceptable client certificate CA names\n.*tollgate root CA/);
    expect(r.out).toMatch(/HTTP\/1\.1 200/);
  });
});
