import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import { openssl, opensslCsr, tempDir } from '../../test/ca/support.js';
import { CaError, ensureCaAuthority, initAuthority, INTERMEDIATE_TTL_MS, openAuthority } from './authority.js';
import type { Authority } from './authority.js';
import { generateKeyPair, parseCertificate } from './x509.js';

const TD = 'tollgate.local';

describe('authority', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let ca: Authority;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    ca = await initAuthority(join(dir, 'ca'), { trustDomain: TD, clock: systemClock });
  });
  afterAll(() => cleanup());

  it('ok/key files are 0600, certificates 0644', async () => {
    for (const f of ['root.key', 'intermediate.key', 'provisioner.key']) {
      expect((await stat(join(dir, 'ca', f))).mode & 0o777).toBe(0o600);
    }
    expect((await stat(join(dir, 'ca', 'root.crt'))).mode & 0o777).toBe(0o644);
  });

  it('ok/root is a 10-year P-256 CA, intermediate a 1-year pathLen 0 CA under it', async () => {
    const root = await openssl(['x509', '-in', join(dir, 'ca', 'root.crt'), '-noout', '-text']);
    expect(root).toContain('prime256v1');
    expect(root).toMatch(/CA:TRUE/);
    const inter = await openssl(['x509', '-in', join(dir, 'ca', 'intermediate.crt'), '-noout', '-text']);
    expect(inter).toMatch(/CA:TRUE, pathlen:0/);
    expect(inter).toContain('Certificate Sign');
    const rootCert = parseCertificate(await readFile(join(dir, 'ca', 'root.crt'), 'utf8'));
    const years = (rootCert.notAfter.getTime() - rootCert.notBefore.getTime()) / (365.25 * 86_400_000);
    expect(years).toBeGreaterThan(9.99);
    expect(ca.intermediateNotAfter.getTime() - systemClock.now()).toBeLessThanOrEqual(INTERMEDIATE_TTL_MS);
    await openssl(['verify', '-CAfile', join(dir, 'ca', 'root.crt'), join(dir, 'ca', 'intermediate.crt')]);
  });

  it('ok/signs an openssl CSR; openssl verifies the chain and sees one URI SAN and both EKUs', async () => {
    const { csrPath } = await opensslCsr(dir, 'web', 'URI:spiffe://tollgate.local/web');
    const csrPem = await readFile(csrPath, 'utf8');
    const issued = await ca.issue({ id: 'spiffe://tollgate.local/web', ttlMs: 3_600_000, csrPem });
    const leafPath = join(dir, 'web.crt');
    await writeFile(leafPath, issued.certPem);
    const out = await openssl(['verify', '-CAfile', join(dir, 'ca', 'root.crt'), '-untrusted', join(dir, 'ca', 'intermediate.crt'), leafPath]);
    expect(out).toContain(': OK');
    const text = await openssl(['x509', '-in', leafPath, '-noout', '-text']);
    expect(text.match(/URI:/g)).toHaveLength(1);
    expect(text).toContain('URI:spiffe://tollgate.local/web');
    expect(text).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
    expect(text).toMatch(/Digital Signature/);
    expect(text).toContain('X509v3 Authority Key Identifier');
    expect(text).toContain('X509v3 Subject Key Identifier');
    expect(issued.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    const serialOut = await openssl(['x509', '-in', leafPath, '-noout', '-serial']);
    expect(BigInt(`0x${serialOut.trim().split('=')[1]}`).toString(16)).toBe(issued.serial);
    expect(issued.serial).toMatch(/^[0-9a-f]+$/);
  });

  it('ok/DNS and IP SANs next to the one URI SAN', async () => {
    const keys = await generateKeyPair();
    const issued = await ca.issue({ id: 'spiffe://tollgate.local/api', dns: ['api.local'], ip: ['127.0.0.1', '::1'], ttlMs: 60_000, publicKey: keys.publicKey });
    const text = await openssl(['x509', '-noout', '-ext', 'subjectAltName'], { input: issued.certPem });
    expect(text).toContain('DNS:api.local');
    expect(text).toContain('IP Address:127.0.0.1');
    expect(text).toContain('IP Address:0:0:0:0:0:0:0:1');
    expect(text.match(/URI:/g)).toHaveLength(1);
  });

  it('error/CSR identity differs from the requested id', async () => {
    const { csrPath } = await opensslCsr(dir, 'other', 'URI:spiffe://tollgate.local/other');
    await expect(ca.issue({ id: 'spiffe://tollgate.local/web', ttlMs: 60_000, csrPem: await readFile(csrPath, 'utf8') })).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('error/id outside the trust domain', async () => {
    const keys = await generateKeyPair();
    await expect(ca.issue({ id: 'spiffe://evil.local/web', ttlMs: 60_000, publicKey: keys.publicKey })).rejects.toBeInstanceOf(CaError);
  });

  it('ok/revoke accepts upper case and colon forms; list shows it; reopening keeps it', async () => {
    const keys = await generateKeyPair();
    const issued = await ca.issue({ id: 'spiffe://tollgate.local/gone', ttlMs: 60_000, publicKey: keys.publicKey });
    const colon = issued.serial.padStart(issued.serial.length + (issued.serial.length % 2), '0').toUpperCase().match(/../g)!.join(':');
    const res = await ca.revoke(colon, 'key compromise');
    expect(res).toEqual({ serial: issued.serial, alreadyRevoked: false, known: true });
    expect((await ca.revoke(issued.serial.toUpperCase())).alreadyRevoked).toBe(true);
    expect(ca.isRevoked(issued.serial.toUpperCase())).toBe(true);
    const again = await openAuthority(join(dir, 'ca'), { clock: systemClock });
    expect(again.isRevoked(`00${issued.serial}`)).toBe(true);
    const listed = await again.list();
    expect(listed.find((c) => c.serial === issued.serial)?.revoked).toBe(true);
    expect(listed.find((c) => c.spiffeId === 'spiffe://tollgate.local/web')?.revoked).toBe(false);
  });

  it('ok/a token is single use, across reopening the authority', async () => {
    const { token } = await ca.createToken('spiffe://tollgate.local/web', 300_000);
    const claims = await ca.verifyToken(token);
    expect(claims.sub).toBe('spiffe://tollgate.local/web');
    await ca.consumeToken(claims.jti, claims.expMs);
    const reopened = await openAuthority(join(dir, 'ca'), { clock: systemClock });
    const again = await reopened.verifyToken(token);
    await expect(reopened.consumeToken(again.jti, again.expMs)).rejects.toMatchObject({ code: 'TOKEN_REUSED' });
  });

  it('error/init twice refuses; ensureCa opens the existing one', async () => {
    await expect(initAuthority(join(dir, 'ca'), { trustDomain: TD, clock: systemClock })).rejects.toMatchObject({ code: 'EXISTS' });
    const opened = await ensureCaAuthority(join(dir, 'ca'), TD, systemClock);
    expect(opened.rootPem).toBe(ca.rootPem);
    await expect(openAuthority(join(dir, 'ca'), { trustDomain: 'other.local', clock: systemClock })).rejects.toMatchObject({ code: 'MISMATCH' });
    await expect(openAuthority(join(dir, 'nothing'), { clock: systemClock })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('authority over time', () => {
  it('ok/renews the intermediate before it would expire; old chains stay valid', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
      const ca = await ensureCaAuthority(join(dir, 'ca'), TD, clock);
      const first = ca.intermediatePem;
      clock.advance(320 * 86_400_000);
      const keys = await generateKeyPair();
      const issued = await ca.issue({ id: 'spiffe://tollgate.local/late', ttlMs: 86_400_000, publicKey: keys.publicKey });
      expect(ca.intermediatePem).not.toBe(first);
      expect(issued.chainPem.endsWith(ca.intermediatePem)).toBe(true);
      const cert = parseCertificate(issued.certPem);
      expect(cert.notAfter.getTime()).toBeLessThan(ca.intermediateNotAfter.getTime());
    } finally {
      await cleanup();
    }
  });

  it('error/an expired token is rejected as unauthenticated', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
      const ca = await ensureCaAuthority(join(dir, 'ca'), TD, clock);
      const { token } = await ca.createToken('spiffe://tollgate.local/web', 300_000);
      clock.advance(6 * 60_000);
      const err = await ca.verifyToken(token).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe('UNAUTHENTICATED');
    } finally {
      await cleanup();
    }
  });
});
