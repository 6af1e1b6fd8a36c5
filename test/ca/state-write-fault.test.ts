/**
 * The CA's disk fills up under a running gateway. The CA's writes go through store.ts's file
 * operations, which the test swaps (setStoreFsForTests) for a disk with N bytes left: a write gets
 * that many bytes onto the file, then ENOSPC, exactly as write(2) on a full file system. Expected:
 * POST /sign answers 503 CA_UNAVAILABLE with Retry-After, one clear error log line names the file
 * and the errno, no temp file or lock is left behind, the state files keep their old bytes, the read
 * endpoints and proxied traffic keep serving, and once space is back the same token signs.
 */
import { promises as fs } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { setStoreFsForTests, type StoreFs } from '../../src/ca/store.js';
import { runCa, type CliContext } from '../../src/cli/commands/ca.js';
import { systemClock } from '../../src/core/clock.js';
import { opensslCsr } from './support.js';
import { h1, h1Agent, h2, h2Session, type SimpleResponse } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { RELAXED_GUARD } from '../identity/support.js';
import { waitFor } from '../support/wait.js';

const PREFIX = '/.well-known/tollgate/ca';
const WEB = 'spiffe://tollgate.local/web';
const STATE_FILES = ['issued.json', 'tokens.json', 'revoked.json'];

/** A file system with `bytesLeft` bytes free for the files under `dir` (shared by every write until reset). */
function fullDisk(dir: string, bytesLeft: number): StoreFs & { failures: () => number } {
  let left = bytesLeft;
  let failures = 0;
  const enospc = (): NodeJS.ErrnoException => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
  const open = (async (path: Parameters<typeof fs.open>[0], flags?: string | number, mode?: number) => {
    const fh = await fs.open(path, flags, mode);
    if (!String(path).startsWith(dir)) return fh;
    return new Proxy(fh, {
      get(target, prop) {
        if (prop === 'writeFile') {
          return async (data: string | Uint8Array) => {
            const buf = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
            const n = Math.min(left, buf.length);
            if (n > 0) await target.write(buf.subarray(0, n));
            left -= n;
            if (n < buf.length) {
              failures++;
              throw enospc();
            }
          };
        }
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }) as typeof fs.open;
  return { open, rename: fs.rename, rm: fs.rm, link: fs.link, failures: () => failures };
}

function ctx(): CliContext & { out: () => string } {
  let out = '';
  return { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, clock: systemClock, out: () => out };
}

describe('CA state file write failure (disk full)', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let caDir: string;
  let agent: Agent;

  beforeAll(async () => {
    up = await startUpstream('app');
    t = await startTestGateway(
      {
        routes: [{ name: 'all', match: { pathPrefix: '/app' }, upstream: 'app' }],
        upstreams: { app: { targets: [{ url: up.url }] } },
      },
      { edgeGuard: RELAXED_GUARD },
    );
    caDir = join(t.dir, 'ca');
    agent = h1Agent({ ca: t.rootPem });
  });
  afterEach(() => setStoreFsForTests());
  afterAll(async () => {
    setStoreFsForTests();
    await agent?.close();
    await t?.stop();
    await up?.close();
  });

  async function token(): Promise<string> {
    const c = ctx();
    expect(await runCa(['token', '--dir', caDir, '--id', WEB, '--ttl', '10m'], c)).toBe(0);
    return c.out().trim();
  }

  async function csr(name: string): Promise<string> {
    return readFile((await opensslCsr(t.dir, name, `URI:${WEB}`)).csrPath, 'utf8');
  }

  const sign = (csrPem: string, tok: string): Promise<SimpleResponse> =>
    h1(agent, `${t.url}${PREFIX}/sign`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` }, body: JSON.stringify({ csr: csrPem }) });

  const snapshot = async (): Promise<Record<string, string>> => Object.fromEntries(await Promise.all(STATE_FILES.map(async (f) => [f, await readFile(join(caDir, f), 'utf8')] as const)));
  /** Dotfiles of the CA dir: temp files of a write, the lock and its temp files. */
  const leftovers = async (): Promise<string[]> => (await readdir(caDir)).filter((f) => f.startsWith('.'));

  /** Signing refused with 503 CA_UNAVAILABLE while the disk is full; returns the request id. */
  async function expectUnavailable(res: SimpleResponse): Promise<string> {
    expect(res.status, res.body).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['retry-after']).toBe('30');
    const body = JSON.parse(res.body) as { error: { code: string; message: string; requestId: string } };
    expect(body.error.code).toBe('CA_UNAVAILABLE');
    // The public message names no path or errno.
    expect(body.error.message).not.toMatch(/ENOSPC|json|\//);
    return body.error.requestId;
  }

  it('ok/baseline: a certificate is signed and recorded', async () => {
    const res = await sign(await csr('base'), await token());
    expect(res.status).toBe(201);
    expect((await snapshot())['issued.json']).toContain(JSON.parse(res.body).serial);
  });

  it('error/a state file write hits ENOSPC mid-file: 503 CA_UNAVAILABLE, one clear log line, no temp file, old state intact and serving; the token signs once space is back', async () => {
    const before = await snapshot();
    const tok = await token();
    const pem = await csr('full');
    // 64 bytes left: the lock's pid fits, a state file does not.
    const disk = fullDisk(caDir, 64);
    setStoreFsForTests(disk);
    const requestId = await expectUnavailable(await sign(pem, tok));
    expect(disk.failures()).toBe(1);

    // The log says what failed, which file and why.
    const failure = await waitFor(() => t.logs.lines.find((l) => l.msg === 'CA API failure' && l.requestId === requestId), { what: 'the failure log line' });
    expect(failure.level).toBe('error');
    expect((failure.err as { message: string }).message).toMatch(/^CA state tokens\.json not written \(ENOSPC: no space left on device, write\); the previous file is kept/);
    await waitFor(() => t.logs.lines.find((l) => l.msg === 'request' && l.requestId === requestId && l.status === 503 && l.code === 'CA_UNAVAILABLE'), { what: 'the access line' });

    // Nothing half-written replaced anything, and nothing is left behind.
    expect(await snapshot()).toEqual(before);
    expect(await leftovers()).toEqual([]);
    for (const f of STATE_FILES) JSON.parse(before[f]!);

    // The old state still serves: roots and CRL over both protocols, proxied traffic.
    expect((await h1(agent, `${t.url}${PREFIX}/roots`)).body).toBe(t.rootPem);
    const session = await h2Session(t.url, { ca: t.rootPem });
    try {
      expect((await h2(session, `${PREFIX}/crl`)).status).toBe(200);
      expect((await h2(session, '/app/x')).status).toBe(200);
    } finally {
      session.close();
    }
    expect((await h1(agent, `${t.url}/app/y`)).status).toBe(200);

    // Still full: refused again, still nothing changed.
    await expectUnavailable(await sign(pem, tok));
    expect(await snapshot()).toEqual(before);

    // Space is back: the same token was never consumed and signs now.
    setStoreFsForTests();
    const ok = await sign(pem, tok);
    expect(ok.status, ok.body).toBe(201);
    const after = await snapshot();
    expect(after['issued.json']).toContain(JSON.parse(ok.body).serial);
    expect(await leftovers()).toEqual([]);
  });

  it('error/no byte left (the lock itself cannot be written): 503 CA_UNAVAILABLE, no lock or temp file left, the CA works after', async () => {
    const before = await snapshot();
    const tok = await token();
    const pem = await csr('zero');
    setStoreFsForTests(fullDisk(caDir, 0));
    const requestId = await expectUnavailable(await sign(pem, tok));
    const failure = await waitFor(() => t.logs.lines.find((l) => l.msg === 'CA API failure' && l.requestId === requestId), { what: 'the failure log line' });
    expect((failure.err as { message: string }).message).toMatch(/^CA state \.lock not written \(ENOSPC/);
    expect(await snapshot()).toEqual(before);
    expect(await leftovers()).toEqual([]);
    setStoreFsForTests();
    expect((await sign(pem, tok)).status).toBe(201);
  });

  it('error/revocation on a full disk fails without touching revoked.json (CLI), and the running CRL is unchanged', async () => {
    const before = await snapshot();
    const serial = (JSON.parse(before['issued.json']!) as { certificates: Array<{ serial: string }> }).certificates[0]!.serial;
    setStoreFsForTests(fullDisk(caDir, 16));
    const c = ctx();
    await expect(runCa(['revoke', serial, '--dir', caDir], c)).rejects.toThrow(/CA state revoked\.json not written \(ENOSPC/);
    setStoreFsForTests();
    expect(await snapshot()).toEqual(before);
    expect(await leftovers()).toEqual([]);
    const crl = JSON.parse((await h1(agent, `${t.url}${PREFIX}/crl`)).body) as { revoked: unknown[] };
    expect(crl.revoked).toEqual([]);
  });
});
