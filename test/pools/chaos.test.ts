/**
 * Chaos: steady concurrent GETs through the gateway to a pool of three targets, each its own process.
 * One target is SIGKILLed mid-load and later restarted on the same port. Retries (connect-failure, reset)
 * cover the requests caught by the kill, outlier ejection and the health check take the target out, and
 * the client must see no failed request at all. Prints the p99 latency during the event.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { h1Agent } from '../support/clients.js';
import { waitFor } from '../support/wait.js';
import { quantile, upstreamStatus } from './support.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/target-server.mjs', import.meta.url));
const CONCURRENCY = 12;
/** Upper bounds on the load, whatever happens: requests and wall time. */
const MAX_REQUESTS = 40_000;
const MAX_LOAD_MS = 12_000;

interface Target {
  readonly name: string;
  port: number;
  child: ChildProcess;
}

/** Starts the fixture as a child process and resolves once it listens. */
function startTarget(name: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FIXTURE, name, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 10_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening`));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

interface Sample {
  readonly startMs: number;
  readonly ms: number;
  readonly status: number;
  readonly body: string;
  readonly error?: string;
}

describe('pools: chaos', () => {
  const targets: Target[] = [];
  let t: TestGateway;
  let agent: Agent;

  beforeAll(async () => {
    for (const name of ['t1', 't2', 't3']) {
      const { child, port } = await startTarget(name, 0);
      targets.push({ name, port, child });
    }
    t = await startTestGateway({
      routes: [
        {
          name: 'chaos',
          match: { pathPrefix: '/' },
          upstream: 'chaos',
          timeout: '5s',
          retries: { attempts: 2, perTryTimeout: '1s', on: ['connect-failure', 'reset'] },
        },
      ],
      upstreams: {
        chaos: {
          targets: targets.map((x) => ({ url: `http://127.0.0.1:${x.port}` })),
          // A generous probe timeout: on a loaded machine a 100 ms one fails live targets too (and with
          // all three down the gateway would rightly answer 503). A killed target refuses at once anyway.
          healthCheck: { path: '/healthz', interval: '100ms', timeout: '2s', healthyThreshold: 2, unhealthyThreshold: 2 },
          outlierDetection: { consecutiveFailures: 2, ejectionTime: '1s', maxEjectionPercent: 50 },
        },
      },
    });
    agent = h1Agent({ ca: t.rootPem }, { connections: CONCURRENCY });
  });

  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    for (const x of targets) {
      if (x.child.exitCode === null && x.child.signalCode === null) {
        x.child.kill('SIGTERM');
        await exited(x.child);
      }
    }
  });

  it('ok/SIGKILL of one of three targets and its restart: zero failed requests', async () => {
    const samples: Sample[] = [];
    const t0 = performance.now();
    let stop = false;
    const worker = async (): Promise<void> => {
      while (!stop && samples.length < MAX_REQUESTS && performance.now() - t0 < MAX_LOAD_MS) {
        const startMs = performance.now() - t0;
        try {
          const res = await request(`${t.url}/work`, { dispatcher: agent });
          const body = await res.body.text();
          samples.push({ startMs, ms: performance.now() - t0 - startMs, status: res.statusCode, body });
        } catch (err) {
          samples.push({ startMs, ms: performance.now() - t0 - startMs, status: 0, body: '', error: String(err) });
        }
      }
    };
    const load = Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const victim = targets[1]!;
    const victimUrl = `http://127.0.0.1:${victim.port}`;
    const seenBy = (name: string, fromMs: number): number => samples.filter((s) => s.body === name && s.startMs >= fromMs).length;

    try {
      await waitFor(() => seenBy(victim.name, 300) >= 50, { timeoutMs: 5000, what: 'steady load on all targets' });
      const killAt = performance.now() - t0;
      victim.child.kill('SIGKILL');
      await exited(victim.child);
      await waitFor(async () => !(await upstreamStatus(t, 'chaos')).targets[1]!.available, { timeoutMs: 5000, what: 'victim out of rotation' });
      const outAt = performance.now() - t0;
      // Keep the load on the two survivors for a while before the restart.
      await waitFor(() => performance.now() - t0 > outAt + 500, { timeoutMs: 2000 });
      const restarted = await startTarget(victim.name, victim.port);
      victim.child = restarted.child;
      const restartAt = performance.now() - t0;
      await waitFor(() => seenBy(victim.name, restartAt) >= 50, { timeoutMs: 8000, what: 'traffic back on the restarted target' });
      const backAt = performance.now() - t0;
      stop = true;
      await load;

      const failed = samples.filter((s) => s.status !== 200);
      const during = samples.filter((s) => s.startMs >= killAt && s.startMs < restartAt).map((s) => s.ms);
      // Steady state before the kill, past the first TLS handshakes.
      const before = samples.filter((s) => s.startMs > 300 && s.startMs < killAt).map((s) => s.ms);
      const p99During = quantile(during, 0.99);
      const p99Before = quantile(before, 0.99);
      const lines = t.logs.find({ msg: 'request', route: 'chaos' });
      const retried = lines.filter((l) => (l.attempts as number) > 1).length;
      console.log(
        `[pools] chaos: ${samples.length} requests, ${failed.length} failed, ${retried} retried; ` +
          `kill at ${killAt.toFixed(0)} ms, out of rotation after ${(outAt - killAt).toFixed(0)} ms, ` +
          `restart at ${restartAt.toFixed(0)} ms, traffic back after ${(backAt - restartAt).toFixed(0)} ms; ` +
          `p99 before ${p99Before.toFixed(1)} ms, p99 during the event ${p99During.toFixed(1)} ms (${during.length} requests), ` +
          `max during ${Math.max(...during).toFixed(1)} ms`,
      );
      expect(failed.slice(0, 5)).toEqual([]);
      expect(during.length).toBeGreaterThan(100);
      expect(samples.filter((s) => s.body === victim.name && s.startMs > outAt && s.startMs < restartAt)).toHaveLength(0);
      const s = await upstreamStatus(t, 'chaos');
      expect(s.targets.map((x) => x.url)).toContain(victimUrl);
      expect(s.activeTier).toBe('primary');
    } finally {
      stop = true;
      await load;
    }
  });
});
