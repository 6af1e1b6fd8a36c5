import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../core/clock.js';
import { ManualScheduler } from '../core/scheduler.js';
import { watchConfigFile, type ConfigChange } from './config-watch.js';

describe('watchConfigFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-cfgwatch-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('ok/the stat poll reports a change fs.watch has not delivered, once; same bytes report nothing; a change before start waits for it', () => {
    const path = join(dir, 'gateway.yaml');
    writeFileSync(path, 'a: 1\n');
    const scheduler = new ManualScheduler(new ManualClock(0));
    const w = watchConfigFile(path, { scheduler, debounceMs: 250, pollMs: 2000 });
    const seen: ConfigChange[] = [];
    try {
      // Before start: remembered, reported at start.
      writeFileSync(path, 'a: 22\n');
      scheduler.advance(2000 + 250);
      expect(seen).toEqual([]);
      w.start((c) => seen.push(c));
      expect(seen).toMatchObject([{ via: 'poll' }]);
      // The same bytes written again (a new mtime): compared, not reported.
      writeFileSync(path, 'a: 22\n');
      scheduler.advance(2000 + 250);
      expect(seen).toHaveLength(1);
      writeFileSync(path, 'a: 333\n');
      scheduler.advance(2000 + 250);
      expect(seen).toHaveLength(2);
      expect(seen[1]?.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    } finally {
      w.close();
    }
    expect(scheduler.pending).toBe(0);
  });
});
