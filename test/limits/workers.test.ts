/**
 * `workers: 2` as a user runs it: a real `tollgate start` process (the primary) with two cluster
 * workers behind one port. Limits hold across both workers together (the primary's memory store);
 * SIGHUP and POST /reload reload every worker; SIGTERM drains them and the primary exits 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { spawnCli } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';
import { countStatuses, freshGet } from './support.js';

const LIMIT = 10;

describe('workers: 2 (a real cluster)', () => {
  let dir: string;
  let up: TestUpstream;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-workers-'));
    up = await startUpstream('up');
  });
  afterAll(async () => {
    await up?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ok/one limit across both workers, SIGHUP and POST /reload reach every worker, SIGTERM exits 0', async () => {
    const configPath = join(dir, 'gateway.yaml');
    const config = (timeout: string): string =>
      stringify({
        workers: 2,
        listen: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        ca: { dir: './ca' },
        routes: [
          {
            name: 'limited',
            match: { pathPrefix: '/' },
            upstream: 'up',
            timeout,
            rateLimit: { rate: 1, per: '1h', burst: LIMIT, by: 'ip' },
          },
        ],
        upstreams: { up: { targets: [{ url: up.url }] } },
      });
    await writeFile(configPath, config('10s'));
    const { child, lines, stderr } = spawnCli(['start', '--config', configPath]);
    try {
      const ready = await waitFor(() => lines.find((l) => l.msg === 'cluster ready'), { timeoutMs: 40_000, what: `cluster ready (${stderr()})` });
      // Each process writes its own lines to the shared stdout: the workers' may trail the primary's.
      const listening = await waitFor(() => {
        const found = lines.filter((l) => l.msg === 'listening');
        return found.length === 2 ? found : undefined;
      }, { what: 'both workers listening' });
      // Exactly one worker owns the admin port.
      const admins = listening.map((l) => l.admin).filter((a) => a !== null);
      expect(admins).toHaveLength(1);
      const url = `https://127.0.0.1:${String(ready.publicPort)}`;
      const rootPem = await readFile(join(dir, 'ca', 'root.crt'), 'utf8');

      // Sequential fresh connections: node:cluster hands them to the workers in turn.
      const results = [];
      for (let i = 0; i < 3 * LIMIT; i++) results.push(await freshGet(`${url}/r${i}`, rootPem));
      expect(countStatuses(results)).toEqual({ 200: LIMIT, 429: 2 * LIMIT });
      const served = new Set(lines.filter((l) => l.msg === 'request').map((l) => l.worker));
      expect(served).toEqual(new Set([0, 1]));
      const refused = results.find((r) => r.status === 429);
      expect(JSON.parse(refused?.body ?? '{}')).toMatchObject({ error: { code: 'RATE_LIMITED' } });

      // SIGHUP to the primary: both workers reload.
      await writeFile(configPath, config('11s'));
      child.kill('SIGHUP');
      const hup = await waitFor(() => lines.find((l) => l.msg === 'cluster reloaded'), { timeoutMs: 15_000, what: 'cluster reloaded' });
      expect(hup).toMatchObject({ result: 'success', workers: 2 });
      await waitFor(() => new Set(lines.filter((l) => l.msg === 'config reloaded').map((l) => l.worker)).size === 2, { what: 'both workers reloaded' });

      // POST /reload on the admin (worker 0) also reloads both.
      const res = await fetch(`${String(admins[0])}/reload`, { method: 'POST' });
      expect(res.status).toBe(200);
      await waitFor(() => lines.filter((l) => l.msg === 'cluster reloaded').length === 2, { timeoutMs: 15_000, what: 'second cluster reload' });
      await waitFor(() => lines.filter((l) => l.msg === 'config reloaded').length === 4, { what: 'both workers reloaded twice' });

      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(code).toBe(0);
      // Exit codes are final; the last lines were flushed before the workers exited.
      expect(lines.filter((l) => l.msg === 'stopped')).toHaveLength(2);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 90_000);
});
