/**
 * SIGHUP (gw.reload(), and once the real signal) re-reads tls.cert/key files, tls.clientCAs and the
 * revocation list, without closing connections (SPEC §6).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Agent } from 'undici';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initAuthority, openAuthority, type Authority } from '../../src/ca/authority.js';
import { runCa, type CliContext } from '../../src/cli/commands/ca.js';
import { systemClock } from '../../src/core/clock.js';
import { spawnCli } from '../support/cli.js';
import { h1, h1Agent, h2, h2Session } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';
import { foreignAuthority, handshake, RELAXED_GUARD, workload, type Workload } from './support.js';

const WEB = 'spiffe://tollgate.local/web';
const PARTNER_WEB = 'spiffe://partner.example/web';
const quiet: CliContext = { stdout: { write: () => true }, stderr: { write: () => true }, clock: systemClock };

describe('reload re-reads certificates, client CAs and revocations', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let dir: string;
  let ca: Authority;
  let foreign: Authority;
  let config: (extra: Record<string, unknown>) => Record<string, unknown>;

  async function writeServing(name: string): Promise<string> {
    const w = await workload(ca, 'spiffe://tollgate.local/tollgate', { dns: ['localhost'], ip: ['127.0.0.1'] });
    await writeFile(join(dir, `${name}.crt`), w.cert);
    await writeFile(join(dir, `${name}.key`), w.key, { mode: 0o600 });
    return w.serial;
  }

  beforeAll(async () => {
    up = await startUpstream('app');
    dir = await mkdtemp(join(tmpdir(), 'tollgate-reload-'));
    // The CA exists before the gateway starts, so the serving certificate can come from files.
    ca = await initAuthority(join(dir, 'ca'), { trustDomain: 'tollgate.local', clock: systemClock });
    foreign = await foreignAuthority(dir, 'partner.example');
    await writeFile(join(dir, 'foreign-root.crt'), foreign.rootPem);
    await writeServing('serving');
    config = (tls) => ({
      tls: { cert: './serving.crt', key: './serving.key', ...tls },
      routes: [
        { name: 'protected', match: { pathPrefix: '/protected' }, upstream: 'app', auth: { mtls: { allow: [WEB, PARTNER_WEB] } } },
        { name: 'open', match: { pathPrefix: '/' }, upstream: 'app' },
      ],
      upstreams: { app: { targets: [{ url: up.url }] } },
    });
    t = await startTestGateway(config({}), { dir, edgeGuard: RELAXED_GUARD });
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ok/new tls.cert/key files are served to new handshakes after a reload; open connections keep going; a broken file keeps the old', async () => {
    const first = await handshake(t.gw.publicPort, t.rootPem);
    const agent = h1Agent({ ca: t.rootPem, servername: 'localhost' }, { connections: 1 });
    try {
      expect((await h1(agent, `${t.url}/a`)).status).toBe(200);
      const second = await writeServing('serving');
      expect((await t.gw.reload()).result).toBe('success');
      expect((await handshake(t.gw.publicPort, t.rootPem)).serial).toBe(second);
      expect(second).not.toBe(first.serial);
      expect((await h1(agent, `${t.url}/b`)).status).toBe(200);

      await writeFile(join(dir, 'serving.crt'), 'not a certificate\n');
      const failed = await t.gw.reload();
      expect(failed.result).toBe('failure');
      expect(failed.error).toMatch(/tls\.cert/);
      expect((await handshake(t.gw.publicPort, t.rootPem)).serial).toBe(second);
    } finally {
      await agent.close();
      await writeServing('serving');
      expect((await t.gw.reload()).result).toBe('success');
    }
  });

  it('ok/a CA added to tls.clientCAs is trusted after a reload, and not after it is removed again', async () => {
    const outsider = await workload(foreign, PARTNER_WEB);
    const tryIt = async (): Promise<number> => {
      const agent = h1Agent({ ca: t.rootPem, cert: outsider.cert, key: outsider.key }, { connections: 1 });
      try {
        return (await h1(agent, `${t.url}/protected/x`)).status;
      } finally {
        await agent.close();
      }
    };
    expect(await tryIt()).toBe(401);
    await t.writeConfig(config({ clientCAs: [{ file: './foreign-root.crt', trustDomains: ['partner.example'] }] }));
    expect((await t.gw.reload()).result).toBe('success');
    expect(await tryIt()).toBe(200);
    await t.writeConfig(config({}));
    expect((await t.gw.reload()).result).toBe('success');
    expect(await tryIt()).toBe(401);
  });

  it('ok/`ca revoke` + reload: the next request on a kept-alive h1 connection and on an open h2 session closes the connection', async () => {
    const web: Workload = await workload(ca, WEB);
    const agent: Agent = h1Agent({ ca: t.rootPem, cert: web.cert, key: web.key }, { connections: 1 });
    const session: ClientHttp2Session = await h2Session(t.url, { ca: t.rootPem, cert: web.cert, key: web.key });
    try {
      expect((await h1(agent, `${t.url}/protected/1`)).status).toBe(200);
      expect((await h2(session, '/protected/1')).status).toBe(200);
      // The CLI writes the shared revocation list; the running gateway picks it up on reload.
      expect(await runCa(['revoke', web.serial.toUpperCase(), '--dir', join(dir, 'ca'), '--reason', 'test'], quiet)).toBe(0);
      expect((await h1(agent, `${t.url}/protected/2`)).status).toBe(200);
      expect((await t.gw.reload()).result).toBe('success');
      // Closed, not served anonymously: not even an open route answers on those connections.
      await expect(h1(agent, `${t.url}/open/3`)).rejects.toThrow();
      const onH2 = await h2(session, '/open/3').catch(() => undefined);
      expect(onH2 === undefined || Number.isNaN(onH2.status)).toBe(true);
      await waitFor(() => session.closed || session.destroyed, { timeoutMs: 10_000, what: 'h2 session closed' });
    } finally {
      session.close();
      await agent.close();
    }
  });
});

describe('a real SIGHUP', () => {
  let up: TestUpstream;
  let dir: string;
  beforeAll(async () => {
    up = await startUpstream('app');
    dir = await mkdtemp(join(tmpdir(), 'tollgate-sighup-'));
  });
  afterAll(async () => {
    await up?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ok/`tollgate start`, `ca revoke`, kill -HUP: the kept-alive connection is closed', async () => {
    const configPath = join(dir, 'gateway.yaml');
    await writeFile(
      configPath,
      stringify({
        listen: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        ca: { dir: './ca' },
        routes: [{ name: 'protected', match: { pathPrefix: '/' }, upstream: 'app', auth: { mtls: { allow: [WEB] } } }],
        upstreams: { app: { targets: [{ url: up.url }] } },
      }),
    );
    const { child, lines } = spawnCli(['start', '--config', configPath]);
    try {
      const listening = await waitFor(() => lines.find((l) => l.msg === 'listening'), { timeoutMs: 25_000, what: 'listening' });
      const web = await workload(await openAuthority(join(dir, 'ca'), { clock: systemClock }), WEB);
      const rootPem = await readFile(join(dir, 'ca', 'root.crt'), 'utf8');
      const agent = h1Agent({ ca: rootPem, cert: web.cert, key: web.key }, { connections: 1 });
      try {
        const url = String(listening.public);
        expect((await h1(agent, `${url}/x`)).status).toBe(200);
        expect(await runCa(['revoke', web.serial, '--dir', join(dir, 'ca')], quiet)).toBe(0);
        child.kill('SIGHUP');
        await waitFor(() => lines.find((l) => l.msg === 'config reloaded'), { timeoutMs: 10_000, what: 'reload' });
        await expect(h1(agent, `${url}/x`)).rejects.toThrow();
        // A new connection with the revoked certificate is anonymous.
        const fresh = h1Agent({ ca: rootPem, cert: web.cert, key: web.key }, { connections: 1 });
        try {
          expect((await h1(fresh, `${url}/x`)).status).toBe(401);
        } finally {
          await fresh.close();
        }
      } finally {
        await agent.close();
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }, 40_000);
});
