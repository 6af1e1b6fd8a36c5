/**
 * What a rate limit costs the gateway: requests per second through one in-process gateway on a
 * route with a limit (memory store, a bucket that never empties: every request is decided and
 * allowed) against an identical route without one. Reported as a ratio; target ≥ 0.9.
 *
 *   gateway (this process) ──h1 keep-alive──▶ origin (child process: node:http, 64-byte body)
 *        ▲
 *   load (child process per round: undici Pool over TLS, CONNECTIONS connections, IN_FLIGHT requests)
 *
 * Rounds alternate open / limited / limited+quota so that drift in the machine's load hits every
 * variant alike; the median of each is reported. Two figures per variant: req/s, and the gateway
 * process's CPU time per request (process.cpuUsage over the run; only the gateway runs in this
 * process). On a shared or oversubscribed machine (steal time, other benchmarks) req/s swings
 * widely while CPU per request stays put, so the CPU ratio (open ÷ limited) is the figure to
 * trust there: it is the throughput ratio the gateway would reach with a core to itself.
 * Bounded: (ROUNDS + 1) × 3 runs of SECONDS each, the first round a warm-up.
 * Everything on 127.0.0.1; the children are stopped by PID.
 *
 * Run: npx tsx bench/limits-gateway.ts     (BENCH_SECONDS=3 BENCH_ROUNDS=3 by default)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { Pool } from 'undici';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 3);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 16);
const IN_FLIGHT = Number(process.env['BENCH_IN_FLIGHT'] ?? 64);
const SELF = fileURLToPath(import.meta.url);
const BODY = 'ok' + 'x'.repeat(62);

/** Child mode: the origin. Prints its port, serves until killed. */
function runOrigin(): void {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
    res.end(BODY);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`${typeof a === 'object' && a !== null ? a.port : 0}\n`);
  });
}

/** Child mode: load `url` for `seconds`; prints `{ ok, other, perSec }`. */
async function runLoad(url: string, caPath: string, seconds: number): Promise<void> {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: CONNECTIONS, connect: { ca: await readFile(caPath, 'utf8') } });
  let ok = 0;
  let other = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const lane = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const res = await pool.request({ path: u.pathname, method: 'GET' });
      await res.body.text();
      if (res.statusCode === 200) ok++;
      else other++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const elapsed = (performance.now() - start) / 1000;
  await pool.close();
  process.stdout.write(`${JSON.stringify({ ok, other, perSec: ok / elapsed })}\n`);
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl !== -1) resolve(buf.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before answering`)));
  });
}

function child(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', SELF, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function main(): Promise<void> {
  const { startGateway } = await import('../src/control/lifecycle.js');
  const { createLogger } = await import('../src/telemetry/logger.js');
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-bench-limits-'));
  const origin = child(['--origin']);
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;
  try {
    const originPort = Number(await firstLine(origin));
    const route = (name: string, extra: Record<string, unknown>): Record<string, unknown> => ({ name, match: { pathPrefix: `/${name}` }, upstream: 'origin', ...extra });
    await writeFile(
      join(dir, 'gateway.yaml'),
      stringify({
        listen: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        ca: { dir: './ca' },
        routes: [
          route('open', {}),
          route('limited', { rateLimit: { rate: 1_000_000_000, per: '1s', by: 'ip' } }),
          route('both', { rateLimit: { rate: 1_000_000_000, per: '1s', by: 'ip' }, quota: { limit: 1_000_000_000, per: '1d', by: 'ip' } }),
        ],
        upstreams: { origin: { targets: [{ url: `http://127.0.0.1:${originPort}` }] } },
      }),
    );
    // The access log is part of the gateway's per-request work: kept, written nowhere.
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    gw = await startGateway({ configPath: join(dir, 'gateway.yaml'), logger: createLogger({ level: 'info', destination: sink }) });
    const caPath = join(dir, 'ca', 'root.crt');
    const variants = ['open', 'limited', 'both'] as const;
    const results: Record<(typeof variants)[number], number[]> = { open: [], limited: [], both: [] };
    const cpu: Record<(typeof variants)[number], number[]> = { open: [], limited: [], both: [] };
    const runOne = async (path: string, seconds: number): Promise<{ ok: number; other: number; perSec: number; cpuUsPerReq: number }> => {
      const load = child(['--load', `https://127.0.0.1:${gw?.publicPort}/${path}`, caPath, String(seconds)]);
      const before = process.cpuUsage();
      const res = JSON.parse(await firstLine(load)) as { ok: number; other: number; perSec: number };
      const used = process.cpuUsage(before);
      return { ...res, cpuUsPerReq: (used.user + used.system) / Math.max(1, res.ok) };
    };
    // Warm-up, every variant: JIT, connections, TLS.
    for (const v of variants) await runOne(v, SECONDS);
    for (let r = 0; r < ROUNDS; r++) {
      for (const v of variants) {
        const res = await runOne(v, SECONDS);
        if (res.other > 0) throw new Error(`${v}: ${res.other} non-200 answers`);
        results[v].push(res.perSec);
        cpu[v].push(res.cpuUsPerReq);
        console.log(`round ${r + 1} ${v.padEnd(8)} ${Math.round(res.perSec).toLocaleString('en-US').padStart(8)} req/s ${res.cpuUsPerReq.toFixed(1).padStart(8)} µs CPU/req`);
      }
    }
    const open = median(results.open);
    const openCpu = median(cpu.open);
    console.log(`\nmedians (TLS h1, ${CONNECTIONS} connections, ${IN_FLIGHT} in flight, ${SECONDS} s × ${ROUNDS} rounds)`);
    console.log('variant     req/s  ratio   µs CPU/req  CPU ratio (open ÷ variant)');
    for (const v of variants) {
      const perSec = median(results[v]);
      const us = median(cpu[v]);
      console.log(`${v.padEnd(8)} ${Math.round(perSec).toLocaleString('en-US').padStart(8)}  ${(perSec / open).toFixed(3)}  ${us.toFixed(1).padStart(10)}  ${(openCpu / us).toFixed(3)}`);
    }
  } finally {
    await gw?.shutdown();
    if (origin.pid !== undefined && origin.exitCode === null) process.kill(origin.pid, 'SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

const mode = process.argv[2];
if (mode === '--origin') runOrigin();
else if (mode === '--load') await runLoad(process.argv[3] as string, process.argv[4] as string, Number(process.argv[5]));
else await main();
