/**
 * `tollgate start --watch` as a user runs it: a real process reloads when its config file changes,
 * with the validation and log lines of SIGHUP. One gateway with a plain file edited (atomic replace,
 * then an in-place write); one `workers: 2` group whose config is mounted the way Kubernetes mounts a
 * ConfigMap (`gateway.yaml -> ..data/gateway.yaml`, `..data -> ..<timestamp>`, updated by re-pointing
 * `..data` with one rename), where the primary watches and reloads both workers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runCli, spawnCli } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';
import { freshGet } from '../limits/support.js';

const hashOf = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;

describe('tollgate start --watch (a real process)', () => {
  let dir: string;
  let up: TestUpstream;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-watch-'));
    up = await startUpstream('up');
  });
  afterAll(async () => {
    await up?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const config = (o: { workers?: number; caDir: string; routes: string[]; timeout?: string }): string =>
    stringify({
      workers: o.workers ?? 1,
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      ca: { dir: o.caDir },
      routes: o.routes.map((name) => ({ name, match: { pathPrefix: `/${name}` }, upstream: 'up', timeout: o.timeout ?? '10s' })),
      upstreams: { up: { targets: [{ url: up.url }] } },
    });

  it('ok/--help documents --watch', async () => {
    const res = await runCli(['start', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('--watch');
    expect(res.stdout).toContain('ConfigMap');
  });

  it('ok/one gateway: a replaced file and an in-place edit reload it; a bad edit is refused with its YAML path and the old config serves', async () => {
    const sub = join(dir, 'plain');
    await mkdir(sub);
    const configPath = join(sub, 'gateway.yaml');
    // The CA lives in the watched directory: its files appearing at start-up must not reload anything.
    const v1 = config({ caDir: './ca', routes: ['a'] });
    await writeFile(configPath, v1);
    const { child, lines, stderr } = spawnCli(['start', '--config', configPath, '--watch']);
    try {
      const listening = await waitFor(() => lines.find((l) => l.msg === 'listening'), { timeoutMs: 60_000, what: `listening (${stderr()})` });
      const url = String(listening.public);
      const admin = String(listening.admin);
      const rootPem = await readFile(join(sub, 'ca', 'root.crt'), 'utf8');
      const status = async (): Promise<Record<string, unknown>> => (await (await fetch(`${admin}/status`)).json()) as Record<string, unknown>;
      expect((await status()).configHash).toBe(hashOf(v1));
      expect((await freshGet(`${url}/a`, rootPem)).status).toBe(200);
      expect((await freshGet(`${url}/b`, rootPem)).status).toBe(404);
      expect(lines.filter((l) => l.msg === 'config file changed; reloading')).toEqual([]);

      // An editor's save: a temp file renamed over the config.
      const v2 = config({ caDir: './ca', routes: ['a', 'b'] });
      await writeFile(`${configPath}.tmp`, v2);
      await rename(`${configPath}.tmp`, configPath);
      await waitFor(async () => (await status()).configHash === hashOf(v2), { timeoutMs: 30_000, what: 'reload after the replace' });
      expect((await freshGet(`${url}/b`, rootPem)).status).toBe(200);
      // The log lines come through the child's stdout, which may trail the admin answer.
      expect(await waitFor(() => lines.find((l) => l.msg === 'config file changed; reloading'), { timeoutMs: 10_000, what: 'change line' })).toMatchObject({ fingerprint: hashOf(v2) });
      expect(await waitFor(() => lines.find((l) => l.msg === 'config reloaded'), { timeoutMs: 10_000, what: 'reloaded line' })).toMatchObject({ configHash: hashOf(v2) });

      // A bad edit written in place: refused exactly as on SIGHUP, the YAML path in the log.
      const bad = config({ caDir: './ca', routes: ['a', 'b', 'c'], timeout: 'soon' });
      await writeFile(configPath, bad);
      const refused = await waitFor(() => lines.find((l) => l.msg === 'config reload refused; the running config stays'), { timeoutMs: 30_000, what: 'refused reload' });
      expect((refused.problems as string[]).some((p) => p.includes('routes[0].timeout'))).toBe(true);
      const st = await status();
      expect(st.configHash).toBe(hashOf(v2));
      expect(st.lastReload).toMatchObject({ result: 'failure' });
      expect(String((st.lastReload as { error: string }).error)).toContain('routes[0].timeout');
      expect((await freshGet(`${url}/b`, rootPem)).status).toBe(200);
      expect((await freshGet(`${url}/c`, rootPem)).status).toBe(404);
      const metrics = await (await fetch(`${admin}/metrics`)).text();
      expect(metrics).toMatch(/tollgate_config_reloads_total\{result="failure"\} [1-9]/);

      // Fixed: the next change is taken.
      const v3 = config({ caDir: './ca', routes: ['a', 'c'] });
      await writeFile(configPath, v3);
      await waitFor(async () => (await status()).configHash === hashOf(v3), { timeoutMs: 30_000, what: 'reload after the fix' });
      expect((await freshGet(`${url}/c`, rootPem)).status).toBe(200);
      expect((await freshGet(`${url}/b`, rootPem)).status).toBe(404);

      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 150_000);

  it('ok/workers: 2 with a ConfigMap-style mount: a symlink swap reloads every worker; a bad swap is refused and the old config serves', async () => {
    // What the kubelet makes of a ConfigMap volume.
    const mount = join(dir, 'configmap');
    const caDir = join(dir, 'cm-ca');
    await mkdir(mount);
    let generation = 0;
    let current: string | undefined;
    const publish = async (text: string): Promise<void> => {
      const name = `..2026_12_07_00_00_0${++generation}`;
      await mkdir(join(mount, name));
      await writeFile(join(mount, name, 'gateway.yaml'), text);
      await symlink(name, join(mount, '..data_tmp'));
      await rename(join(mount, '..data_tmp'), join(mount, '..data'));
      if (current !== undefined) await rm(join(mount, current), { recursive: true });
      current = name;
    };
    const v1 = config({ workers: 2, caDir, routes: ['a'] });
    await publish(v1);
    await symlink(join('..data', 'gateway.yaml'), join(mount, 'gateway.yaml'));
    const configPath = join(mount, 'gateway.yaml');

    const { child, lines, stderr } = spawnCli(['start', '--config', configPath, '--watch']);
    try {
      const ready = await waitFor(() => lines.find((l) => l.msg === 'cluster ready'), { timeoutMs: 60_000, what: `cluster ready (${stderr()})` });
      const listening = await waitFor(() => {
        const found = lines.filter((l) => l.msg === 'listening');
        return found.length === 2 ? found : undefined;
      }, { timeoutMs: 20_000, what: 'both workers listening' });
      const admin = String(listening.map((l) => l.admin).find((a) => a !== null));
      const url = `https://127.0.0.1:${String(ready.publicPort)}`;
      const rootPem = await readFile(join(caDir, 'root.crt'), 'utf8');
      const status = async (): Promise<Record<string, unknown>> => (await (await fetch(`${admin}/status`)).json()) as Record<string, unknown>;
      expect((await freshGet(`${url}/b`, rootPem)).status).toBe(404);

      const v2 = config({ workers: 2, caDir, routes: ['a', 'b'] });
      await publish(v2);
      const reloaded = await waitFor(() => lines.find((l) => l.msg === 'cluster reloaded'), { timeoutMs: 30_000, what: 'cluster reloaded' });
      expect(reloaded).toMatchObject({ result: 'success', workers: 2, configHash: hashOf(v2) });
      expect(lines.find((l) => l.msg === 'config file changed; reloading')).toMatchObject({ role: 'primary', fingerprint: hashOf(v2) });
      await waitFor(() => new Set(lines.filter((l) => l.msg === 'config reloaded' && l.configHash === hashOf(v2)).map((l) => l.worker)).size === 2, { timeoutMs: 20_000, what: 'both workers reloaded' });
      expect((await status()).configHash).toBe(hashOf(v2));
      // Fresh connections go to the workers in turn: both serve the new route.
      // (The primary hands a connection to a worker that is free, so a quick one may take several in a
      // row: ask until both have served, at most 20 times.)
      const servedBy = (): Set<unknown> => new Set(lines.filter((l) => l.msg === 'request' && l.path === '/b').map((l) => l.worker));
      const answers = [];
      for (let i = 0; i < 20 && servedBy().size < 2; i++) answers.push((await freshGet(`${url}/b`, rootPem)).status);
      expect(answers.filter((s) => s !== 200)).toEqual([]);
      await waitFor(() => servedBy().size === 2, { timeoutMs: 10_000, what: 'both workers served /b' });
      expect(servedBy()).toEqual(new Set([0, 1]));

      // A bad ConfigMap: both workers refuse it with the YAML path; the primary logs the failure.
      const bad = config({ workers: 2, caDir, routes: ['a', 'b', 'c'], timeout: 'soon' });
      await publish(bad);
      const failed = await waitFor(() => lines.find((l) => l.msg === 'cluster reloaded' && l.result === 'failure'), { timeoutMs: 30_000, what: 'refused cluster reload' });
      expect(String(failed.error)).toContain('routes[0].timeout');
      await waitFor(() => lines.filter((l) => l.msg === 'config reload refused; the running config stays').length === 2, { timeoutMs: 20_000, what: 'both workers refused' });
      for (const l of lines.filter((x) => x.msg === 'config reload refused; the running config stays')) {
        expect((l.problems as string[]).some((p) => p.includes('routes[0].timeout'))).toBe(true);
      }
      expect((await status()).configHash).toBe(hashOf(v2));
      for (let i = 0; i < 2; i++) {
        expect((await freshGet(`${url}/b`, rootPem)).status).toBe(200);
        expect((await freshGet(`${url}/c`, rootPem)).status).toBe(404);
      }

      // The old timestamped directories went away under the watch without a complaint.
      expect(lines.filter((l) => l.msg === 'config directory not watched; the stat poll still is')).toEqual([]);

      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 150_000);
});
