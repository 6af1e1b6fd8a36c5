import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/ca/support.js';
import { EMPTY_LOCK_STALE_MS, isStale, withDirLock } from './store.js';

describe('isStale (pure)', () => {
  it('ok/a live pid holds the lock; a dead one does not', () => {
    expect(isStale('12345', 0, () => true)).toBe(false);
    expect(isStale('12345\n', 0, () => false)).toBe(true);
  });
  it('ok/an empty or garbled lock is stale only once it is older than the grace period', () => {
    expect(isStale('', 100, () => true)).toBe(false);
    expect(isStale('', EMPTY_LOCK_STALE_MS + 1, () => true)).toBe(true);
    expect(isStale('12ab', EMPTY_LOCK_STALE_MS + 1, () => true)).toBe(true);
  });
});

describe('withDirLock on disk', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('tollgate-lock-'));
  });
  afterAll(async () => cleanup());

  it('ok/an empty lock left by a crash (old mtime) is taken over', async () => {
    const lock = join(dir, '.lock');
    await fs.writeFile(lock, '');
    const old = new Date(Date.parse('2020-01-01T00:00:00Z'));
    await fs.utimes(lock, old, old);
    expect(await withDirLock(dir, async () => (await fs.readFile(lock, 'utf8')).trim())).toBe(String(process.pid));
    await expect(fs.stat(lock)).rejects.toThrow();
  });

  it('ok/a lock holding the pid of a process that exited is taken over', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    await fs.writeFile(join(dir, '.lock'), dead);
    expect(await withDirLock(dir, async () => 'ran')).toBe('ran');
  });

  it('ok/the lock never appears empty to another reader while held, and no temp files are left', async () => {
    await withDirLock(dir, async () => {
      expect((await fs.readFile(join(dir, '.lock'), 'utf8')).trim()).toBe(String(process.pid));
    });
    expect((await fs.readdir(dir)).filter((f) => f.startsWith('.lock'))).toEqual([]);
  });
});
