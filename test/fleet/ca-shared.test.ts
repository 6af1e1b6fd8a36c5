/**
 * Two real gateway processes (`tollgate start`), each with its own copy of the CA keys (a mounted
 * secret) and its own CA directory, sharing the CA state through one real redis-server started here
 * (`store.type: redis`, append-only so a kill and restart keeps the data, as production must):
 *
 * - a one-time token redeemed at one replica is 409 TOKEN_REUSED at the other; 20 parallel attempts
 *   with one token at both → exactly one 201;
 * - a certificate issued at one replica renews at the other (the issued index is shared);
 * - `tollgate ca revoke --config …` (the real CLI), no signal: both replicas refuse the certificate
 *   within 1 s of the revocation, closing the connections already open with it;
 * - Redis killed: signing and renewal answer 503 CA_UNAVAILABLE (JSON, Retry-After), verification goes
 *   on with the last revocation list, nothing exits; Redis back: signing resumes (a token tried during
 *   the outage is still unspent), revocation too.
 */
import { generateKeyPairSync } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Agent } from 'undici';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CA_FILES, initAuthority, type Authority } from '../../src/ca/authority.js';
import { createCsr } from '../../src/ca/requests.js';
import { runCa, type CliContext } from '../../src/cli/commands/ca.js';
import { systemClock } from '../../src/core/clock.js';
import { runCli, spawnCli } from '../support/cli.js';
import { h1, h1Agent, h2, h2Session, type SimpleResponse } from '../support/clients.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';

const WEB = 'spiffe://tollgate.local/web';
const SIGN = '/.well-known/tollgate/ca/sign';
const CRL = '/.well-known/tollgate/ca/crl';
/** A CLI run from source on a loaded machine: tsx compiles first. */
const CLI_TIMEOUT_MS = 90_000;
const KEY_FILES = [CA_FILES.rootCert, CA_FILES.rootKey, CA_FILES.intermediateCert, CA_FILES.intermediateKey, CA_FILES.provisionerKey, CA_FILES.meta];

interface Replica {
  readonly name: string;
  readonly configPath: string;
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  readonly url: string;
  /** HTTP/1.1 without a client certificate (the CA API, open routes). */
  readonly agent: Agent;
}

interface Creds {
  readonly cert: string;
  readonly key: string;
  readonly serial: string;
}

function codeOf(res: SimpleResponse): string | undefined {
  try {
    return (JSON.parse(res.body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

describe('CA state shared by two gateway processes through one Redis', () => {
  let dir: string;
  let redis: TestRedis;
  let up: TestUpstream;
  let rootPem: string;
  let keys: Authority;
  const replicas: Replica[] = [];
  let a: Replica;
  let b: Replica;

  const webKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  let csr: string;

  async function start(name: string): Promise<Replica> {
    const home = join(dir, name);
    await mkdir(join(home, 'ca'), { recursive: true, mode: 0o700 });
    // Every replica gets the same key files, and no state files: the state is in Redis.
    for (const f of KEY_FILES) await copyFile(join(dir, 'master', f), join(home, 'ca', f));
    const configPath = join(home, 'gateway.yaml');
    await writeFile(
      configPath,
      stringify({
        listen: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        ca: { dir: './ca', renewal: { window: 1, maxPerHour: 100 } },
        // A generous command timeout: on a loaded machine a stalled event loop must not fake an outage
        // (a reply read after its timeout fired is a 503); the outage below is a real kill.
        store: { type: 'redis', redis: { url: redis.url, keyPrefix: 'fleet:', commandTimeout: '5s' } },
        limits: {
          // 19 refused attempts from one address are the point of the first test, not an attack.
          caFailuresPerIp: { count: 1000, per: '10m', block: '1s' },
          newConnectionsPerIp: { count: 0 },
          // Twenty signatures at once on a shared 2-core machine are not an overload to shed.
          overload: { maxEventLoopDelay: '0s' },
        },
        routes: [
          { name: 'protected', match: { pathPrefix: '/protected' }, upstream: 'app', auth: { mtls: { allow: [WEB] } } },
          { name: 'open', match: { pathPrefix: '/' }, upstream: 'app' },
        ],
        upstreams: { app: { targets: [{ url: up.url }] } },
      }),
    );
    const { child, lines, stderr } = spawnCli(['start', '--config', configPath]);
    // Generous: a process running from source compiles it first, slow on a loaded shared machine.
    const listening = await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`${name} exited ${child.exitCode}: ${stderr()}`);
        return lines.find((l) => l.msg === 'listening');
      },
      { timeoutMs: 120_000, what: `${name} listening` },
    );
    const r: Replica = { name, configPath, child, lines, url: String(listening.public), agent: h1Agent({ ca: rootPem }, { connections: 10 }) };
    replicas.push(r);
    return r;
  }

  async function token(): Promise<string> {
    return (await keys.createToken(WEB, 5 * 60_000)).token;
  }

  function sign(r: Replica, bearer: string): Promise<SimpleResponse> {
    return h1(r.agent, `${r.url}${SIGN}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ csr }),
    });
  }

  async function issueAt(r: Replica): Promise<Creds> {
    const res = await sign(r, await token());
    expect(res.status, res.body).toBe(201);
    const body = JSON.parse(res.body) as { chain: string; serial: string };
    return { cert: body.chain, key: webKey, serial: body.serial };
  }

  /** One request on a fresh connection presenting `c`. */
  async function fresh(r: Replica, c: Creds, path = '/protected/x'): Promise<number> {
    const agent = h1Agent({ ca: rootPem, cert: c.cert, key: c.key }, { connections: 1 });
    try {
      return (await h1(agent, `${r.url}${path}`)).status;
    } finally {
      await agent.close();
    }
  }

  function alive(): void {
    for (const r of replicas) expect(r.child.exitCode, `${r.name} exited`).toBeNull();
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-fleet-ca-'));
    await mkdir(join(dir, 'redis'));
    [redis, up] = await Promise.all([startRedis({ appendOnlyDir: join(dir, 'redis') }), startUpstream('app')]);
    // `tollgate ca init` once, as an operator would before mounting the keys into every replica.
    keys = await initAuthority(join(dir, 'master'), { trustDomain: 'tollgate.local', clock: systemClock });
    rootPem = await readFile(join(dir, 'master', CA_FILES.rootCert), 'utf8');
    csr = await createCsr({ keyPem: webKey, spiffeId: WEB });
    [a, b] = await Promise.all([start('a'), start('b')]);
  }, 180_000);

  afterAll(async () => {
    for (const r of replicas) {
      await r.agent.close();
      if (r.child.exitCode === null) {
        r.child.kill('SIGTERM');
        await new Promise((res) => r.child.once('exit', res));
      }
    }
    await up?.close();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('ok/a token redeemed at one replica is 409 TOKEN_REUSED at the other; 20 parallel attempts at both → exactly one 201', async () => {
    const once = await token();
    expect((await sign(a, once)).status).toBe(201);
    const again = await sign(b, once);
    expect(again.status).toBe(409);
    expect(codeOf(again)).toBe('TOKEN_REUSED');

    const shared = await token();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => sign(i % 2 === 0 ? a : b, shared)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 201), statuses.join(',')).toHaveLength(1);
    expect(statuses.filter((s) => s === 409), answers.filter((r) => r.status !== 409 && r.status !== 201).map((r) => r.body).join('\n')).toHaveLength(19);
    expect(answers.filter((r) => r.status === 409).every((r) => codeOf(r) === 'TOKEN_REUSED')).toBe(true);
    alive();
  }, 60_000);

  it('ok/a certificate issued at one replica renews at the other (one issued index)', async () => {
    const c = await issueAt(a);
    const agent = h1Agent({ ca: rootPem, cert: c.cert, key: c.key }, { connections: 1 });
    try {
      const res = await h1(agent, `${b.url}${SIGN}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ csr }) });
      expect(res.status, res.body).toBe(201);
    } finally {
      await agent.close();
    }
  }, 60_000);

  it('ok/`ca revoke` with no signal: both replicas refuse the certificate within 1 s, closing the connections open with it', async () => {
    const c = await issueAt(a);
    const opened = await Promise.all(
      [a, b].map(async (r) => ({
        r,
        agent: h1Agent({ ca: rootPem, cert: c.cert, key: c.key }, { connections: 1 }),
        session: await h2Session(r.url, { ca: rootPem, cert: c.cert, key: c.key }),
      })),
    );
    const sessions: ClientHttp2Session[] = opened.map((o) => o.session);
    try {
      for (const o of opened) {
        expect((await h1(o.agent, `${o.r.url}/protected/1`)).status).toBe(200);
        expect((await h2(o.session, '/protected/1')).status).toBe(200);
      }
      const reloadsBefore = replicas.map((r) => r.lines.filter((l) => l.msg === 'config reloaded').length);
      const cli = await runCli(['ca', 'revoke', c.serial.toUpperCase(), '--config', b.configPath, '--reason', 'key compromise'], { timeoutMs: CLI_TIMEOUT_MS });
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.stdout).toContain(`revoked ${c.serial}`);
      expect(cli.stderr).toMatch(/within a second/);
      // `ca list` with the config reads the shared index and list (in process: same code as the binary).
      let listed = '';
      const ctx: CliContext = { stdout: { write: (x: string) => (listed += x) }, stderr: { write: () => true }, clock: systemClock };
      expect(await runCa(['list', '--config', a.configPath], ctx)).toBe(0);
      expect(listed.split('\n').find((l) => l.startsWith(c.serial))).toMatch(/ yes$/);

      // The open connections: the next request closes them (h1: the request fails; h2: the session ends).
      for (const o of opened) {
        await waitFor(async () => h1(o.agent, `${o.r.url}/protected/2`).then((res) => res.status !== 200, () => true), {
          timeoutMs: 10_000,
          intervalMs: 20,
          what: `${o.r.name}: h1 connection refused`,
        });
        await waitFor(async () => h2(o.session, '/protected/2').then((res) => Number.isNaN(res.status) || res.status !== 200, () => true), {
          timeoutMs: 10_000,
          intervalMs: 20,
          what: `${o.r.name}: h2 session refused`,
        });
        await waitFor(() => o.session.closed || o.session.destroyed, { timeoutMs: 10_000, what: `${o.r.name}: h2 session closed` });
        // A new connection with it is anonymous: 401 on the mTLS route.
        expect(await fresh(o.r, c)).toBe(401);
      }

      // Within 1 s: when each replica put the list in force (its log line) after the revocation was written.
      const crl = JSON.parse((await h1(a.agent, `${a.url}${CRL}`)).body) as { revoked: { serial: string; revokedAt: string }[] };
      const entry = crl.revoked.find((e) => e.serial === c.serial);
      const lags: string[] = [];
      expect(entry).toBeDefined();
      for (const r of replicas) {
        // The line comes through the child's stdout, which may trail the closed connections seen above.
        const line = await waitFor(() => r.lines.find((l) => l.msg === 'revocation list updated' && Date.parse(String(l.time)) >= Date.parse(entry!.revokedAt) - 5), {
          timeoutMs: 10_000,
          what: `${r.name} logged the update`,
        });
        const lagMs = Date.parse(String(line!.time)) - Date.parse(entry!.revokedAt);
        expect(lagMs, `${r.name} applied the revocation ${lagMs} ms after it was written (${String(line!.source)})`).toBeLessThan(1000);
        lags.push(`${r.name} ${lagMs} ms (${String(line!.source)})`);
      }
      console.log(`[fleet] revocation in force after: ${lags.join(', ')}`);
      // No reload happened: no signal, no POST /reload.
      expect(replicas.map((r) => r.lines.filter((l) => l.msg === 'config reloaded').length)).toEqual(reloadsBefore);
      alive();
    } finally {
      for (const s of sessions) s.destroy();
      for (const o of opened) await o.agent.close();
    }
  }, 240_000);

  it('ok/Redis killed: signing and renewal 503 CA_UNAVAILABLE, verification keeps the last list, nothing exits; back: everything resumes', async () => {
    const valid = await issueAt(a);
    const revoked = await issueAt(b);
    const cli = await runCli(['ca', 'revoke', revoked.serial, '--config', a.configPath], { timeoutMs: CLI_TIMEOUT_MS });
    expect(cli.code, cli.stderr).toBe(0);
    for (const r of replicas) await waitFor(async () => (await fresh(r, revoked)) === 401, { timeoutMs: 10_000, what: `${r.name} refuses` });
    const pending = await token();

    const count = (r: Replica, msg: string): number => r.lines.filter((l) => l.msg === msg).length;
    const DOWN = 'CA state store unreachable; signing refused, verification keeps the last revocation list';
    const BACK = 'CA state store back; signing resumed';
    const downBefore = replicas.map((r) => count(r, DOWN));
    redis.kill();
    for (const [i, r] of replicas.entries()) {
      await waitFor(() => count(r, DOWN) > (downBefore[i] as number), {
        timeoutMs: 15_000,
        what: `${r.name} notices the outage`,
      });
    }
    for (const r of replicas) {
      const res = await sign(r, pending);
      expect(res.status, res.body).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(codeOf(res)).toBe('CA_UNAVAILABLE');
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      // Renewal by certificate needs the shared index: refused the same way.
      const agent = h1Agent({ ca: rootPem, cert: valid.cert, key: valid.key }, { connections: 1 });
      try {
        const renew = await h1(agent, `${r.url}${SIGN}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ csr }) });
        expect(renew.status).toBe(503);
        expect(codeOf(renew)).toBe('CA_UNAVAILABLE');
      } finally {
        await agent.close();
      }
      // Verification goes on, with the revocation list as last read.
      expect(await fresh(r, valid)).toBe(200);
      expect(await fresh(r, revoked)).toBe(401);
      expect(await fresh(r, revoked, '/open/x')).toBe(200);
      const crl = JSON.parse((await h1(r.agent, `${r.url}${CRL}`)).body) as { revoked: { serial: string }[] };
      expect(crl.revoked.map((e) => e.serial)).toContain(revoked.serial);
    }
    // The CLI says so and changes nothing.
    const refused = await runCli(['ca', 'revoke', valid.serial, '--config', a.configPath], { timeoutMs: CLI_TIMEOUT_MS });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/unreachable/);
    alive();

    const backBefore = replicas.map((r) => count(r, BACK));
    await redis.restart();
    for (const [i, r] of replicas.entries()) {
      await waitFor(() => count(r, BACK) > (backBefore[i] as number), { timeoutMs: 20_000, what: `${r.name} back` });
    }
    // The token tried during the outage was never spent.
    const resumed = await sign(b, pending);
    expect(resumed.status, resumed.body).toBe(201);
    expect(codeOf(await sign(a, pending))).toBe('TOKEN_REUSED');
    for (const r of replicas) expect(await fresh(r, revoked)).toBe(401);
    const after = await runCli(['ca', 'revoke', valid.serial, '--config', b.configPath], { timeoutMs: CLI_TIMEOUT_MS });
    expect(after.code, after.stderr).toBe(0);
    for (const r of replicas) await waitFor(async () => (await fresh(r, valid)) === 401, { timeoutMs: 10_000, what: `${r.name} refuses after the outage` });
    alive();
    // Nothing logged a crash-worthy error besides the outage itself.
    for (const r of replicas) expect(r.lines.filter((l) => l.msg === 'CA API failure')).toEqual([]);
  }, 300_000);

  it('ok/both replicas stop cleanly', async () => {
    // Kept open until here by afterAll's order; this checks the exit code of a drain with the CA state open.
    const codes = await Promise.all(
      replicas.map(
        (r) =>
          new Promise<number | null>((res) => {
            r.child.once('exit', (code) => res(code));
            r.child.kill('SIGTERM');
          }),
      ),
    );
    expect(codes).toEqual([0, 0]);
  }, 60_000);
});
