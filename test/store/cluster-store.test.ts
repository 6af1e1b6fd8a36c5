/**
 * Two real node:cluster workers count against the primary's one memory store: together they
 * get exactly one limit.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bucketParams } from '../../src/store/token-bucket.js';
import { createClusterWorkerStore, serveClusterStore, type IpcChannel } from '../../src/store/cluster-store.js';
import { StoreUnavailableError } from '../../src/store/counter-store.js';
import { waitFor } from '../support/redis.js';

const workers: Worker[] = [];
afterAll(() => {
  for (const w of workers) if (w.process.pid !== undefined && w.process.exitCode === null) w.process.kill('SIGKILL');
});

describe('cluster store', () => {
  it('ok/workers share the primary\'s limit exactly', async () => {
    const server = serveClusterStore();
    const results: Array<{ tokens: number; quota: number }> = [];
    const onResult = (_w: Worker, msg: unknown): void => {
      if (typeof msg === 'object' && msg !== null && (msg as { t?: unknown }).t === 'result') results.push(msg as { tokens: number; quota: number });
    };
    cluster.on('message', onResult);
    try {
      cluster.setupPrimary({
        exec: fileURLToPath(new URL('./fixtures/cluster-worker.ts', import.meta.url)),
        execArgv: ['--import', 'tsx'],
        silent: false,
      });
      for (let i = 0; i < 2; i++) workers.push(cluster.fork({ TAKES: '20' }));
      await waitFor(() => results.length === 2, { timeoutMs: 15_000 });
      expect(results.reduce((n, r) => n + r.tokens, 0)).toBe(25);
      expect(results.reduce((n, r) => n + r.quota, 0)).toBe(30);
      expect(results.every((r) => r.tokens > 0)).toBe(true);
      const exits = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)));
      for (const w of workers) w.kill();
      await Promise.all(exits);
    } finally {
      cluster.off('message', onResult);
      server.close();
    }
  });

  it('error/no answer from the primary is StoreUnavailableError after the timeout', async () => {
    const silent: IpcChannel = { send: () => true, on: () => undefined, off: () => undefined };
    const store = createClusterWorkerStore({ channel: silent, timeoutMs: 30 });
    await expect(store.takeToken('k', bucketParams(1, 1000), 1)).rejects.toBeInstanceOf(StoreUnavailableError);
    await store.close();
  });

  it('error/not a worker', () => {
    expect(() => createClusterWorkerStore({ channel: { on: () => undefined, off: () => undefined } })).toThrow(/IPC channel/);
  });
});
