// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function, largest first.
//   node bench/lib/profile-top.mjs FILE.cpuprofile [REQUESTS] [TOP=25] [--by-file] [--skip-ms=N]
// Prints µs per request (when REQUESTS is given), the share of non-idle time, and the entry
// (function, file:line). `(idle)` is left out of the shares; `(program)` is native code outside JS
// (TLS, the HTTP parsers, nghttp2), `(garbage collector)` V8's GC. --by-file sums by source file.
// --skip-ms=N leaves out the first N ms of samples (start-up and warm-up).
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const byFile = args.includes('--by-file');
const skipMs = Number(args.find((a) => a.startsWith('--skip-ms='))?.slice('--skip-ms='.length) ?? 0);
const [file, requestsArg, topArg] = args.filter((a) => !a.startsWith('--'));
if (!file) {
  process.stderr.write('usage: profile-top.mjs FILE.cpuprofile [REQUESTS] [TOP] [--by-file]\n');
  process.exit(2);
}
const prof = JSON.parse(readFileSync(file, 'utf8'));
const requests = requestsArg ? Number(requestsArg) : 0;
const top = topArg ? Number(topArg) : 25;

const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const selfUs = new Map();
// timeDeltas[i] is the time before sample i; attribute it to that sample's node.
let elapsedUs = 0;
for (let i = 0; i < prof.samples.length; i++) {
  elapsedUs += prof.timeDeltas[i] ?? 0;
  if (elapsedUs < skipMs * 1000) continue;
  const id = prof.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const shortUrl = (u) => (u ? u.replace(/^file:\/\/.*?\/(dist|src|node_modules)\//, '$1/').replace(/^node:/, 'node:') : '');
const totals = new Map();
let idle = 0;
let all = 0;
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  const cf = n.callFrame;
  all += us;
  if (cf.functionName === '(idle)') {
    idle += us;
    continue;
  }
  const where = shortUrl(cf.url);
  const key = byFile ? where || cf.functionName : `${cf.functionName || '(anonymous)'} ${where}${where ? `:${cf.lineNumber + 1}` : ''}`;
  totals.set(key, (totals.get(key) ?? 0) + us);
}
const busy = all - idle;
const rows = [...totals].sort((a, b) => b[1] - a[1]).slice(0, top);
process.stdout.write(`profile ${file}: ${(all / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy` + (requests ? `, ${requests} requests, ${(busy / requests).toFixed(2)} µs busy per request` : '') + '\n');
process.stdout.write(`| ${requests ? 'µs/req | ' : ''}% busy | entry |\n| ${requests ? '---: | ' : ''}---: | --- |\n`);
for (const [key, us] of rows) {
  process.stdout.write(`| ${requests ? `${(us / requests).toFixed(2)} | ` : ''}${((100 * us) / busy).toFixed(1)} | \`${key}\` |\n`);
}
