import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runCli, spawnCli } from '../support/cli.js';
import { startUpstream, status, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';

describe('tollgate check --diff (against a running gateway)', () => {
  let dir: string;
  let up: TestUpstream;
  let sick: TestUpstream;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-diff-'));
    up = await startUpstream('up', () => ({ kind: 'ok' }));
    sick = await startUpstream('sick', () => status(503));
  });
  afterAll(async () => {
    await up?.close();
    await sick?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const base = () => ({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    ca: { dir: './ca' },
  });

  it('ok/names each change; exit 3 on risky changes unless --allow-risky; --json for CI', async () => {
    const running = join(dir, 'running.yaml');
    await writeFile(
      running,
      stringify({
        ...base(),
        routes: [
          { name: 'api', match: { pathPrefix: '/api' }, upstream: 'up', auth: { mtls: { allow: ['spiffe://tollgate.local/ns/prod/api'] } } },
          { name: 'web', match: { pathPrefix: '/web' }, upstream: 'up', rateLimit: { rate: 5, per: '1s' } },
          { name: 'old', match: { pathPrefix: '/old' }, upstream: 'sick' },
        ],
        upstreams: {
          up: { targets: [{ url: up.url }] },
          sick: { targets: [{ url: sick.url }], healthCheck: { path: '/healthz', interval: '100ms', unhealthyThreshold: 1 } },
        },
      }),
    );
    const { child, lines } = spawnCli(['start', '--config', running]);
    try {
      const listening = await waitFor(() => lines.find((l) => l.msg === 'listening'), { timeoutMs: 20_000, what: 'listening' });
      const admin = String(listening.admin);
      await waitFor(
        async () => {
          const s = (await (await fetch(`${admin}/status`)).json()) as { upstreams: Record<string, { targets: { available: boolean }[] }> };
          return s.upstreams.sick?.targets.every((t) => t.available === false);
        },
        { timeoutMs: 20_000, what: 'sick target marked down' },
      );

      const next = join(dir, 'next.yaml');
      await writeFile(
        next,
        stringify({
          ...base(),
          routes: [
            { name: 'api', match: { pathPrefix: '/api' }, upstream: 'up', auth: { mtls: { allow: ['spiffe://tollgate.local/ns/prod/*'] } } },
            { name: 'web', match: { pathPrefix: '/web' }, upstream: 'up', rateLimit: { rate: 10, per: '1s' } },
            { name: 'new', match: { pathPrefix: '/new' }, upstream: 'sick' },
          ],
          upstreams: {
            up: { targets: [{ url: up.url, weight: 2 }, { url: 'http://127.0.0.1:9' }] },
            sick: { targets: [{ url: sick.url }], healthCheck: { path: '/healthz', interval: '100ms', unhealthyThreshold: 1 } },
          },
        }),
      );

      const r = await runCli(['check', '--config', next, '--diff', '--admin', admin]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(3);
      const out = r.stdout.trim().split('\n');
      expect(out).toContain('- route old: route removed');
      expect(out).toContain('+ route new: route added');
      expect(out).toContain('~ route web: changed: rateLimit');
      expect(out.some((l) => l.startsWith('~ limits web: rateLimit'))).toBe(true);
      expect(out).toContain('- access api: loses spiffe://tollgate.local/ns/prod/api');
      expect(out).toContain('RISKY + access api: gains spiffe://tollgate.local/ns/prod/* (allow-list widens to spiffe://tollgate.local/ns/prod/*)');
      expect(out).toContain(`~ pool up: targets: ${new URL(up.url).origin} weight 1 -> 2`);
      expect(out).toContain('+ pool up: targets: http://127.0.0.1:9 added (weight 1)');
      expect(out).toContain('RISKY ~ route new: no healthy target after the reload (route "new" left with no healthy target)');
      expect(out).toContain('~ route api: changed: auth');
      expect(out.at(-1)).toBe('10 change(s), 2 risky');

      const j = await runCli(['check', '--config', next, '--diff', '--admin', admin, '--json', '--allow-risky']);
      expect(j.code).toBe(0);
      const doc = JSON.parse(j.stdout) as { risky: boolean; changes: { kind: string; subject: string; risky?: string }[] };
      expect(doc.risky).toBe(true);
      expect(doc.changes.filter((c) => c.risky).map((c) => c.subject).sort()).toEqual(['api', 'new']);

      const same = await runCli(['check', '--config', running, '--diff', '--admin', admin]);
      expect(same.code).toBe(0);
      expect(same.stdout.trim()).toBe('0 change(s), 0 risky');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 90_000);

  it('error/an unreachable admin API is one sentence, exit 1; --json without --diff is a usage error', async () => {
    const cfg = join(dir, 'lone.yaml');
    await writeFile(cfg, stringify({ routes: [{ name: 'a', match: { pathPrefix: '/a' }, upstream: 'up' }], upstreams: { up: { targets: [{ url: up.url }] } } }));
    const r = await runCli(['check', '--config', cfg, '--diff', '--admin', 'http://127.0.0.1:9']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('cannot reach the admin API at http://127.0.0.1:9/config');
    expect((await runCli(['check', '--config', cfg, '--json'])).code).toBe(2);
  });
});
