// Turns one measured run into a JSON line appended to bench/out/results.jsonl.
// Called by run.sh with the run's facts in env vars (REC_*); parses the load tool's own output.
import { readFileSync, appendFileSync, existsSync } from 'node:fs';

const env = (k, d) => process.env[k] ?? d;
const num = (k) => Number(env(k, '0'));

const rec = {
  peer: env('REC_PEER'),
  proto: env('REC_PROTO'),
  tool: env('REC_TOOL'),
  round: num('REC_ROUND') || 1,
  ok: true,
  reason: null,
  reqPerSec: null,
  p50Ms: null,
  p99Ms: null,
  requests: 0,
  non2xx: 0,
  errors: 0,
  proxyCpuPct: null,
  core0BusyPct: null,
  core1BusyPct: null,
  wallSec: num('REC_WALL_NS') / 1e9,
};

function fail(reason) {
  if (rec.ok) {
    rec.ok = false;
    rec.reason = reason;
  }
}

const out = readFileSync(env('REC_STDOUT'), 'utf8');

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

if (rec.tool === 'wrk') {
  const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) fail('no wrk summary');
  else {
    const s = JSON.parse(line.slice('BENCH_JSON '.length));
    rec.requests = s.requests;
    rec.reqPerSec = s.requests / (s.durationUs / 1e6);
    rec.p50Ms = s.p50Us / 1000;
    rec.p99Ms = s.p99Us / 1000;
    rec.non2xx = s.non2xx3xx;
    rec.errors = s.connectErrors + s.readErrors + s.writeErrors + s.timeouts;
    if (rec.non2xx > 0) fail(`${rec.non2xx} non-2xx/3xx responses`);
    if (rec.errors > 0) fail(`${rec.errors} socket errors/timeouts`);
  }
} else if (rec.tool === 'h2load') {
  // "finished in 10.00s, 30385.90 req/s, 4.02MB/s"
  // "requests: 303859 total, 303959 started, 303859 done, 303859 succeeded, 0 failed, 0 errored, 0 timeout"
  // "status codes: 303859 2xx, 0 3xx, 0 4xx, 0 5xx"
  const fin = out.match(/finished in ([\d.]+)(m?s), ([\d.]+) req\/s/);
  const reqs = out.match(/requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/);
  const codes = out.match(/status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/);
  const proto = out.match(/Application protocol: (\S+)/);
  if (!fin || !reqs || !codes) fail('could not parse h2load output');
  else {
    rec.reqPerSec = Number(fin[3]);
    rec.requests = Number(reqs[3]);
    const ok2xx = Number(codes[1]);
    rec.non2xx = Number(codes[2]) + Number(codes[3]) + Number(codes[4]);
    rec.errors = Number(reqs[5]) + Number(reqs[6]) + Number(reqs[7]);
    if (!proto || proto[1] !== 'h2') fail(`negotiated ${proto ? proto[1] : 'no protocol'}, not h2`);
    if (rec.non2xx > 0) fail(`${rec.non2xx} non-2xx responses`);
    if (rec.errors > 0) fail(`${rec.errors} failed/errored/timed-out requests`);
    if (ok2xx === 0) fail('no 2xx responses');
  }
  const logFile = env('REC_LOG');
  if (logFile && existsSync(logFile)) {
    const lat = [];
    for (const row of readFileSync(logFile, 'utf8').split('\n')) {
      if (row === '') continue;
      const [, status, us] = row.split('\t');
      if (Number(status) >= 200 && Number(status) < 300) lat.push(Number(us));
    }
    lat.sort((a, b) => a - b);
    const p50 = percentile(lat, 50);
    const p99 = percentile(lat, 99);
    rec.p50Ms = p50 === null ? null : p50 / 1000;
    rec.p99Ms = p99 === null ? null : p99 / 1000;
  }
} else if (rec.tool === 'mtls-load') {
  const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) fail('no mtls-load summary');
  else {
    const s = JSON.parse(line.slice('BENCH_JSON '.length));
    rec.requests = s.requests;
    rec.reqPerSec = s.reqPerSec;
    rec.p50Ms = s.p50Ms;
    rec.p99Ms = s.p99Ms;
    rec.non2xx = s.non2xx;
    rec.errors = s.errors + s.badBody;
    if (rec.non2xx > 0) fail(`${rec.non2xx} non-2xx responses`);
    if (rec.errors > 0) fail(`${s.errors} errors ${JSON.stringify(s.errorKinds ?? {})}, ${s.badBody} wrong bodies`);
  }
} else {
  fail(`unknown tool ${rec.tool}`);
}

// CPU: proxy process tree ticks over the run's wall time; per-core busy from /proc/stat deltas.
const wallSec = rec.wallSec;
const clk = num('REC_CLK_TCK') || 100;
if (wallSec > 0) rec.proxyCpuPct = (num('REC_PROXY_TICKS') / clk / wallSec) * 100;
// /proc/stat cpuN: user nice system idle iowait irq softirq steal guest guest_nice
function coreShares(before, after) {
  const a = before.trim().split(/\s+/).map(Number);
  const b = after.trim().split(/\s+/).map(Number);
  if (a.length < 8 || b.length < 8) return { busy: null, irq: null };
  const d = b.slice(0, 8).map((x, i) => x - a[i]);
  const total = d.reduce((s, x) => s + x, 0);
  if (total <= 0) return { busy: null, irq: null };
  return { busy: ((total - d[3] - d[4]) / total) * 100, irq: ((d[5] + d[6]) / total) * 100 };
}
const proxyCore = coreShares(env('REC_CORE_PROXY_BEFORE', ''), env('REC_CORE_PROXY_AFTER', ''));
const loadCore = coreShares(env('REC_CORE_LOAD_BEFORE', ''), env('REC_CORE_LOAD_AFTER', ''));
rec.core0BusyPct = proxyCore.busy;
rec.core1BusyPct = loadCore.busy;
// irq + softirq time (loopback TCP is processed there; the kernel does not charge it to a process)
rec.core0IrqPct = proxyCore.irq;
rec.core1IrqPct = loadCore.irq;
// Our own CPU on the load core: origin + load generator. "Foreign" = what else ran on a core
// during the run (other work on the machine): a noisy run shows up here.
rec.originCpuPct = wallSec > 0 ? (num('REC_ORIGIN_TICKS') / clk / wallSec) * 100 : null;
const [lu, ls] = env('REC_LOADGEN_CPU', '0 0').trim().split(/\s+/).map(Number);
rec.loadgenCpuPct = wallSec > 0 && Number.isFinite(lu + ls) ? ((lu + ls) / wallSec) * 100 : null;
// With tick-based CPU accounting (no IRQ_TIME_ACCOUNTING, as on these VMs) a softirq tick counts
// both in /proc/stat's softirq column and in the stime of the task it interrupted, so irq time is
// mostly inside our processes' CPU already and is not subtracted again.
rec.foreignProxyCorePct =
  rec.core0BusyPct !== null && rec.proxyCpuPct !== null ? Math.max(0, rec.core0BusyPct - rec.proxyCpuPct) : null;
rec.foreignLoadCorePct =
  rec.core1BusyPct !== null && rec.originCpuPct !== null && rec.loadgenCpuPct !== null
    ? Math.max(0, rec.core1BusyPct - rec.originCpuPct - rec.loadgenCpuPct)
    : null;
if (rec.ok && (rec.proxyCpuPct === null || rec.proxyCpuPct < 1)) fail('proxy CPU not measurable');

appendFileSync(env('REC_RESULTS'), JSON.stringify(rec) + '\n');
process.stdout.write(
  rec.ok
    ? `  ${rec.peer} ${rec.proto}: ${rec.reqPerSec.toFixed(0)} req/s, p50 ${rec.p50Ms?.toFixed(2)} ms, p99 ${rec.p99Ms?.toFixed(2)} ms, proxy CPU ${rec.proxyCpuPct?.toFixed(0)} %, load core ${rec.core1BusyPct?.toFixed(0)} % busy (origin ${rec.originCpuPct?.toFixed(0)} %, load gen ${rec.loadgenCpuPct?.toFixed(0)} %), irq ${rec.core0IrqPct?.toFixed(0)} % / ${rec.core1IrqPct?.toFixed(0)} %, other work ${rec.foreignProxyCorePct?.toFixed(0)} % / ${rec.foreignLoadCorePct?.toFixed(0)} %\n`
    : `  ${rec.peer} ${rec.proto}: FAIL (${rec.reason})\n`,
);
