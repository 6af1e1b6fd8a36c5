import { describe, expect, it } from 'vitest';
import { mkdtempSync, openSync, readFileSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLineWriter } from './line-writer.js';

describe('line writer', () => {
  it('ok/every line arrives whole and in order, by size-triggered and final flushes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-lw-'));
    const path = join(dir, 'out.log');
    const fd = openSync(path, 'w');
    const w = createLineWriter(fd, { flushIntervalMs: 60_000 });
    for (let i = 0; i < 5000; i++) w.write(`{"n":${i}}\n`);
    w.close();
    closeSync(fd);
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(5000);
    expect(lines.map((l) => (JSON.parse(l) as { n: number }).n)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    rmSync(dir, { recursive: true, force: true });
  });

  it('ok/a stuck fd bounds memory: lines beyond the bound are dropped and counted', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-lw-'));
    const fd = openSync(join(dir, 'out.log'), 'w');
    const w = createLineWriter(fd, { flushIntervalMs: 60_000, maxBufferedBytes: 1000 });
    // The first 16 KiB batch is in flight (its callback can't run inside this loop), so the rest queues.
    for (let i = 0; i < 20_000; i++) w.write('x'.repeat(99) + '\n');
    expect(w.dropped).toBeGreaterThan(0);
    w.close();
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
});
