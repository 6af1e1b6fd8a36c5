import { describe, expect, it } from 'vitest';
import { mkdtempSync, openSync, readFileSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createLineWriter } from './line-writer.js';

function tempFile(): { path: string; fd: number; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-lw-'));
  const path = join(dir, 'out.log');
  const fd = openSync(path, 'w');
  return {
    path,
    fd,
    cleanup: () => {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('line writer', () => {
  it('ok/every line arrives whole and in order, across async batches and the final flush', async () => {
    const f = tempFile();
    const w = createLineWriter(f.fd, { flushIntervalMs: 60_000 });
    // ~600 KB: several 64 KiB batches go out asynchronously while later lines queue behind them.
    for (let i = 0; i < 30_000; i++) w.write(`{"n":${i},"s":"${'é'.repeat(i % 5)}"}\n`);
    await w.end();
    const lines = readFileSync(f.path, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(30_000);
    expect(lines.map((l) => (JSON.parse(l) as { n: number }).n)).toEqual(Array.from({ length: 30_000 }, (_, i) => i));
    expect((JSON.parse(lines[4]!) as { s: string }).s).toBe('éééé');
    f.cleanup();
  });

  it('ok/a line longer than a batch buffer goes out whole, between its neighbours', async () => {
    const f = tempFile();
    const w = createLineWriter(f.fd, { flushIntervalMs: 60_000 });
    const long = 'L'.repeat(200_000);
    w.write('a\n');
    w.write(long + '\n');
    w.write('b\n');
    await w.end();
    expect(readFileSync(f.path, 'utf8')).toBe(`a\n${long}\nb\n`);
    f.cleanup();
  });

  it('ok/the interval flush writes a quiet line without waiting for a full batch', async () => {
    const f = tempFile();
    const w = createLineWriter(f.fd, { flushIntervalMs: 10 });
    w.write('quiet\n');
    const deadline = Date.now() + 5000;
    while (readFileSync(f.path, 'utf8') === '' && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(readFileSync(f.path, 'utf8')).toBe('quiet\n');
    w.close();
    f.cleanup();
  });

  it('ok/a slow pipe reader gets every byte (short writes are completed)', async () => {
    // The writer's fd is a pipe to `cat`, which copies to a file; a 2 MB burst overfills the pipe.
    const f = tempFile();
    const cat = spawn('cat', [], { stdio: ['pipe', f.fd, 'inherit'] });
    const pipeFd = (cat.stdin as unknown as { _handle: { fd: number } })._handle.fd;
    const w = createLineWriter(pipeFd, { flushIntervalMs: 60_000 });
    for (let i = 0; i < 40_000; i++) w.write(`${String(i).padStart(50, '0')}\n`);
    await w.end();
    const exited = new Promise((r) => cat.once('exit', r));
    cat.stdin?.end();
    await exited;
    const lines = readFileSync(f.path, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(40_000);
    expect(Number(lines[39_999])).toBe(39_999);
    f.cleanup();
  });

  it('ok/a stuck fd bounds memory: lines beyond the bound are dropped and counted', () => {
    const f = tempFile();
    const w = createLineWriter(f.fd, { flushIntervalMs: 60_000, maxBufferedBytes: 1000 });
    // The first batch is in flight (its callback can't run inside this loop), so the rest queues.
    for (let i = 0; i < 20_000; i++) w.write('x'.repeat(99) + '\n');
    expect(w.dropped).toBeGreaterThan(0);
    w.close();
    f.cleanup();
  });
});
