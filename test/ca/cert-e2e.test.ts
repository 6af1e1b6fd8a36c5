import { readFile, stat } from 'node:fs/promises';
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initAuthority } from '../../src/ca/authority.js';
import type { Authority } from '../../src/ca/authority.js';
import { caApiPlugin } from '../../src/ca/http.js';
import { parseCertificate, serialOf } from '../../src/ca/x509.js';
import { runCa } from '../../src/cli/commands/ca.js';
import type { CliContext } from '../../src/cli/commands/ca.js';
import { runCert } from '../../src/cli/commands/cert.js';
import { UserError } from '../../src/cli/errors.js';
import { systemClock } from '../../src/core/clock.js';
import { ANONYMOUS } from '../../src/core/types.js';
import { createCertRotation } from '../../src/control/cert-rotation.js';
import type { CertRotation } from '../../src/control/cert-rotation.js';
import { builtInAnchor, identityFromSocket } from '../../src/identity/mtls.js';
import { tlsSocketOf } from '../../src/tls/peer.js';
import { openssl, tempDir } from './support.js';

function ctx(): CliContext & { out: () => string } {
  let out = '';
  return { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, clock: systemClock, out: () => out };
}

describe('cert request / renew against a CA API over TLS', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let caDir: string;
  let ca: Authority;
  let app: FastifyInstance<Http2SecureServer, Http2ServerRequest, Http2ServerResponse>;
  let rotation: CertRotation;
  let gateway: string;
  let rootPath: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('tollgate-cert-'));
    caDir = join(dir, 'ca');
    rootPath = join(caDir, 'root.crt');
    ca = await initAuthority(caDir, { trustDomain: 'tollgate.local', clock: systemClock });
    rotation = await createCertRotation({
      authority: ca,
      serverNames: ['localhost', '127.0.0.1'],
      trustDomain: 'tollgate.local',
      ttlMs: 3_600_000,
      clock: systemClock,
      onRotate: () => undefined,
    });
    const creds = rotation.current();
    app = Fastify({
      http2: true,
      https: { allowHTTP1: true, cert: creds.chainPem, key: creds.keyPem, ca: [ca.rootPem], requestCert: true, rejectUnauthorized: false },
    });
    await app.register(
      caApiPlugin({
        authority: ca,
        pathPrefix: '/.well-known/tollgate/ca',
        trustDomain: 'tollgate.local',
        maxTTLMs: 720 * 3_600_000,
        defaultTTLMs: 24 * 3_600_000,
        clock: systemClock,
        peerIdentity: (req) => {
          const socket = tlsSocketOf(req.raw);
          return socket ? identityFromSocket(socket, { anchors: () => [builtInAnchor(ca.rootPem, ca.trustDomain)], isRevoked: (s) => ca.isRevoked(s) }) : ANONYMOUS;
        },
      }),
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    gateway = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    rotation.close();
    await app.close();
    await cleanup();
  });

  async function token(id = 'spiffe://tollgate.local/web'): Promise<string> {
    const c = ctx();
    await runCa(['token', '--dir', caDir, '--id', id], c);
    return c.out().trim();
  }

  it('ok/request writes a 0600 key and a verifiable chain; replaying the token fails; renew replaces the cert in place', async () => {
    const prefix = join(dir, 'web');
    const t = await token();
    const c = ctx();
    expect(await runCert(['request', '--gateway', gateway, '--token', t, '--out', prefix, '--cacert', rootPath, '--ttl', '2h'], c)).toBe(0);
    expect(c.out()).toMatch(/^serial: [0-9a-f]+\nnotAfter: /);
    expect((await stat(`${prefix}.key`)).mode & 0o777).toBe(0o600);
    const first = await readFile(`${prefix}.crt`, 'utf8');
    expect(await openssl(['verify', '-CAfile', rootPath, '-untrusted', `${prefix}.crt`, `${prefix}.crt`])).toContain('OK');
    const leaf = parseCertificate(first);
    expect(leaf.notAfter.getTime() - leaf.notBefore.getTime()).toBe(2 * 3_600_000 + 60_000);

    const replay = await runCert(['request', '--gateway', gateway, '--token', t, '--out', join(dir, 'again'), '--cacert', rootPath], ctx()).catch((e: unknown) => e);
    expect(replay).toBeInstanceOf(UserError);
    expect((replay as Error).message).toMatch(/already been used.*TOKEN_REUSED/);

    const keyBefore = await readFile(`${prefix}.key`, 'utf8');
    const r = ctx();
    expect(await runCert(['renew', '--gateway', gateway, '--cert', `${prefix}.crt`, '--key', `${prefix}.key`, '--cacert', rootPath], r)).toBe(0);
    const renewed = await readFile(`${prefix}.crt`, 'utf8');
    expect(renewed).not.toBe(first);
    expect(serialOf(parseCertificate(renewed))).toBe(/serial: ([0-9a-f]+)/.exec(r.out())![1]);
    expect(await readFile(`${prefix}.key`, 'utf8')).toBe(keyBefore);
    expect(await openssl(['x509', '-noout', '-ext', 'subjectAltName'], { input: renewed })).toContain('URI:spiffe://tollgate.local/web');
  });

  it('error/renew with a revoked certificate is refused', async () => {
    const prefix = join(dir, 'revoked');
    await runCert(['request', '--gateway', gateway, '--token', await token(), '--out', prefix, '--cacert', rootPath], ctx());
    await ca.revoke(serialOf(parseCertificate(await readFile(`${prefix}.crt`, 'utf8'))));
    const err = await runCert(['renew', '--gateway', gateway, '--cert', `${prefix}.crt`, '--key', `${prefix}.key`, '--cacert', rootPath], ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/UNAUTHENTICATED/);
  });

  it('error/a gateway not signed by --cacert is not trusted', async () => {
    const other = await tempDir('tollgate-other-');
    try {
      await runCa(['init', '--dir', other.dir], ctx());
      const err = await runCert(['request', '--gateway', gateway, '--token', await token(), '--out', join(dir, 'x'), '--cacert', join(other.dir, 'root.crt')], ctx()).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(/cannot reach the gateway/);
    } finally {
      await other.cleanup();
    }
  });

  it('error/--id not matching the token; plain http gateway', async () => {
    await expect(runCert(['request', '--gateway', gateway, '--token', await token(), '--out', join(dir, 'y'), '--id', 'spiffe://tollgate.local/z', '--cacert', rootPath], ctx())).rejects.toBeInstanceOf(UserError);
    await expect(runCert(['request', '--gateway', 'http://127.0.0.1:1', '--token', 'a.b.c', '--out', 'x'], ctx())).rejects.toThrow(/https/);
    const c = ctx();
    expect(await runCert(['renew', '--help'], c)).toBe(0);
    expect(c.out()).toMatch(/^Usage: tollgate cert renew/);
  });
});
