// Reads bench/out/results.jsonl (+ meta.json) and prints one table per protocol; writes
// bench/out/results.json and bench/out/results.md. Ratios are per proxy core (req/s ÷ CPU share).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const outDir = process.argv[2];
const rows = readFileSync(join(outDir, 'results.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l));
const meta = existsSync(join(outDir, 'meta.json')) ? JSON.parse(readFileSync(join(outDir, 'meta.json'), 'utf8')) : {};

// The undici baseline for a protocol: the h1-only forwarder where it runs, else its http2 variant.
const UNDICI_BASELINE = { h1: 'undici', h2: 'undici-h2', 'h1-mtls': 'undici', 'h1-mtls-new': 'undici' };
const PROTO_TITLE = {
  h1: 'HTTP/1.1 over TLS (wrk, keep-alive)',
  h2: 'HTTP/2 over TLS (h2load)',
  'h1-mtls': 'HTTP/1.1 over mTLS, connections reused (mtls-load.mjs)',
  'h1-mtls-new': 'HTTP/1.1 over mTLS, new TLS connection per request (mtls-load.mjs)',
};

for (const r of rows) {
  // Recomputed from the raw shares so that records from older harness versions read the same.
  if (r.ok && r.core0BusyPct != null && r.proxyCpuPct != null) r.foreignProxyCorePct = Math.max(0, r.core0BusyPct - r.proxyCpuPct);
  if (r.ok && r.core1BusyPct != null && r.originCpuPct != null && r.loadgenCpuPct != null) {
    r.foreignLoadCorePct = Math.max(0, r.core1BusyPct - r.originCpuPct - r.loadgenCpuPct);
  }
  r.perCore = r.ok && r.proxyCpuPct > 0 ? r.reqPerSec / (r.proxyCpuPct / 100) : null;
}
const protos = [...new Set(rows.map((r) => r.proto))];

/**
 * Median over the rounds of (peer ÷ baseline), each round's runs compared with each other: runs a few
 * minutes apart share the machine's state more than the fastest runs of the whole bench do.
 */
function medianRoundRatio(peer, base) {
  if (!Array.isArray(peer) || !Array.isArray(base)) return null;
  const ratios = [];
  for (let i = 0; i < Math.min(peer.length, base.length); i++) if (peer[i] > 0 && base[i] > 0) ratios.push(peer[i] / base[i]);
  if (ratios.length === 0) return null;
  ratios.sort((a, b) => a - b);
  const m = ratios.length >> 1;
  return ratios.length % 2 ? ratios[m] : (ratios[m - 1] + ratios[m]) / 2;
}
const tables = {};
for (const proto of protos) {
  const these = rows.filter((r) => r.proto === proto);
  const nginx = these.find((r) => r.peer === 'nginx' && r.ok);
  const undici = these.find((r) => r.peer === (UNDICI_BASELINE[proto] ?? 'undici') && r.ok);
  tables[proto] = these.map((r) => ({
    ...r,
    vsNginxPerCore: r.perCore && nginx?.perCore ? r.perCore / nginx.perCore : null,
    vsUndiciPerCore: r.perCore && undici?.perCore ? r.perCore / undici.perCore : null,
    vsUndiciReqPerSec: r.ok && undici ? r.reqPerSec / undici.reqPerSec : null,
    vsUndiciRoundsMedian: r.ok && undici ? medianRoundRatio(r.perCoreByRound, undici.perCoreByRound) : null,
    undiciBaseline: UNDICI_BASELINE[proto] ?? 'undici',
  }));
}

const f = (v, d = 0) => (v === null || v === undefined ? '—' : v.toFixed(d));
const header = ['peer', 'req/s', 'p50 ms', 'p99 ms', 'proxy CPU %', 'req/s per proxy-core', '× nginx /core', '× undici /core', '× undici /core, median of rounds', '× undici req/s', 'load core busy %', 'other work %'];
function cells(r) {
  if (!r.ok) return [r.peer, String(r.reason).startsWith('skipped') ? 'SKIP' : 'FAIL', ...header.slice(2).map(() => '—')];
  return [
    r.peer,
    f(r.reqPerSec),
    f(r.p50Ms, 2),
    f(r.p99Ms, 2),
    f(r.proxyCpuPct),
    f(r.perCore),
    f(r.vsNginxPerCore, 2),
    f(r.vsUndiciPerCore, 2),
    f(r.vsUndiciRoundsMedian, 2),
    f(r.vsUndiciReqPerSec, 2),
    f(r.core1BusyPct),
    `${f(r.foreignProxyCorePct)} / ${f(r.foreignLoadCorePct)}`,
  ];
}

function textTable(list) {
  const data = [header, ...list.map(cells)];
  const widths = header.map((_, i) => Math.max(...data.map((row) => String(row[i]).length)));
  return data
    .map((row, n) => {
      const line = row.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
      return n === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}

function mdTable(list) {
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`];
  for (const r of list) lines.push(`| ${cells(r).join(' | ')} |`);
  return lines.join('\n');
}

let text = '';
let md = '# tollgate bench results\n\n';
if (Object.keys(meta).length > 0) {
  md += `${Object.entries(meta).map(([k, v]) => `- ${k}: ${v}`).join('\n')}\n\n`;
}
for (const proto of protos) {
  const list = tables[proto];
  const base = list[0]?.undiciBaseline;
  const notes = list.filter((r) => !r.ok).map((r) => `${r.peer}: ${r.reason}`);
  text += `\n== ${PROTO_TITLE[proto] ?? proto} ==  (undici baseline: ${base})\n${textTable(list)}\n`;
  text += notes.map((n) => `  ${n}\n`).join('');
  md += `## ${PROTO_TITLE[proto] ?? proto}\n\nundici baseline: \`${base}\`\n\n${mdTable(list)}\n\n`;
  md += notes.map((n) => `- ${n.replaceAll('|', '\\|')}\n`).join('') + (notes.length ? '\n' : '');
}
// Per-round ratios of each tollgate row (route and full profiles) to the undici baseline and to
// @fastify/http-proxy: the figures issue 13 asks for, round by round, with their median.
const fmtRounds = (peer, base) => {
  if (!Array.isArray(peer?.perCoreByRound) || !Array.isArray(base?.perCoreByRound)) return '—';
  const list = [];
  for (let i = 0; i < Math.min(peer.perCoreByRound.length, base.perCoreByRound.length); i++) {
    const a = peer.perCoreByRound[i];
    const b = base.perCoreByRound[i];
    list.push(a > 0 && b > 0 ? (a / b).toFixed(2) : '—');
  }
  const m = medianRoundRatio(peer.perCoreByRound, base.perCoreByRound);
  return `${list.join(', ')} (median ${m === null ? '—' : m.toFixed(2)})`;
};
let roundsMd = '';
for (const proto of protos) {
  const list = tables[proto];
  const base = list.find((r) => r.peer === list[0]?.undiciBaseline && r.ok);
  const fastify = list.find((r) => r.peer === 'fastify-proxy' && r.ok);
  for (const r of list.filter((x) => x.peer.startsWith('tollgate') && x.ok)) {
    roundsMd += `| ${proto} | ${r.peer} | ${fmtRounds(r, base)} | ${fmtRounds(r, fastify)} |\n`;
    text += `  ${proto} ${r.peer}: per round × ${base?.peer ?? 'undici'} /core ${fmtRounds(r, base)}; × fastify-proxy /core ${fmtRounds(r, fastify)}\n`;
  }
}
if (roundsMd !== '') {
  md += '## tollgate per round (req/s per proxy core ÷ the other row\'s, same round)\n\n';
  md += '| row | peer | × undici baseline, rounds 1… | × fastify-proxy, rounds 1… |\n| --- | --- | --- | --- |\n' + roundsMd + '\n';
}
md +=
  'req/s per proxy-core = req/s ÷ (proxy CPU % / 100). "× nginx /core" and "× undici /core" compare that figure\n' +
  '(each row\'s fastest run); "median of rounds" compares each round\'s runs with each other and takes the median;\n' +
  '"× undici req/s" compares raw throughput. "load core busy %" is the core running the origin and the load\n' +
  'generator: near 100 % means that side, not the proxy, capped the raw req/s. "other work" (proxy core / load core) is CPU on each\n' +
  'core that was neither ours (proxy; origin + load generator) nor idle (softirq work for loopback TCP is\n' +
  'mostly charged to our processes already): other jobs on the machine, hypervisor steal.\n' +
  'A few % is normal; tens of % mean a noisy run.\n';
writeFileSync(join(outDir, 'results.md'), md);
writeFileSync(join(outDir, 'results.json'), JSON.stringify({ meta, tables }, null, 2) + '\n');
process.stdout.write(text + '\n');
process.stdout.write(`wrote ${join(outDir, 'results.md')} and results.json\n`);
