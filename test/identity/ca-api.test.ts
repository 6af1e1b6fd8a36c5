/**
 * The CA API (SPEC §4) over the real gateway listener, with openssl as the independent peer: CSRs made
 * by `openssl req`, chains checked by `openssl verify`, the workload-side CLI against a live gateway.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuthority } from '../../src/ca/authority.js';
import { splitPem } from '../../src/ca/x509.js';
import { runCa, type CliContext } from '../../src/cli/commands/ca.js';
import { runCert } from '../../src/cli/commands/cert.js';
import { ManualClock, systemClock } from '../../src/core/clock.js';
import { openssl, opensslCsr } from '../ca/support.js';
import { runCli } from '../support/cli.js';
import { h1, h1Agent, h2, h2Session, type SimpleResponse } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { foreignAuthority, RELAXED_GUARD, workload } from './support.js';

const PREFIX = '/.well-known/tollgate/ca';
const WEB = 'spiffe://tollgate.local/web';

function ctx(): CliContext & { out: () => string } {
  let out = '';
  return { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, clock: systemClock, out: () => out };
}

function codeOf(res: SimpleResponse): string | undefined {
  return (JSON.parse(res.body) as { error?: { code?: string } }).error?.code;
}

describe('CA API on the gateway listener', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let caDir: string;
  let rootPath: string;
  let agent: Agent;

  beforeAll(async () => {
    up = await startUpstream('app');
    t = await startTestGateway(
      {
        ca: { dir: './ca', workloadTTL: '24h', maxTTL: '48h', renewal: { window: 1, maxPerHour: 100 } },
        routes: [
          { name: 'protected', match: { pathPrefix: '/protected' }, upstream: 'app', auth: { mtls: { allow: [WEB, 'spiffe://tollgate.local/ns/*'] } } },
          // A catch-all: the CA's fixed routes must still win over it.
          { name: 'all', match: { pathPrefix: '/' }, upstream: 'app' },
        ],
        upstreams: { app: { targets: [{ url: up.url }] } },
      },
      { edgeGuard: RELAXED_GUARD },
    );
    caDir = join(t.dir, 'ca');
    rootPath = join(caDir, 'root.crt');
    agent = h1Agent({ ca: t.rootPem });
  });
  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await up?.close();
  });

  async function token(id = WEB, ttl = '5m'): Promise<string> {
    const c = ctx();
    expect(await runCa(['token', '--dir', caDir, '--id', id, '--ttl', ttl], c)).toBe(0);
    return c.out().trim();
  }

  async function sign(body: unknown, headers: Record<string, string>, via: Agent = agent): Promise<SimpleResponse> {
    return h1(via, `${t.url}${PREFIX}/sign`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  it('ok/GET /roots is the root PEM over h1 and h2; the catch-all route never sees CA paths', async () => {
    const res = await h1(agent, `${t.url}${PREFIX}/roots`);
    expect(res.status).toBe(200);
    expect(res.body).toBe(t.rootPem);
    const session = await h2Session(t.url, { ca: t.rootPem });
    try {
      const r2 = await h2(session, `${PREFIX}/roots`);
      expect(r2.status).toBe(200);
      expect(r2.body).toBe(t.rootPem);
      expect((await h2(session, `${PREFIX}/nope`)).status).toBe(404);
    } finally {
      session.close();
    }
    expect(up.seen.some((s) => s.url.startsWith(PREFIX))).toBe(false);
  });

  it('ok/openssl req CSR + token → 201; leaf + intermediate chain passes openssl verify; one URI SAN, both EKUs; replay 409', async () => {
    const { csrPath, keyPath } = await opensslCsr(t.dir, 'ossl', `URI:${WEB}`);
    const csr = await readFile(csrPath, 'utf8');
    const tok = await token();
    const res = await sign({ csr, ttl: '2h' }, { authorization: `Bearer ${tok}` });
    expect(res.status).toBe(201);
    const body = JSON.parse(res.body) as { certificate: string; chain: string; serial: string; notAfter: string };
    expect(Object.keys(body).sort()).toEqual(['certificate', 'chain', 'notAfter', 'serial']);
    expect(body.serial).toMatch(/^[0-9a-f]+$/);
    expect(new Date(body.notAfter).toISOString()).toBe(body.notAfter);
    // The chain is the leaf followed by the intermediate (not the root).
    const blocks = splitPem(body.chain);
    expect(blocks).toHaveLength(2);
    expect(blocks[0]!.trim()).toBe(body.certificate.trim());
    expect(blocks[1]!.trim()).toBe(t.gw.tls.authority.intermediatePem.trim());
    const leafPath = join(t.dir, 'ossl.crt');
    const interPath = join(t.dir, 'ossl.inter.crt');
    await writeFile(leafPath, body.certificate);
    await writeFile(interPath, blocks[1]!);
    expect(await openssl(['verify', '-CAfile', rootPath, '-untrusted', interPath, leafPath])).toContain(`${leafPath}: OK`);
    expect(await openssl(['verify', '-purpose', 'sslclient', '-CAfile', rootPath, '-untrusted', interPath, leafPath])).toContain('OK');
    expect(await openssl(['verify', '-purpose', 'sslserver', '-CAfile', rootPath, '-untrusted', interPath, leafPath])).toContain('OK');
    const text = await openssl(['x509', '-noout', '-text', '-in', leafPath]);
    expect(text).toMatch(/X509v3 Subject Alternative Name:[^\n]*\n\s*URI:spiffe:\/\/tollgate\.local\/web\s*\n/);
    expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication|TLS Web Client Authentication, TLS Web Server Authentication/);
    expect(text).toMatch(/Digital Signature/);
    // openssl's own key and the issued certificate belong together.
    const modKey = await openssl(['pkey', '-in', keyPath, '-pubout']);
    const modCert = await openssl(['x509', '-noout', '-pubkey', '-in', leafPath]);
    expect(modCert).toBe(modKey);

    const replay = await sign({ csr }, { authorization: `Bearer ${tok}` });
    expect(replay.status).toBe(409);
    expect(codeOf(replay)).toBe('TOKEN_REUSED');
  });

  it('error/CSR for another identity than the token: 403; the token stays usable', async () => {
    const tok = await token(WEB);
    const other = await readFile((await opensslCsr(t.dir, 'other', 'URI:spiffe://tollgate.local/billing')).csrPath, 'utf8');
    const res = await sign({ csr: other }, { authorization: `Bearer ${tok}` });
    expect(res.status).toBe(403);
    expect(codeOf(res)).toBe('FORBIDDEN');
    const foreignTd = await readFile((await opensslCsr(t.dir, 'td', 'URI:spiffe://evil.example/web')).csrPath, 'utf8');
    expect((await sign({ csr: foreignTd }, { authorization: `Bearer ${tok}` })).status).toBe(403);
    const right = await readFile((await opensslCsr(t.dir, 'right', `URI:${WEB}`)).csrPath, 'utf8');
    expect((await sign({ csr: right }, { authorization: `Bearer ${tok}` })).status).toBe(201);
  });

  it('error/TTL over ca.maxTTL: 403 (the token is not spent)', async () => {
    const tok = await token();
    const csr = await readFile((await opensslCsr(t.dir, 'ttl', `URI:${WEB}`)).csrPath, 'utf8');
    const res = await sign({ csr, ttl: '49h' }, { authorization: `Bearer ${tok}` });
    expect(res.status).toBe(403);
    expect(codeOf(res)).toBe('FORBIDDEN');
    expect((await sign({ csr, ttl: '48h' }, { authorization: `Bearer ${tok}` })).status).toBe(201);
  });

  it('error/missing, forged, expired and malformed tokens: 401', async () => {
    const csr = await readFile((await opensslCsr(t.dir, 'auth', `URI:${WEB}`)).csrPath, 'utf8');
    const missing = await sign({ csr }, {});
    expect(missing.status).toBe(401);
    expect(codeOf(missing)).toBe('UNAUTHENTICATED');
    // Same trust domain and identity, signed by another CA's provisioner key.
    const forged = (await (await foreignAuthority(t.dir)).createToken(WEB, 300_000)).token;
    expect((await sign({ csr }, { authorization: `Bearer ${forged}` })).status).toBe(401);
    const past = await openAuthority(caDir, { clock: new ManualClock(Date.now() - 3_600_000) });
    const expired = (await past.createToken(WEB, 300_000)).token;
    expect((await sign({ csr }, { authorization: `Bearer ${expired}` })).status).toBe(401);
    const tok = await token();
    const [h, p, s] = tok.split('.') as [string, string, string];
    const tampered = `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    expect((await sign({ csr }, { authorization: `Bearer ${tampered}` })).status).toBe(401);
    expect((await sign({ csr }, { authorization: 'Basic dTpw' })).status).toBe(401);
  });

  it('error/bad CSR: garbage, a broken signature, not JSON: 400', async () => {
    const garbage = await sign({ csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' }, { authorization: `Bearer ${await token()}` });
    expect(garbage.status).toBe(400);
    expect(codeOf(garbage)).toBe('BAD_CSR');
    // Flip a byte inside the signature of a valid openssl CSR.
    const pem = await readFile((await opensslCsr(t.dir, 'sig', `URI:${WEB}`)).csrPath, 'utf8');
    const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    der.writeUInt8(der.readUInt8(der.length - 3) ^ 0x01, der.length - 3);
    const broken = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    const bad = await sign({ csr: broken }, { authorization: `Bearer ${await token()}` });
    expect(bad.status).toBe(400);
    expect(codeOf(bad)).toBe('BAD_CSR');
    expect((await sign('{"csr":', { authorization: `Bearer ${await token()}` })).status).toBe(400);
  });

  it('ok/`tollgate cert request` (the real CLI) against the gateway; the certificate opens the mTLS route; `cert renew` keeps the key', async () => {
    const prefix = join(t.dir, 'cli-web');
    const tok = await token();
    const r = await runCli(['cert', 'request', '--gateway', `https://localhost:${t.gw.publicPort}`, '--token', tok, '--out', prefix, '--cacert', rootPath], {
      timeoutMs: 30_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^serial: [0-9a-f]+\nnotAfter: /);
    expect((await stat(`${prefix}.key`)).mode & 0o777).toBe(0o600);
    const first = await readFile(`${prefix}.crt`, 'utf8');
    const key = await readFile(`${prefix}.key`, 'utf8');
    const mtls = h1Agent({ ca: t.rootPem, cert: first, key }, { connections: 1 });
    try {
      expect((await h1(mtls, `${t.url}/protected/x`)).status).toBe(200);
    } finally {
      await mtls.close();
    }

    const c = ctx();
    expect(await runCert(['renew', '--gateway', t.url, '--cert', `${prefix}.crt`, '--key', `${prefix}.key`, '--cacert', rootPath], c)).toBe(0);
    const renewed = await readFile(`${prefix}.crt`, 'utf8');
    expect(renewed).not.toBe(first);
    expect(await readFile(`${prefix}.key`, 'utf8')).toBe(key);
    expect(await openssl(['verify', '-CAfile', rootPath, '-untrusted', `${prefix}.crt`, `${prefix}.crt`])).toContain('OK');
  });

  it('error/renewal needs a certificate this CA issued, for the same identity, not revoked', async () => {
    const csrFor = async (name: string, id: string): Promise<string> => readFile((await opensslCsr(t.dir, name, `URI:${id}`)).csrPath, 'utf8');
    const web = await workload(t.gw.tls.authority, WEB);
    const mtls = (w: { cert: string; key: string }): Agent => h1Agent({ ca: t.rootPem, cert: w.cert, key: w.key }, { connections: 1 });
    const ok = mtls(web);
    const foreign = mtls(await workload(await foreignAuthority(t.dir), WEB));
    try {
      expect((await sign({ csr: await csrFor('renew-ok', WEB) }, {}, ok)).status).toBe(201);
      const other = await sign({ csr: await csrFor('renew-other', 'spiffe://tollgate.local/billing') }, {}, ok);
      expect(other.status).toBe(403);
      expect((await sign({ csr: await csrFor('renew-foreign', WEB) }, {}, foreign)).status).toBe(401);
      await t.gw.tls.authority.revoke(web.serial, 'key compromise');
      const revoked = await sign({ csr: await csrFor('renew-revoked', WEB) }, {}, ok);
      expect(revoked.status).toBe(401);
      expect(codeOf(revoked)).toBe('UNAUTHENTICATED');
    } finally {
      await ok.close();
      await foreign.close();
    }

    const crl = await h1(agent, `${t.url}${PREFIX}/crl`);
    expect(crl.status).toBe(200);
    const list = (JSON.parse(crl.body) as { revoked: { serial: string; reason: string; revokedAt: string }[] }).revoked;
    expect(list).toContainEqual(expect.objectContaining({ serial: web.serial, reason: 'key compromise' }));
  });
});
