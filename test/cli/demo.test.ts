import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { BIN } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { h1, h1Agent } from '../support/clients.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

// The README's first command. Uses the demo's fixed loopback ports (8443, 9901, 3000-3002, 3101).
describe('tollgate demo', () => {
  it('ok/starts, prints curl commands, serves them, fails over, and stops on SIGINT', async () => {
    const child = spawn(process.execPath, [BIN, 'demo'], { cwd: ROOT, env: { ...process.env, TOLLGATE_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.resume();
    try {
      await waitFor(() => stderr.includes('tollgate demo is running'), { timeoutMs: 30_000, what: 'demo banner' });
      expect(stderr).toContain('curl --cacert');
      const ca = await readFile(join(ROOT, '.tollgate-demo', 'ca', 'root.crt'), 'utf8');
      const cert = await readFile(join(ROOT, '.tollgate-demo', 'web.crt'), 'utf8');
      const key = await readFile(join(ROOT, '.tollgate-demo', 'web.key'), 'utf8');
      const anon = h1Agent({ ca, servername: 'localhost' });
      const web = h1Agent({ ca, cert, key, servername: 'localhost' });
      const who = await h1(anon, 'https://127.0.0.1:8443/whoami');
      expect(who.status).toBe(200);
      expect(JSON.parse(who.body).upstream).toMatch(/^primary-/);
      expect((await h1(anon, 'https://127.0.0.1:8443/api/orders')).status).toBe(401);
      const api = await h1(web, 'https://127.0.0.1:8443/api/orders');
      expect(api.status).toBe(200);
      expect(JSON.parse(api.body).clientIdentity).toContain('URI=spiffe://tollgate.local/web');
      const limited = [];
      for (let i = 0; i < 4; i++) limited.push(await h1(anon, 'https://127.0.0.1:8443/limited'));
      expect(limited.map((r) => r.status)).toContain(429);
      expect(limited[0]!.headers['ratelimit-policy']).toBeDefined();
      await fetch('http://127.0.0.1:3000/primaries/stop', { method: 'POST' });
      // Retries plus outlier ejection make the failover seamless: the very next request is served.
      const after = await h1(anon, 'https://127.0.0.1:8443/whoami');
      expect(after.status).toBe(200);
      expect(JSON.parse(after.body).upstream).toBe('backup-1');
      await waitFor(async () => ((await (await fetch('http://127.0.0.1:9901/status')).json()) as { upstreams: { api: { activeTier: string } } }).upstreams.api.activeTier === 'backup', {
        timeoutMs: 15_000,
        what: '/status to show the backup tier',
      });
      await fetch('http://127.0.0.1:3000/primaries/start', { method: 'POST' });
      await anon.close();
      await web.close();
      child.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 90_000);
});
