/**
 * Several serving certificates chosen by SNI (`tls.certificates`): three names (exact from the
 * certificate, exact from `serverNames`, a wildcard), the built-in certificate as fallback, checked
 * with node's TLS client and with `openssl s_client -servername`; hot reload on file change (atomic
 * rename, Kubernetes-style symlink swap), a refused change keeping what is in force; /status and the
 * expiry metric per certificate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { initAuthority, type Authority } from '../../src/ca/authority.js';
import { systemClock } from '../../src/core/clock.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';
import { RELAXED_GUARD, workload, type Workload } from '../identity/support.js';
import { httpGet, sClient } from '../identity/openssl.js';

const ID = 'spiffe://tollgate.local/edge';

function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber.toLowerCase().replace(/^0+/, '');
}

/** One handshake with `servername` (none when undefined); the served leaf's serial and the ALPN. */
function served(port: number, ca: string, servername: string | undefined, alpn = ['h2', 'http/1.1']): Promise<{ serial: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const s = connect({
      host: '127.0.0.1',
      port,
      ca,
      ALPNProtocols: alpn,
      ...(servername === undefined ? { checkServerIdentity: () => undefined } : { servername }),
    });
    s.once('secureConnect', () => {
      const r = { serial: s.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, ''), alpn: s.alpnProtocol };
      s.destroy();
      resolve(r);
    });
    s.once('error', reject);
  });
}

async function writePair(dir: string, name: string, w: Workload): Promise<{ cert: string; key: string }> {
  await mkdir(dir, { recursive: true });
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await writeFile(cert, w.cert);
  await writeFile(key, w.key, { mode: 0o600 });
  return { cert, key };
}

/** Replaces `path` the way deploy tools do: write a temp file beside it, rename over. */
async function atomicWrite(path: string, text: string, mode = 0o644): Promise<void> {
  await writeFile(`${path}.tmp`, text, { mode });
  await rename(`${path}.tmp`, path);
}

describe('SNI: several serving certificates', () => {
  let dir: string;
  let authority: Authority;
  let up: TestUpstream;
  let t: TestGateway;
  let a: Workload;
  let b: Workload;
  let wild: Workload;
  let fallbackSerial: string;
  let config: Record<string, unknown>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-sni-'));
    authority = await initAuthority(join(dir, 'ca'), { trustDomain: 'tollgate.local', clock: systemClock });
    a = await workload(authority, ID, { dns: ['a.example.test'] });
    // not-used.example.test is in the certificate but not in serverNames: not chosen by SNI
    b = await workload(authority, ID, { dns: ['b.example.test', 'alias.example.test', 'not-used.example.test'] });
    wild = await workload(authority, ID, { dns: ['*.wild.example.test'] });
    const pa = await writePair(join(dir, 'certs'), 'a', a);
    const pw = await writePair(join(dir, 'certs'), 'wild', wild);
    // b lives in a Kubernetes-style secret volume: b.crt -> ..data/b.crt, ..data -> ..v1
    const vol = join(dir, 'vol');
    await writePair(join(vol, '..v1'), 'b', b);
    await symlink('..v1', join(vol, '..data'));
    await symlink(join('..data', 'b.crt'), join(vol, 'b.crt'));
    await symlink(join('..data', 'b.key'), join(vol, 'b.key'));
    up = await startUpstream('up');
    config = {
      routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'up' }],
      upstreams: { up: { targets: [{ url: up.url }] } },
      tls: {
        certificates: [
          { cert: pa.cert, key: pa.key },
          { cert: join(vol, 'b.crt'), key: join(vol, 'b.key'), serverNames: ['b.example.test', 'alias.example.test'] },
          { cert: pw.cert, key: pw.key },
        ],
      },
    };
    t = await startTestGateway(config, { dir, edgeGuard: RELAXED_GUARD });
    fallbackSerial = (await served(t.gw.publicPort, t.rootPem, 'localhost')).serial;
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ok/SNI picks the right certificate for three names, hostname verified, ALPN h2', async () => {
    const port = t.gw.publicPort;
    expect(await served(port, t.rootPem, 'a.example.test')).toEqual({ serial: a.serial, alpn: 'h2' });
    expect(await served(port, t.rootPem, 'b.example.test')).toEqual({ serial: b.serial, alpn: 'h2' });
    expect(await served(port, t.rootPem, 'alias.example.test', ['http/1.1'])).toEqual({ serial: b.serial, alpn: 'http/1.1' });
    expect(await served(port, t.rootPem, 'x.wild.example.test')).toEqual({ serial: wild.serial, alpn: 'h2' });
    expect(new Set([a.serial, b.serial, wild.serial, fallbackSerial]).size).toBe(4);
  });

  it('ok/unknown SNI, no SNI, and a name the wildcard does not cover get the built-in certificate', async () => {
    const port = t.gw.publicPort;
    expect((await served(port, t.rootPem, undefined)).serial).toBe(fallbackSerial);
    expect((await served(port, t.rootPem, 'localhost')).serial).toBe(fallbackSerial);
    // serverNames replaces the names read from the certificate
    await expect(served(port, t.rootPem, 'not-used.example.test')).rejects.toThrow(/altnames|Hostname/i);
    await expect(served(port, t.rootPem, 'a.b.wild.example.test')).rejects.toThrow(/altnames|Hostname/i);
  });

  it('ok/openssl s_client -servername sees each certificate verified for its name and is served', async () => {
    const caFile = join(dir, 'root.pem');
    await writeFile(caFile, t.rootPem);
    for (const [name, want] of [
      ['a.example.test', a.serial],
      ['b.example.test', b.serial],
      ['y.wild.example.test', wild.serial],
    ] as const) {
      const r = await sClient(t.gw.publicPort, ['-servername', name, '-verify_hostname', name, '-CAfile', caFile, '-alpn', 'http/1.1'], httpGet('/', name));
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.out)?.[0] ?? '';
      expect(serialOf(pem), name).toBe(want);
      expect(r.out, name).toMatch(/Verify return code: 0 \(ok\)/);
      expect(r.out, name).toMatch(/HTTP\/1\.1 200/);
    }
  });

  it('ok/a client certificate gives the same identity with an SNI certificate as without SNI', async () => {
    const client = await writePair(join(dir, 'client'), 'web', await workload(authority, 'spiffe://tollgate.local/web'));
    const chain = join(dir, 'client', 'web.chain.crt');
    await writeFile(chain, (await readFile(client.cert, 'utf8')).split(/(?=-----BEGIN CERTIFICATE-----)/).slice(1).join(''));
    const args = ['-cert', client.cert, '-key', client.key, '-cert_chain', chain, '-alpn', 'http/1.1'];
    for (const sni of [['-servername', 'a.example.test'], ['-noservername']]) {
      const n = up.seen.length;
      const r = await sClient(t.gw.publicPort, [...sni, ...args], httpGet('/whoami', 'a.example.test'));
      expect(r.out, sni.join(' ')).toMatch(/HTTP\/1\.1 200/);
      expect(String(up.seen[n]?.headers['x-forwarded-client-cert']), sni.join(' ')).toContain('URI=spiffe://tollgate.local/web');
    }
  });

  it('ok/status and the expiry metric show each certificate', async () => {
    const status = (await (await fetch(`${t.adminUrl}/status`)).json()) as { certificates: Record<string, { notAfter: string; serverNames?: string[] }> };
    expect(status.certificates['sni:a.example.test']).toMatchObject({ serverNames: ['a.example.test'], notAfter: new Date(new X509Certificate(a.cert).validTo).toISOString() });
    expect(status.certificates['sni:b.example.test']).toMatchObject({ serverNames: ['b.example.test', 'alias.example.test'] });
    expect(status.certificates['sni:*.wild.example.test']).toMatchObject({ serverNames: ['*.wild.example.test'] });
    expect(status.certificates.serving).toBeDefined();
    const metrics = await (await fetch(`${t.adminUrl}/metrics`)).text();
    const expiry = Math.floor(Date.parse(new X509Certificate(wild.cert).validTo) / 1000);
    expect(metrics).toContain(`tollgate_certificate_expiry_timestamp_seconds{cert="sni:*.wild.example.test"} ${expiry}`);
    expect(metrics).toMatch(/tollgate_certificate_expiry_timestamp_seconds\{cert="sni:a\.example\.test"\} \d+/);
  });

  it('ok/a certificate replaced on disk (atomic rename) is served without SIGHUP', async () => {
    const next = await workload(authority, ID, { dns: ['a.example.test'] });
    await atomicWrite(join(dir, 'certs', 'a.key'), next.key, 0o600);
    await atomicWrite(join(dir, 'certs', 'a.crt'), next.cert);
    await waitFor(async () => (await served(t.gw.publicPort, t.rootPem, 'a.example.test')).serial === next.serial, { timeoutMs: 15_000, what: 'the new a certificate' });
    expect((await served(t.gw.publicPort, t.rootPem, 'b.example.test')).serial).toBe(b.serial);
    a = next;
  });

  it('ok/a Kubernetes-style symlink swap is served without SIGHUP', async () => {
    const next = await workload(authority, ID, { dns: ['b.example.test', 'alias.example.test'] });
    const vol = join(dir, 'vol');
    await writePair(join(vol, '..v2'), 'b', next);
    await symlink('..v2', join(vol, '..data_tmp'));
    await rename(join(vol, '..data_tmp'), join(vol, '..data'));
    await waitFor(async () => (await served(t.gw.publicPort, t.rootPem, 'b.example.test')).serial === next.serial, { timeoutMs: 15_000, what: 'the swapped b certificate' });
    b = next;
  });

  it('error/a changed file that does not fit its key is refused; the certificate in force stays', async () => {
    const other = await workload(authority, ID, { dns: ['a.example.test'] });
    const refusals = (): number => t.logs.find({ msg: 'certificate files changed but cannot be used; the certificates in force stay', level: 'warn' }).length;
    const before = refusals();
    // the certificate alone, with the old key still beside it
    await atomicWrite(join(dir, 'certs', 'a.crt'), other.cert);
    await waitFor(() => refusals() > before, { timeoutMs: 15_000, what: 'the refusal log' });
    expect((await served(t.gw.publicPort, t.rootPem, 'a.example.test')).serial).toBe(a.serial);
    // the key follows: now the pair fits and is served
    await atomicWrite(join(dir, 'certs', 'a.key'), other.key, 0o600);
    await waitFor(async () => (await served(t.gw.publicPort, t.rootPem, 'a.example.test')).serial === other.serial, { timeoutMs: 15_000, what: 'the completed pair' });
    a = other;
  });

  it('error/a reload naming a key that does not fit is refused and changes nothing', async () => {
    const certs = (config.tls as { certificates: { cert: string; key: string }[] }).certificates;
    await t.writeConfig({ ...config, tls: { certificates: [{ cert: certs[0]?.cert, key: join(dir, 'certs', 'wild.key') }, ...certs.slice(1)] } });
    const r = await t.gw.reload();
    expect(r.result).toBe('failure');
    expect(r.error).toMatch(/tls\.certificates\[0\]/);
    expect((await served(t.gw.publicPort, t.rootPem, 'a.example.test')).serial).toBe(a.serial);
    expect((await served(t.gw.publicPort, t.rootPem, 'x.wild.example.test')).serial).toBe(wild.serial);
  });

  it('ok/a reload that drops certificates serves the fallback for their names', async () => {
    const certs = (config.tls as { certificates: unknown[] }).certificates;
    await t.writeConfig({ ...config, tls: { certificates: certs.slice(2) } });
    expect((await t.gw.reload()).result).toBe('success');
    expect((await served(t.gw.publicPort, t.rootPem, undefined)).serial).toBe(fallbackSerial);
    expect((await served(t.gw.publicPort, t.rootPem, 'x.wild.example.test')).serial).toBe(wild.serial);
    await expect(served(t.gw.publicPort, t.rootPem, 'a.example.test')).rejects.toThrow(/altnames|Hostname/i);
    const status = (await (await fetch(`${t.adminUrl}/status`)).json()) as { certificates: Record<string, unknown> };
    expect(Object.keys(status.certificates).filter((k) => k.startsWith('sni:'))).toEqual(['sni:*.wild.example.test']);
    expect(await readFile(join(dir, 'certs', 'a.crt'), 'utf8')).toBe(a.cert);
  });
});
