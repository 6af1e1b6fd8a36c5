/**
 * Soak: a real gateway process under moderate HTTP/1.1 + HTTP/2 load for minutes, while everything
 * around it changes — a reload (SIGHUP, with a real config change) every 10 s, one upstream target
 * flapping (its listener closed with its connections destroyed, then bound again on the same port),
 * Redis (the counter store) killed and restarted on its port, and the gateway's CA-issued serving
 * certificate rotating (a short `ca.workloadTTL`; clients reconnect to see each new one).
 *
 *   load (this process: undici h1 + node:http2 sessions) ──TLS──▶ gateway (child: bin/tollgate.js start)
 *        ──h1──▶ upstreams (this process: two steady targets + one flapping) ; gateway ──▶ redis-server (child)
 *
 * Every request must answer 200 with the upstream's body; anything else (status, reset, timeout) is a
 * failed request. Every `sampleMs` the gateway's own /metrics give heap used, RSS and active handles;
 * each minute becomes one row (heap as the lowest sample of the minute: the floor after GC, which is
 * what a leak moves). The report goes to `bench/SOAK.md` (or `SOAK_OUT`).
 *
 * Bounded: load stops at `durationMs`; every child is stopped by its PID. Loopback only.
 * Run: bash bench/soak.sh (10 min; SOAK_MINUTES=30 for 30).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TLSSocket } from 'node:tls';
import { stringify } from 'yaml';
import { Agent, request } from 'undici';
import { startRedis, type TestRedis } from '../test/support/redis.js';
import { ok, startUpstream, type TestUpstream } from '../test/support/upstream.js';

export interface SoakOptions {
  /** How long the load runs. */
  readonly durationMs: number;
  /** How often the gateway's metrics are read (rows are per minute, or per run when shorter). */
  readonly sampleMs: number;
  /** Requests per second over all clients together. */
  readonly rps: number;
  readonly reloadEveryMs: number;
  /** The flapping target is down for `flapDownMs` every `flapEveryMs`. */
  readonly flapEveryMs: number;
  readonly flapDownMs: number;
  /** Redis is killed at these offsets from the start and restarted `redisDownMs` later. */
  readonly redisRestartsAtMs: readonly number[];
  readonly redisDownMs: number;
  /** `ca.workloadTTL`: the serving certificate is renewed at 2/3 of it. */
  readonly workloadTTL: string;
  /** One HTTP/2 session is replaced this often, so new handshakes see the rotated certificate. */
  readonly reconnectEveryMs: number;
  /** `limits.overload.maxEventLoopDelay` of the soaked gateway. */
  readonly maxEventLoopDelay: string;
  /** Progress lines (one per row); default none. */
  readonly progress?: (line: string) => void;
}

export interface SoakRow {
  readonly minute: number;
  readonly requests: number;
  readonly failed: number;
  readonly gatewayErrors: number;
  readonly gatewayWarnings: number;
  readonly heapMiB: number;
  readonly rssMiB: number;
  readonly handles: number;
  readonly reloads: number;
  readonly flaps: number;
  readonly redisRestarts: number;
  readonly certsRotated: number;
}

export interface SoakResult {
  readonly options: SoakOptions;
  readonly startedAt: string;
  readonly elapsedMs: number;
  readonly rows: readonly SoakRow[];
  readonly totals: {
    readonly requests: number;
    readonly failed: number;
    readonly h1: number;
    readonly h2: number;
    readonly reloads: number;
    readonly reloadFailures: number;
    readonly flaps: number;
    readonly redisRestarts: number;
    readonly certsRotated: number;
    /** Distinct serving certificates the clients' TLS handshakes saw. */
    readonly certsSeenByClients: number;
    readonly gatewayErrors: number;
    readonly gatewayWarnings: number;
    /** Access lines with a status other than 200 (a retried attempt is not one: its request answered 200). */
    readonly gatewayNon200: number;
    readonly heapStartMiB: number;
    readonly heapEndMiB: number;
    readonly heapMaxMiB: number;
    readonly heapSlopeMiBPerMin: number;
    /** The same over the rows after minute 5 (without the warm-up), NaN when there are fewer than 3. */
    readonly heapSlopeAfterWarmupMiBPerMin: number;
    readonly rssStartMiB: number;
    readonly rssEndMiB: number;
    readonly gatewayExit: string;
  };
  /** The first failures and gateway error/warning lines, for the report. */
  readonly failureSamples: readonly string[];
  /** Gateway warning and error lines counted by "level: msg". */
  readonly logCounts: Readonly<Record<string, number>>;
  readonly logSamples: readonly string[];
  /** The gateway's access lines of answers other than 200 (the first 30). */
  readonly non200Samples: readonly string[];
}

export const DEFAULTS: SoakOptions = {
  durationMs: 10 * 60_000,
  sampleMs: 5_000,
  rps: 100,
  reloadEveryMs: 10_000,
  flapEveryMs: 30_000,
  flapDownMs: 8_000,
  redisRestartsAtMs: [],
  redisDownMs: 3_000,
  workloadTTL: '90s',
  reconnectEveryMs: 15_000,
  maxEventLoopDelay: '1s',
};

/** Redis restarts for a run of `durationMs`: every 10 minutes, at least one (in the middle). */
export function redisRestartPlan(durationMs: number): number[] {
  const plan: number[] = [];
  for (let t = 5 * 60_000; t < durationMs - 60_000; t += 10 * 60_000) plan.push(t);
  return plan.length > 0 ? plan : [Math.round(durationMs / 2)];
}

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Value of one unlabelled (or first matching) sample in Prometheus text. */
function metric(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (labels === '' ? !(rest.startsWith(' ') || rest.startsWith('{')) : !rest.startsWith(`{${labels}`)) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) return v;
  }
  return undefined;
}

/** Least-squares slope of ys over xs. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

interface Gw {
  child: ChildProcess;
  url: string;
  adminUrl: string;
  rootPem: string;
  errors: number;
  warnings: number;
  /** Warning and error lines by level and msg. */
  byMsg: Map<string, number>;
  logSamples: string[];
  non200: number;
  non200Samples: string[];
  exited: Promise<string>;
}

async function startGatewayProcess(dir: string, configPath: string, publicPort: number, adminPort: number): Promise<Gw> {
  const child = spawn(process.execPath, [join(root, 'bin', 'tollgate.js'), 'start', '--config', configPath], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env },
  });
  const gw: Gw = {
    child,
    url: `https://127.0.0.1:${publicPort}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    rootPem: '',
    errors: 0,
    warnings: 0,
    byMsg: new Map(),
    logSamples: [],
    non200: 0,
    non200Samples: [],
    exited: new Promise((resolve) => child.once('exit', (code, sig) => resolve(sig !== null ? `signal ${sig}` : `exit ${code}`))),
  };
  let pending = '';
  let listening = false;
  const onLine = (line: string): void => {
    // Access lines are level 30; only warnings and errors are parsed.
    if (!listening && line.includes('"msg":"listening"')) listening = true;
    if (line.includes('"msg":"request"') && !line.includes('"status":200,')) {
      // The gateway's side of an answer other than 200 (what a failed request was, from inside).
      gw.non200++;
      if (gw.non200Samples.length < 30) gw.non200Samples.push(line.length > 600 ? `${line.slice(0, 600)}…` : line);
    }
    // pino with level labels (telemetry/logger.ts).
    if (line.includes('"level":"error"') || line.includes('"level":"fatal"')) gw.errors++;
    else if (line.includes('"level":"warn"')) gw.warnings++;
    else return;
    let key = line;
    try {
      const rec = JSON.parse(line) as { level?: string; msg?: string };
      key = `${rec.level ?? '?'}: ${rec.msg ?? '?'}`;
    } catch {
      /* counted as the raw line */
    }
    gw.byMsg.set(key, (gw.byMsg.get(key) ?? 0) + 1);
    if (gw.logSamples.length < 40) gw.logSamples.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
  };
  child.stdout?.on('data', (d: Buffer) => {
    pending += d.toString();
    let i: number;
    while ((i = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, i));
      pending = pending.slice(i + 1);
    }
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 4000) stderr += d.toString();
  });
  const deadline = performance.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}: ${stderr}`);
    if (listening) {
      try {
        const r = await fetch(`${gw.adminUrl}/readyz`);
        if (r.status === 200) break;
      } catch {
        /* not yet */
      }
    }
    if (performance.now() > deadline) throw new Error(`gateway not ready in 60 s: ${stderr}`);
    await sleep(100);
  }
  gw.rootPem = await readFile(join(dir, 'ca', 'root.crt'), 'utf8');
  return gw;
}

async function stopChild(child: ChildProcess, exited: Promise<string>): Promise<string> {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
  const killer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  }, 35_000);
  const how = await exited;
  clearTimeout(killer);
  return how;
}

function gatewayConfig(o: SoakOptions, ports: { public: number; admin: number }, ups: { steady: TestUpstream[]; flapPort: number }, redisUrl: string, generation: number): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: ports.public },
    admin: { host: '127.0.0.1', port: ports.admin },
    tls: { serverNames: ['localhost', '127.0.0.1'] },
    ca: { dir: './ca', workloadTTL: o.workloadTTL },
    store: { type: 'redis', redis: { url: redisUrl, keyPrefix: 'soak:' }, onStoreFailure: 'local' },
    limits: { overload: { maxEventLoopDelay: o.maxEventLoopDelay } },
    routes: [
      {
        name: 'api',
        match: { pathPrefix: '/api' },
        stripPrefix: true,
        upstream: 'pool',
        // A real change on every reload; the pool and the limit stay the same definition.
        timeout: generation % 2 === 0 ? '15s' : '14s',
        rateLimit: { rate: 100_000, per: '1s', by: 'ip' },
        retries: { attempts: 2, perTryTimeout: '5s', on: ['connect-failure', 'reset', '502', '503'] },
      },
    ],
    upstreams: {
      pool: {
        balance: 'round-robin',
        targets: [...ups.steady.map((u) => ({ url: u.url })), { url: `http://127.0.0.1:${ups.flapPort}` }],
        healthCheck: { path: '/healthz', interval: '1s', timeout: '500ms', healthyThreshold: 2, unhealthyThreshold: 2 },
        outlierDetection: { consecutiveFailures: 3, ejectionTime: '5s', maxEjectionPercent: 50 },
      },
    },
  };
}

/** Runs one soak and returns its numbers (does not write the report). */
export async function runSoak(partial: Partial<SoakOptions> = {}): Promise<SoakResult> {
  const o: SoakOptions = { ...DEFAULTS, redisRestartsAtMs: redisRestartPlan(partial.durationMs ?? DEFAULTS.durationMs), ...partial };
  const startedAt = new Date().toISOString();
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-soak-'));
  const configPath = join(dir, 'gateway.yaml');
  const stoppers: Array<() => Promise<unknown>> = [];
  const failureSamples: string[] = [];
  let redis: TestRedis | undefined;
  let gw: Gw | undefined;
  try {
    redis = await startRedis();
    stoppers.push(() => redis!.stop());
    const steady = await Promise.all([startUpstream('a', () => ok('a')), startUpstream('b', () => ok('b'))]);
    for (const u of steady) stoppers.push(() => u.close());
    let flapping: TestUpstream | undefined = await startUpstream('c', () => ok('c'));
    const flapPort = flapping.port;
    stoppers.push(() => flapping?.close() ?? Promise.resolve());

    const ports = { public: await freePort(), admin: await freePort() };
    let generation = 0;
    const writeConfig = (): Promise<void> => writeFile(configPath, stringify(gatewayConfig(o, ports, { steady, flapPort }, redis!.url, generation)));
    await writeConfig();
    gw = await startGatewayProcess(dir, configPath, ports.public, ports.admin);
    const g = gw;

    // ---- counters -------------------------------------------------------------------------
    const c = { requests: 0, failed: 0, h1: 0, h2: 0, reloads: 0, flaps: 0, redisRestarts: 0 };
    const servingSeen = new Set<string>();
    const clientSerials = new Set<string>();
    const fail = (what: string): void => {
      c.failed++;
      const line = `${new Date().toISOString()} ${what}`;
      if (failureSamples.length < 30) failureSamples.push(line);
      o.progress?.(`failed: ${line}`);
    };
    const t0 = performance.now();
    const elapsed = (): number => performance.now() - t0;
    let stopping = false;
    const bodies = new Set(['a', 'b', 'c']);

    // ---- load ----------------------------------------------------------------------------
    const H1_LOOPS = 4;
    const H2_SESSIONS = 2;
    const H2_LOOPS_PER_SESSION = 2;
    const loops = H1_LOOPS + H2_SESSIONS * H2_LOOPS_PER_SESSION;
    const intervalMs = (1000 * loops) / o.rps;
    const agent = new Agent({ connect: { ca: g.rootPem, servername: 'localhost' }, connections: H1_LOOPS, keepAliveTimeout: 30_000 });
    stoppers.push(() => agent.close());

    const paced = async (body: (i: number) => Promise<void>): Promise<void> => {
      let next = performance.now() + intervalMs * 0.5 * (1 + (loops % 3));
      for (let i = 0; !stopping && elapsed() < o.durationMs; i++) {
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
        next = Math.max(next + intervalMs, performance.now() - intervalMs * 5);
        if (stopping || elapsed() >= o.durationMs) return;
        await body(i);
      }
    };

    const h1Loop = (n: number): Promise<void> =>
      paced(async (i) => {
        c.requests++;
        c.h1++;
        try {
          const res = await request(`${g.url}/api/h1/${n}/${i}?q=${i}`, { dispatcher: agent, headers: { 'x-soak': 'h1' }, headersTimeout: 20_000, bodyTimeout: 20_000 });
          const text = await res.body.text();
          if (res.statusCode !== 200 || !bodies.has(text)) fail(`h1 status ${res.statusCode} body ${text.slice(0, 200)}`);
        } catch (err) {
          fail(`h1 error ${(err as Error).message} ${String((err as { code?: unknown }).code ?? '')}`);
        }
      });

    const openSession = (): Promise<ClientHttp2Session> =>
      new Promise((resolve, reject) => {
        const s = h2connect(g.url, { ca: g.rootPem, servername: 'localhost' });
        s.once('connect', () => {
          const cert = (s.socket as TLSSocket).getPeerCertificate();
          if (cert?.serialNumber) clientSerials.add(cert.serialNumber);
          resolve(s);
        });
        s.once('error', reject);
      });

    interface Slot {
      session: ClientHttp2Session | undefined;
      /** The handshake under way, shared by the slot's loops (one new session, not one each). */
      opening: Promise<ClientHttp2Session> | undefined;
    }
    const slots: Slot[] = Array.from({ length: H2_SESSIONS }, () => ({ session: undefined, opening: undefined }));
    const sessionFor = async (slot: Slot): Promise<ClientHttp2Session> => {
      const s = slot.session;
      if (s !== undefined && !s.closed && !s.destroyed) return s;
      slot.opening ??= openSession().then(
        (fresh) => {
          fresh.on('error', () => undefined);
          slot.session = fresh;
          slot.opening = undefined;
          return fresh;
        },
        (err: unknown) => {
          slot.opening = undefined;
          throw err;
        },
      );
      return slot.opening;
    };

    const h2Request = (session: ClientHttp2Session, path: string): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const stream = session.request({ ':method': 'GET', ':path': path, 'x-soak': 'h2' });
        let status = 0;
        const chunks: Buffer[] = [];
        const timer = setTimeout(() => stream.close(), 20_000);
        stream.on('response', (h) => (status = Number(h[':status'])));
        stream.on('data', (d: Buffer) => chunks.push(d));
        stream.on('end', () => {
          clearTimeout(timer);
          resolve({ status, body: Buffer.concat(chunks).toString() });
        });
        stream.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        stream.on('close', () => {
          clearTimeout(timer);
          if (stream.rstCode !== 0 && status === 0) reject(new Error(`stream closed with code ${stream.rstCode}`));
        });
      });

    // Streams open per session; a retired session is closed once it has none (as browsers and gRPC
    // clients do): closing a session with a stream just sent races the server's GOAWAY handling and
    // gets that stream REFUSED_STREAM, which real clients retry and this one would count as failed.
    const open = new Map<ClientHttp2Session, number>();
    const retired = new Set<ClientHttp2Session>();
    const h2Loop = (slot: Slot, n: number): Promise<void> =>
      paced(async (i) => {
        c.requests++;
        c.h2++;
        let session: ClientHttp2Session | undefined;
        try {
          session = await sessionFor(slot);
          open.set(session, (open.get(session) ?? 0) + 1);
          const r = await h2Request(session, `/api/h2/${n}/${i}`);
          if (r.status !== 200 || !bodies.has(r.body)) fail(`h2 status ${r.status} body ${r.body.slice(0, 200)}`);
        } catch (err) {
          fail(`h2 error ${(err as Error).message}`);
        } finally {
          if (session !== undefined) {
            const left = (open.get(session) ?? 1) - 1;
            open.set(session, left);
            if (left === 0 && retired.has(session)) {
              retired.delete(session);
              open.delete(session);
              session.close();
            }
          }
        }
      });

    // ---- chaos ----------------------------------------------------------------------------
    const chaos: Promise<void>[] = [];
    const every = (ms: number, fn: () => Promise<void>): void => {
      chaos.push(
        (async () => {
          for (let next = ms; !stopping && next < o.durationMs; next += ms) {
            while (!stopping && elapsed() < next) await sleep(Math.min(250, next - elapsed()));
            if (stopping) return;
            await fn();
          }
        })(),
      );
    };
    every(o.reloadEveryMs, async () => {
      generation++;
      await writeConfig();
      if (g.child.pid !== undefined && g.child.exitCode === null) process.kill(g.child.pid, 'SIGHUP');
      c.reloads++;
    });
    every(o.flapEveryMs, async () => {
      const down = flapping;
      flapping = undefined;
      await down?.close();
      c.flaps++;
      const upAt = elapsed() + o.flapDownMs;
      while (!stopping && elapsed() < upAt) await sleep(100);
      flapping = await startUpstream('c', () => ok('c'), { port: flapPort });
    });
    every(o.reconnectEveryMs, async () => {
      // The next request opens a new handshake; the old session closes once its streams are done.
      const slot = slots[0]!;
      const old = slot.session;
      slot.session = undefined;
      if (old === undefined) return;
      if ((open.get(old) ?? 0) === 0) {
        open.delete(old);
        old.close();
      } else retired.add(old);
    });
    for (const at of o.redisRestartsAtMs) {
      chaos.push(
        (async () => {
          while (!stopping && elapsed() < at) await sleep(250);
          if (stopping) return;
          redis!.kill();
          const upAt = elapsed() + o.redisDownMs;
          while (!stopping && elapsed() < upAt) await sleep(100);
          await redis!.restart();
          c.redisRestarts++;
        })(),
      );
    }

    // ---- sampling -------------------------------------------------------------------------
    interface Sample {
      at: number;
      heap: number;
      rss: number;
      handles: number;
    }
    const samples: Sample[] = [];
    let reloadSuccess = 0;
    let reloadFailure = 0;
    const sampleOnce = async (): Promise<void> => {
      try {
        const text = await (await fetch(`${g.adminUrl}/metrics`)).text();
        samples.push({
          at: elapsed(),
          heap: metric(text, 'tollgate_nodejs_heap_size_used_bytes') ?? Number.NaN,
          rss: metric(text, 'tollgate_process_resident_memory_bytes') ?? Number.NaN,
          handles: metric(text, 'tollgate_nodejs_active_handles_total') ?? Number.NaN,
        });
        reloadSuccess = metric(text, 'tollgate_config_reloads_total', 'result="success"') ?? reloadSuccess;
        reloadFailure = metric(text, 'tollgate_config_reloads_total', 'result="failure"') ?? reloadFailure;
        const status = (await (await fetch(`${g.adminUrl}/status`)).json()) as { certificates?: { serving?: { notAfter?: string } } };
        const na = status.certificates?.serving?.notAfter;
        if (na !== undefined) servingSeen.add(na);
      } catch (err) {
        fail(`admin sample failed: ${(err as Error).message}`);
      }
    };
    await sampleOnce();
    const rowMs = Math.min(60_000, o.durationMs);
    const rows: SoakRow[] = [];
    let last = { requests: 0, failed: 0, errors: 0, warnings: 0, reloads: 0, flaps: 0, redis: 0, certs: 0, sample: 0 };
    const makeRow = (minute: number): void => {
      const mine = samples.slice(last.sample);
      const certs = Math.max(0, servingSeen.size - 1);
      const lastSample = mine[mine.length - 1] ?? samples[samples.length - 1];
      rows.push({
        minute,
        requests: c.requests - last.requests,
        failed: c.failed - last.failed,
        gatewayErrors: g.errors - last.errors,
        gatewayWarnings: g.warnings - last.warnings,
        heapMiB: Math.min(...mine.map((s) => s.heap)) / MiB,
        rssMiB: (lastSample?.rss ?? Number.NaN) / MiB,
        handles: lastSample?.handles ?? Number.NaN,
        reloads: c.reloads - last.reloads,
        flaps: c.flaps - last.flaps,
        redisRestarts: c.redisRestarts - last.redis,
        certsRotated: certs - last.certs,
      });
      last = { requests: c.requests, failed: c.failed, errors: g.errors, warnings: g.warnings, reloads: c.reloads, flaps: c.flaps, redis: c.redisRestarts, certs, sample: samples.length };
      const r = rows[rows.length - 1]!;
      o.progress?.(
        `minute ${minute}: ${r.requests} requests, ${r.failed} failed, heap ${r.heapMiB.toFixed(1)} MiB, rss ${r.rssMiB.toFixed(1)} MiB, handles ${r.handles}, errors ${r.gatewayErrors}, load ${loadavg()[0]!.toFixed(2)}`,
      );
    };
    const sampler = (async () => {
      let nextRow = rowMs;
      for (let next = o.sampleMs; ; next += o.sampleMs) {
        const at = Math.min(next, nextRow, o.durationMs);
        while (elapsed() < at) await sleep(Math.min(250, at - elapsed()));
        await sampleOnce();
        if (elapsed() >= nextRow - 1 || elapsed() >= o.durationMs) {
          makeRow(Math.round((Math.min(nextRow, o.durationMs) / 60_000) * 100) / 100);
          nextRow += rowMs;
        }
        if (elapsed() >= o.durationMs) return;
        if (g.child.exitCode !== null) {
          fail(`gateway process exited: ${await g.exited}`);
          return;
        }
      }
    })();

    const load = [
      ...Array.from({ length: H1_LOOPS }, (_, n) => h1Loop(n)),
      ...slots.flatMap((slot, s) => Array.from({ length: H2_LOOPS_PER_SESSION }, (_, k) => h2Loop(slot, s * H2_LOOPS_PER_SESSION + k))),
    ];
    await Promise.all(load);
    await sampler;
    stopping = true;
    await Promise.all(chaos);
    for (const s of slots) s.session?.close();
    const elapsedMs = elapsed();

    // A last look after the load: the reload count settles (SIGHUP is asynchronous).
    await sleep(500);
    await sampleOnce();
    const gatewayExit = g.child.exitCode === null ? 'running until stopped' : await g.exited;
    const exitHow = await stopChild(g.child, g.exited);
    gw = undefined;
    const heaps = rows.map((r) => r.heapMiB);
    const mins = rows.map((r) => r.minute);
    return {
      options: o,
      startedAt,
      elapsedMs,
      rows,
      totals: {
        requests: c.requests,
        failed: c.failed,
        h1: c.h1,
        h2: c.h2,
        reloads: reloadSuccess,
        reloadFailures: reloadFailure,
        flaps: c.flaps,
        redisRestarts: c.redisRestarts,
        certsRotated: Math.max(0, servingSeen.size - 1),
        certsSeenByClients: clientSerials.size,
        gatewayErrors: g.errors,
        gatewayWarnings: g.warnings,
        gatewayNon200: g.non200,
        heapStartMiB: heaps[0] ?? Number.NaN,
        heapEndMiB: heaps[heaps.length - 1] ?? Number.NaN,
        heapMaxMiB: Math.max(...samples.map((s) => s.heap)) / MiB,
        heapSlopeMiBPerMin: slope(mins, heaps),
        heapSlopeAfterWarmupMiBPerMin: mins.filter((m) => m > 5).length >= 3 ? slope(mins.filter((m) => m > 5), heaps.filter((_, i) => mins[i]! > 5)) : Number.NaN,
        rssStartMiB: (samples[0]?.rss ?? Number.NaN) / MiB,
        rssEndMiB: (samples[samples.length - 1]?.rss ?? Number.NaN) / MiB,
        gatewayExit: gatewayExit === 'running until stopped' ? `ran to the end; SIGTERM → ${exitHow}` : gatewayExit,
      },
      failureSamples,
      logCounts: Object.fromEntries(g.byMsg),
      logSamples: g.logSamples,
      non200Samples: g.non200Samples,
    };
  } finally {
    if (gw !== undefined) await stopChild(gw.child, gw.exited);
    for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–');

/** The SOAK.md text for a result. */
export function soakReport(r: SoakResult, how: string): string {
  const t = r.totals;
  const o = r.options;
  const lines = [
    '# Soak',
    '',
    `Run ${r.startedAt} for ${(r.elapsedMs / 60_000).toFixed(1)} min with \`${how}\` (${cpus().length} CPUs, shared with other work).`,
    '',
    `Load: ${o.rps} req/s paced over 4 HTTP/1.1 connections and 2 HTTP/2 sessions (2 streams each) against a real`,
    '`tollgate start` process; route `api` with a Redis-backed rate limit that never empties, retries on',
    `connect-failure/reset/502/503, a pool of three targets with health checks. Around it: a SIGHUP reload with a`,
    `changed route every ${o.reloadEveryMs / 1000} s; one target down for ${o.flapDownMs / 1000} s every ${o.flapEveryMs / 1000} s (listener closed, its connections`,
    `destroyed, then bound again on the same port); redis-server SIGKILLed at ${o.redisRestartsAtMs.map((m) => `${(m / 60_000).toFixed(1)} min`).join(', ')} and`,
    `restarted on its port ${o.redisDownMs / 1000} s later; \`ca.workloadTTL: ${o.workloadTTL}\` so the CA-issued serving certificate`,
    `rotates at 2/3 of it, one HTTP/2 session replaced every ${o.reconnectEveryMs / 1000} s to handshake with the newest.`,
    `\`limits.overload.maxEventLoopDelay: ${o.maxEventLoopDelay}\` (default 250ms) because the machine is shared.`,
    '',
    'A failed request is any answer other than 200 with an upstream body, or a reset/timeout. Heap is the',
    "gateway's `nodejs_heap_size_used_bytes`, lowest of the minute's samples (every " + `${o.sampleMs / 1000} s): the floor after GC.`,
    '',
    '| minute | requests | failed | gw errors | gw warnings | heap MiB | RSS MiB | handles | reloads | flaps | Redis restarts | certs rotated |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...r.rows.map(
      (w) =>
        `| ${w.minute} | ${w.requests} | ${w.failed} | ${w.gatewayErrors} | ${w.gatewayWarnings} | ${f1(w.heapMiB)} | ${f1(w.rssMiB)} | ${w.handles} | ${w.reloads} | ${w.flaps} | ${w.redisRestarts} | ${w.certsRotated} |`,
    ),
    '',
    '## Totals',
    '',
    '| | |',
    '| --- | ---: |',
    `| requests | ${t.requests} (h1 ${t.h1}, h2 ${t.h2}) |`,
    `| failed | ${t.failed} |`,
    `| reloads (successful / failed, gateway's count) | ${t.reloads} / ${t.reloadFailures} |`,
    `| target flaps | ${t.flaps} |`,
    `| Redis restarts | ${t.redisRestarts} |`,
    `| serving certificates rotated (/status) | ${t.certsRotated} |`,
    `| distinct serving certificates seen by client handshakes | ${t.certsSeenByClients} |`,
    `| gateway error / warning log lines | ${t.gatewayErrors} / ${t.gatewayWarnings} |`,
    `| gateway access lines with a status other than 200 | ${t.gatewayNon200} |`,
    `| heap start / end / max (MiB) | ${f1(t.heapStartMiB)} / ${f1(t.heapEndMiB)} / ${f1(t.heapMaxMiB)} |`,
    `| heap slope (MiB/min, least squares over the rows) | ${t.heapSlopeMiBPerMin.toFixed(3)} |`,
    `| heap slope after the 5-minute warm-up (MiB/min) | ${Number.isFinite(t.heapSlopeAfterWarmupMiBPerMin) ? t.heapSlopeAfterWarmupMiBPerMin.toFixed(3) : '–'} |`,
    `| RSS start / end (MiB) | ${f1(t.rssStartMiB)} / ${f1(t.rssEndMiB)} |`,
    `| gateway process | ${t.gatewayExit} |`,
    '',
  ];
  if (r.failureSamples.length > 0) lines.push('## First failures', '', '```', ...r.failureSamples, '```', '');
  if (r.non200Samples.length > 0) lines.push("## The gateway's access lines of answers other than 200 (first 30)", '', '```', ...r.non200Samples, '```', '');
  const counted = Object.entries(r.logCounts);
  if (counted.length > 0) {
    lines.push(
      '## Gateway warning and error lines',
      '',
      'Expected: the counter store and the CA state store (both in Redis) reported unreachable (an error line each, by design) and back while Redis is down or a',
      'command times out on the loaded machine; the flapping target reported unhealthy and healthy.',
      '',
      '| level: msg | lines |',
      '| --- | ---: |',
      ...counted.map(([k, n]) => `| ${k} | ${n} |`),
      '',
      'The first 40:',
      '',
      '```',
      ...r.logSamples,
      '```',
      '',
    );
  }
  lines.push('Reproduce: `bash bench/soak.sh` (10 min) or `SOAK_MINUTES=30 bash bench/soak.sh`.', '');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const minutes = Number(process.env.SOAK_MINUTES ?? '10');
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 240) throw new Error('SOAK_MINUTES must be a number of minutes between 0 and 240');
  const out = process.env.SOAK_OUT ?? join(root, 'bench', 'SOAK.md');
  const result = await runSoak({ durationMs: Math.round(minutes * 60_000), progress: (l) => console.log(l) });
  await writeFile(out, soakReport(result, minutes === 10 ? 'bash bench/soak.sh' : `SOAK_MINUTES=${minutes} bash bench/soak.sh`));
  console.log(`wrote ${out}: ${result.totals.requests} requests, ${result.totals.failed} failed, heap slope ${result.totals.heapSlopeMiBPerMin.toFixed(3)} MiB/min`);
  process.exitCode = result.totals.failed === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  });
}
