import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCa } from '../../src/cli/commands/ca.js';
import type { CliContext } from '../../src/cli/commands/ca.js';
import { UsageError, UserError } from '../../src/cli/errors.js';
import { systemClock } from '../../src/core/clock.js';
import { openssl, tempDir } from './support.js';

function ctx(): CliContext & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    clock: systemClock,
    out: () => out,
    err: () => err,
  };
}

describe('tollgate ca', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let caDir: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('tollgate-cli-'));
    caDir = join(dir, 'ca');
  });
  afterAll(() => cleanup());

  it('ok/init creates the CA with 0600 keys; a second init refuses (user error)', async () => {
    const c = ctx();
    expect(await runCa(['init', '--dir', caDir, '--trust-domain', 'tollgate.local'], c)).toBe(0);
    expect(c.out()).toContain('trust domain tollgate.local');
    for (const f of ['root.key', 'intermediate.key', 'provisioner.key']) expect((await stat(join(caDir, f))).mode & 0o777).toBe(0o600);
    const again = await runCa(['init', '--dir', caDir], ctx()).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(UserError);
    expect((again as Error).message).toMatch(/refusing to overwrite/);
  });

  it('ok/issue writes PREFIX.key (0600) and PREFIX.crt (leaf + intermediate) and prints serial and expiry', async () => {
    const c = ctx();
    const out = join(dir, 'out', 'web');
    expect(await runCa(['issue', '--dir', caDir, '--id', 'spiffe://tollgate.local/web', '--dns', 'web.local', '--ip', '10.0.0.1', '--ttl', '2h', '--out', out], c)).toBe(0);
    const m = /^serial: ([0-9a-f]+)\nnotAfter: (\S+)\n$/.exec(c.out());
    expect(m).not.toBeNull();
    expect((await stat(`${out}.key`)).mode & 0o777).toBe(0o600);
    const chain = await readFile(`${out}.crt`, 'utf8');
    expect(chain.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    const verified = await openssl(['verify', '-CAfile', join(caDir, 'root.crt'), '-untrusted', `${out}.crt`, `${out}.crt`]);
    expect(verified).toContain('OK');
    const text = await openssl(['x509', '-in', `${out}.crt`, '-noout', '-text', '-serial']);
    expect(text).toContain('URI:spiffe://tollgate.local/web');
    expect(text).toContain('DNS:web.local');
    expect(text).toContain('IP Address:10.0.0.1');
    const serial = /serial=([0-9A-F]+)/.exec(text)![1]!;
    expect(BigInt(`0x${serial}`).toString(16)).toBe(m![1]);
    // The key and the certificate belong together.
    const pub1 = await openssl(['pkey', '-in', `${out}.key`, '-pubout']);
    const pub2 = await openssl(['x509', '-in', `${out}.crt`, '-noout', '-pubkey']);
    expect(pub1).toBe(pub2);
  });

  it('ok/token prints a JWT for the identity', async () => {
    const c = ctx();
    expect(await runCa(['token', '--dir', caDir, '--id', 'spiffe://tollgate.local/web'], c)).toBe(0);
    const claims = decodeJwt(c.out().trim());
    expect(claims.sub).toBe('spiffe://tollgate.local/web');
    expect(claims.exp! - claims.iat!).toBe(300);
  });

  it('ok/revoke accepts upper-case colon form; list shows the certificate revoked', async () => {
    const issue = ctx();
    await runCa(['issue', '--dir', caDir, '--id', 'spiffe://tollgate.local/gone', '--out', join(dir, 'gone')], issue);
    const serial = /serial: ([0-9a-f]+)/.exec(issue.out())![1]!;
    const even = serial.length % 2 ? `0${serial}` : serial;
    const colon = even.toUpperCase().match(/../g)!.join(':');
    const c = ctx();
    expect(await runCa(['revoke', colon, '--dir', caDir, '--reason', 'test'], c)).toBe(0);
    expect(c.out()).toBe(`revoked ${serial}\n`);
    const list = ctx();
    expect(await runCa(['list', '--dir', caDir], list)).toBe(0);
    const lines = list.out().trim().split('\n');
    expect(lines[0]).toMatch(/^SERIAL\s+IDENTITY\s+NOT AFTER\s+REVOKED$/);
    expect(lines.find((l) => l.startsWith(serial))).toMatch(/spiffe:\/\/tollgate\.local\/gone\s+\S+\s+yes$/);
    expect(lines.find((l) => l.includes('/web'))).toMatch(/no$/);
  });

  it('ok/--config gives ca.dir (relative to the config file) and the trust domain', async () => {
    const cfgDir = join(dir, 'cfg');
    await mkdir(cfgDir, { recursive: true });
    await writeFile(join(cfgDir, 'gateway.yaml'), 'ca:\n  dir: myca\n  trustDomain: example.test\n');
    const c = ctx();
    expect(await runCa(['init', '--config', join(cfgDir, 'gateway.yaml')], c)).toBe(0);
    expect(c.out()).toContain('example.test');
    expect((await stat(join(cfgDir, 'myca', 'root.crt'))).isFile()).toBe(true);
    const t = ctx();
    await runCa(['token', '--config', join(cfgDir, 'gateway.yaml'), '--id', 'spiffe://example.test/x'], t);
    expect(decodeJwt(t.out().trim()).sub).toBe('spiffe://example.test/x');
  });

  it.each([
    ['error/unknown option', ['list', '--dir', 'x', '--bogus']],
    ['error/unknown command', ['frobnicate']],
    ['error/no command', []],
    ['error/missing --id', ['issue', '--out', 'x']],
    ['error/malformed --ttl', ['token', '--id', 'spiffe://tollgate.local/web', '--ttl', 'soon']],
    ['error/malformed serial', ['revoke', 'xyz']],
    ['error/revoke without serial', ['revoke']],
  ])('%s is a usage error', async (_name, argv) => {
    await expect(runCa(argv, ctx())).rejects.toBeInstanceOf(UsageError);
  });

  it('error/id outside the trust domain, and a missing CA, are user errors', async () => {
    await expect(runCa(['token', '--dir', caDir, '--id', 'spiffe://other.local/web'], ctx())).rejects.toBeInstanceOf(UserError);
    const missing = await runCa(['list', '--dir', join(dir, 'nope')], ctx()).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(UserError);
    expect((missing as Error).message).toContain('tollgate ca init');
  });

  it('ok/--help everywhere', async () => {
    for (const argv of [['--help'], ['init', '--help'], ['issue', '-h'], ['token', '--help'], ['revoke', '--help'], ['list', '--help']]) {
      const c = ctx();
      expect(await runCa(argv, c)).toBe(0);
      expect(c.out()).toMatch(/^Usage: tollgate ca/);
    }
  });
});
