/**
 * The key flood of key-flood.test.ts with `workers: 2`: the cluster primary's store uses the same
 * bounded per-limit tables, so a flood through both workers leaves other quotas intact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { spawnCli } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';
import type { SimpleResponse } from '../support/clients.js';
import { countStatuses, freshGet } from './support.js';

const BOUND = 40;
const FLOOD = 120;

function codeOf(res: SimpleResponse): string | undefined {
  return res.status === 200 ? undefined : (JSON.parse(res.body) as { error: { code: string } }).error.code;
}

describe('limit key flood with workers: 2 (the primary\'s bounded tables)', () => {
  let dir: string;
  let up: TestUpstream;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-flood-workers-'));
    up = await startUpstream('up');
  });
  afterAll(async () => {
    await up?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ok/new keys past the bound get 429 QUOTA_EXCEEDED on every worker; held quotas keep their counts', async () => {
    const configPath = join(dir, 'gateway.yaml');
    await writeFile(
      configPath,
      stringify({
        workers: 2,
        listen: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        ca: { dir: './ca' },
        store: { memory: { maxKeysPerLimit: BOUND } },
        routes: [{ name: 'flood', match: { pathPrefix: '/' }, upstream: 'up', quota: { limit: 2, per: '1d', by: 'header:x-client' } }],
        upstreams: { up: { targets: [{ url: up.url }] } },
      }),
    );
    const { child, lines, stderr } = spawnCli(['start', '--config', configPath]);
    try {
      const ready = await waitFor(() => lines.find((l) => l.msg === 'cluster ready'), { timeoutMs: 40_000, what: `cluster ready (${stderr()})` });
      await waitFor(() => lines.filter((l) => l.msg === 'listening').length === 2, { what: 'both workers listening' });
      const url = `https://127.0.0.1:${String(ready.publicPort)}/x`;
      const ca = await readFile(join(dir, 'ca', 'root.crt'), 'utf8');
      const get = (client: string): Promise<SimpleResponse> => freshGet(url, ca, { 'x-client': client });

      for (let i = 0; i < 2; i++) expect((await get('attacker')).status).toBe(200);
      expect(codeOf(await get('attacker'))).toBe('QUOTA_EXCEEDED');
      expect((await get('victim')).status).toBe(200);

      const flood: SimpleResponse[] = [];
      for (let i = 0; i < FLOOD; i += 10) flood.push(...(await Promise.all(Array.from({ length: 10 }, (_, j) => get(`k${i + j}`)))));
      expect(countStatuses(flood)).toEqual({ 200: BOUND - 2, 429: FLOOD - (BOUND - 2) });
      expect(new Set(flood.filter((r) => r.status === 429).map(codeOf))).toEqual(new Set(['QUOTA_EXCEEDED']));
      expect(new Set(lines.filter((l) => l.msg === 'request').map((l) => l.worker))).toEqual(new Set([0, 1]));

      expect(codeOf(await get('attacker'))).toBe('QUOTA_EXCEEDED');
      expect((await get('victim')).status).toBe(200);
      expect(codeOf(await get('victim'))).toBe('QUOTA_EXCEEDED');

      child.kill('SIGTERM');
      expect(await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 90_000);
});
