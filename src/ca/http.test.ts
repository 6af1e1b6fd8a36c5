import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { generateKeyPair as joseKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { ANONYMOUS } from '../core/types.js';
import type { Identity } from '../core/types.js';
import { openssl, opensslCsr, tempDir } from '../../test/ca/support.js';
import { initAuthority, openAuthority } from './authority.js';
import type { Authority } from './authority.js';
import { caApiPlugin } from './http.js';
import { TOKEN_ISSUER, tokenAudience } from './tokens.js';
import { certificateHash, generateKeyPair, parseCertificate } from './x509.js';

const PREFIX = '/.well-known/tollgate/ca';
const WEB = 'spiffe://tollgate.local/web';

describe('CA API', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let ca: Authority;
  let app: FastifyInstance;
  let webCsr: string;
  let issuedCount = 0;
  let peer: Identity = ANONYMOUS;
  const clock = new ManualClock(Date.now());

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    ca = await initAuthority(join(dir, 'ca'), { trustDomain: 'tollgate.local', clock });
    app = await build(ca);
    webCsr = await readFile((await opensslCsr(dir, 'web', `URI:${WEB}`)).csrPath, 'utf8');
  });
  afterAll(async () => {
    await app.close();
    await cleanup();
  });

  async function build(authority: Authority): Promise<FastifyInstance> {
    const f = Fastify();
    await f.register(
      caApiPlugin({
        authority,
        pathPrefix: PREFIX,
        trustDomain: 'tollgate.local',
        maxTTLMs: 720 * 3_600_000,
        defaultTTLMs: 24 * 3_600_000,
        clock,
        peerIdentity: () => peer,
        onIssued: () => issuedCount++,
      }),
    );
    return f;
  }

  function sign(body: unknown, token?: string) {
    return app.inject({
      method: 'POST',
      url: `${PREFIX}/sign`,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      payload: JSON.stringify(body),
    });
  }

  it('ok/GET /roots is the root PEM', async () => {
    const res = await app.inject({ method: 'GET', url: `${PREFIX}/roots` });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(ca.rootPem);
    expect(res.headers['content-type']).toContain('application/pem-certificate-chain');
  });

  it('ok/201 with the SPEC body; the leaf verifies with openssl; a replay is 409', async () => {
    const { token } = await ca.createToken(WEB, 300_000);
    const before = issuedCount;
    const res = await sign({ csr: webCsr, ttl: '1h' }, token);
    expect(res.statusCode).toBe(201);
    const body = res.json() as { certificate: string; chain: string; serial: string; notAfter: string };
    expect(Object.keys(body).sort()).toEqual(['certificate', 'chain', 'notAfter', 'serial']);
    expect(body.serial).toMatch(/^[0-9a-f]+$/);
    expect(new Date(body.notAfter).toISOString()).toBe(body.notAfter);
    expect(body.chain.startsWith(body.certificate)).toBe(true);
    expect(issuedCount).toBe(before + 1);
    const leaf = parseCertificate(body.certificate);
    expect(leaf.notAfter.getTime() - clock.now()).toBe(3_600_000 - (clock.now() % 1000));
    const out = await openssl(['verify', '-CAfile', join(dir, 'ca', 'root.crt'), '-untrusted', join(dir, 'ca', 'intermediate.crt')], { input: body.certificate });
    expect(out).toContain('OK');

    const replay = await sign({ csr: webCsr }, token);
    expect(replay.statusCode).toBe(409);
    expect(replay.json()).toMatchObject({ error: { code: 'TOKEN_REUSED' } });
  });

  it('error/replay is 409 after reopening the authority too', async () => {
    const { token } = await ca.createToken(WEB, 300_000);
    expect((await sign({ csr: webCsr }, token)).statusCode).toBe(201);
    const reopened = await build(await openAuthority(join(dir, 'ca'), { clock }));
    try {
      const res = await reopened.inject({
        method: 'POST',
        url: `${PREFIX}/sign`,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        payload: JSON.stringify({ csr: webCsr }),
      });
      expect(res.statusCode).toBe(409);
    } finally {
      await reopened.close();
    }
  });

  it('error/CSR identity differs from the token: 403', async () => {
    const { token } = await ca.createToken('spiffe://tollgate.local/other', 300_000);
    const res = await sign({ csr: webCsr }, token);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect(res.json().error.requestId).toBeTruthy();
  });

  it('error/TTL over maxTTL: 403', async () => {
    const { token } = await ca.createToken(WEB, 300_000);
    const res = await sign({ csr: webCsr, ttl: '721h' }, token);
    expect(res.statusCode).toBe(403);
    // The token was not spent on a refused request.
    expect((await sign({ csr: webCsr, ttl: '720h' }, token)).statusCode).toBe(201);
  });

  it('error/CSR outside the trust domain: 403', async () => {
    const csr = await readFile((await opensslCsr(dir, 'evil', 'URI:spiffe://evil.local/web')).csrPath, 'utf8');
    const { token } = await ca.createToken(WEB, 300_000);
    expect((await sign({ csr }, token)).statusCode).toBe(403);
  });

  it('error/DNS names with a bootstrap token: 403', async () => {
    const csr = await readFile((await opensslCsr(dir, 'dns', `URI:${WEB},DNS:bank.example`)).csrPath, 'utf8');
    const { token } = await ca.createToken(WEB, 300_000);
    expect((await sign({ csr }, token)).statusCode).toBe(403);
  });

  it('error/missing, forged or expired token: 401', async () => {
    expect((await sign({ csr: webCsr })).statusCode).toBe(401);
    expect((await sign({ csr: webCsr }, 'not.a.jwt')).statusCode).toBe(401);
    const { privateKey } = await joseKeyPair('ES256');
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(tokenAudience('tollgate.local'))
      .setSubject(WEB)
      .setJti('forged')
      .setIssuedAt(Math.floor(clock.now() / 1000))
      .setExpirationTime(Math.floor(clock.now() / 1000) + 300)
      .sign(privateKey);
    const res = await sign({ csr: webCsr }, forged);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    const { token } = await ca.createToken(WEB, 300_000);
    clock.advance(301_000 + 30_000);
    expect((await sign({ csr: webCsr }, token)).statusCode).toBe(401);
  });

  it('error/bad CSR: 400', async () => {
    const { token } = await ca.createToken(WEB, 300_000);
    expect((await sign({ csr: 'garbage' }, token)).json()).toMatchObject({ error: { code: 'BAD_CSR' } });
    expect((await sign({}, token)).statusCode).toBe(400);
    // One byte of the signature flipped.
    const der = Buffer.from(webCsr.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    der[der.length - 5] = (der[der.length - 5] as number) ^ 0xff;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    const res = await sign({ csr: tampered }, token);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'BAD_CSR' } });
    const twoUris = await readFile((await opensslCsr(dir, 'two', `URI:${WEB},URI:spiffe://tollgate.local/b`)).csrPath, 'utf8');
    expect((await sign({ csr: twoUris }, token)).json()).toMatchObject({ error: { code: 'BAD_CSR' } });
    const notJson = await app.inject({ method: 'POST', url: `${PREFIX}/sign`, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, payload: '{' });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json()).toMatchObject({ error: { code: 'BAD_REQUEST' } });
  });

  it('ok/renewal with a certificate this CA issued; a foreign one is 401', async () => {
    const keys = await generateKeyPair();
    const issued = await ca.issue({ id: WEB, ttlMs: 3_600_000, publicKey: keys.publicKey });
    peer = { spiffeId: WEB, certHash: issued.certHash };
    try {
      expect((await sign({ csr: webCsr })).statusCode).toBe(201);
      const other = await readFile((await opensslCsr(dir, 'renew-other', 'URI:spiffe://tollgate.local/other')).csrPath, 'utf8');
      expect((await sign({ csr: other })).statusCode).toBe(403);
      peer = { spiffeId: WEB, certHash: certificateHash(parseCertificate(ca.rootPem)) };
      expect((await sign({ csr: webCsr })).statusCode).toBe(401);
    } finally {
      peer = ANONYMOUS;
    }
  });

  it('ok/GET /crl lists revoked serials; unknown paths and methods answer in the JSON shape', async () => {
    const keys = await generateKeyPair();
    const issued = await ca.issue({ id: WEB, ttlMs: 60_000, publicKey: keys.publicKey });
    await ca.revoke(issued.serial, 'test');
    const res = await app.inject({ method: 'GET', url: `${PREFIX}/crl` });
    expect(res.statusCode).toBe(200);
    expect((res.json() as { revoked: { serial: string }[] }).revoked.map((r) => r.serial)).toContain(issued.serial);
    const wrong = await app.inject({ method: 'GET', url: `${PREFIX}/sign` });
    expect(wrong.statusCode).toBe(405);
    expect(wrong.json()).toMatchObject({ error: { code: 'METHOD_NOT_ALLOWED' } });
    expect((await app.inject({ method: 'GET', url: `${PREFIX}/nope` })).statusCode).toBe(404);
  });
});

describe('CA API next to a server catch-all', () => {
  it('ok/the server keeps its own 404 handler and wildcard; the CA routes and prefix win', async () => {
    const { dir, cleanup } = await tempDir();
    const clock = new ManualClock(Date.now());
    const ca = await initAuthority(join(dir, 'ca'), { trustDomain: 'tollgate.local', clock });
    const f = Fastify();
    try {
      f.setNotFoundHandler((_req, reply) => reply.code(404).send({ from: 'server' }));
      await f.register(
        caApiPlugin({ authority: ca, pathPrefix: PREFIX, trustDomain: 'tollgate.local', maxTTLMs: 1e9, defaultTTLMs: 1e6, clock, peerIdentity: () => ANONYMOUS }),
      );
      f.all('/*', async () => ({ from: 'proxy' }));
      expect((await f.inject({ method: 'GET', url: '/api/x' })).json()).toEqual({ from: 'proxy' });
      expect((await f.inject({ method: 'GET', url: `${PREFIX}/roots` })).body).toBe(ca.rootPem);
      expect((await f.inject({ method: 'GET', url: `${PREFIX}/other` })).json()).toMatchObject({ error: { code: 'NO_ROUTE' } });
    } finally {
      await f.close();
      await cleanup();
    }
  });
});
