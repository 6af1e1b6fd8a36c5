import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { spawnCli } from '../support/cli.js';
import { delay, startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';
import { h1, h1Agent } from '../support/clients.js';

describe('tollgate start (a real process)', () => {
  let dir: string;
  let up: TestUpstream;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-start-'));
    up = await startUpstream('up', (req) => (req.url === '/slow' ? delay(1500) : { kind: 'ok' }));
  });
  afterAll(async () => {
    await up?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ok/first run creates the CA, SIGHUP reloads, SIGTERM during a slow request lets it finish with 200 and exits 0', async () => {
    const configPath = join(dir, 'gateway.yaml');
    const config = (timeout: string): string =>
      stringify({
        listen: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        ca: { dir: './ca' },
        routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'up', timeout }],
        upstreams: { up: { targets: [{ url: up.url }] } },
      });
    await writeFile(configPath, config('10s'));
    const { child, lines } = spawnCli(['start', '--config', configPath]);
    try {
      const listening = await waitFor(() => lines.find((l) => l.msg === 'listening'), { timeoutMs: 20_000, what: 'listening' });
      const url = String(listening.public);
      const admin = String(listening.admin);
      const rootPem = await readFile(join(dir, 'ca', 'root.crt'), 'utf8');
      const agent = h1Agent({ ca: rootPem });
      expect((await h1(agent, `${url}/x`)).status).toBe(200);

      await writeFile(configPath, config('11s'));
      child.kill('SIGHUP');
      await waitFor(() => lines.find((l) => l.msg === 'config reloaded'), { timeoutMs: 10_000, what: 'reload' });

      const slow = h1(agent, `${url}/slow`);
      await waitFor(() => up.seen.some((s) => s.url === '/slow'), { what: 'slow request upstream' });
      child.kill('SIGTERM');
      await waitFor(async () => (await fetch(`${admin}/readyz`)).status === 503, { what: 'readyz 503 while draining' });
      const res = await slow;
      expect(res.status).toBe(200);
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(code).toBe(0);
      await agent.close();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
