/**
 * `workers: 2`: a drain set on the admin worker reaches the other worker too (through the primary),
 * and clearing it does as well. A real `tollgate start` process with two cluster workers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { spawnCli } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';
import { freshGet } from '../limits/support.js';

describe('runtime overrides with workers: 2', () => {
  let dir: string;
  let a: TestUpstream;
  let b: TestUpstream;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-overrides-workers-'));
    [a, b] = await Promise.all([startUpstream('a'), startUpstream('b')]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('ok/a drain set on the admin worker holds on every worker; DELETE clears it on every worker', async () => {
    const configPath = join(dir, 'gateway.yaml');
    await writeFile(
      configPath,
      stringify({
        workers: 2,
        listen: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        ca: { dir: './ca' },
        routes: [{ name: 'api', match: { pathPrefix: '/' }, upstream: 'pool' }],
        upstreams: { pool: { targets: [{ url: a.url }, { url: b.url }] } },
      }),
    );
    const { child, lines, stderr } = spawnCli(['start', '--config', configPath]);
    try {
      const ready = await waitFor(() => lines.find((l) => l.msg === 'cluster ready'), { timeoutMs: 70_000, what: `cluster ready (${stderr()})` });
      const listening = await waitFor(() => {
        const found = lines.filter((l) => l.msg === 'listening');
        return found.length === 2 ? found : undefined;
      }, { what: 'both workers listening' });
      const adminUrl = String(listening.map((l) => l.admin).find((x) => x !== null));
      const url = `https://127.0.0.1:${String(ready.publicPort)}`;
      const rootPem = await readFile(join(dir, 'ca', 'root.crt'), 'utf8');

      const set = await fetch(`${adminUrl}/overrides/targets`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ upstream: 'pool', target: a.url, state: 'drain' }),
      });
      expect(set.status).toBe(200);
      // The other worker applies it once the primary has passed it on: poll until 10 fresh
      // connections in a row (handed to the workers in turn) all reach b.
      const seenBy = (from: number): Set<unknown> => new Set(lines.slice(from).filter((l) => l.msg === 'request').map((l) => l.worker));
      await waitFor(async () => {
        const before = a.seen.length;
        for (let i = 0; i < 10; i++) await freshGet(`${url}/x${i}`, rootPem);
        return a.seen.length === before;
      }, { timeoutMs: 20_000, intervalMs: 50, what: 'no worker sends to the drained target' });
      const from = lines.length;
      const aBefore = a.seen.length;
      for (let i = 0; i < 20; i++) expect((await freshGet(`${url}/y${i}`, rootPem)).status).toBe(200);
      expect(a.seen.length).toBe(aBefore);
      await waitFor(() => seenBy(from).size === 2, { what: 'both workers served the 20 requests' });

      const del = await fetch(`${adminUrl}/overrides/targets?upstream=pool&target=${encodeURIComponent(a.url)}`, { method: 'DELETE' });
      expect(del.status).toBe(200);
      const workersReachingA = new Set<unknown>();
      let round = 0;
      await waitFor(async () => {
        for (let i = 0; i < 10; i++) {
          const path = `/z${round}-${i}`;
          const before = a.seen.length;
          await freshGet(`${url}${path}`, rootPem);
          if (a.seen.length > before) {
            const line = await waitFor(() => lines.find((l) => l.msg === 'request' && l.path === path), { what: 'the access line' });
            workersReachingA.add(line.worker);
          }
        }
        round++;
        return workersReachingA.size === 2;
      }, { timeoutMs: 20_000, intervalMs: 50, what: 'both workers send to a again' });

      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 120_000);
});
