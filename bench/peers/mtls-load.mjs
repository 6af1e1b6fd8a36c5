// A small HTTP/1.1 load client that presents a client certificate (wrk and h2load can't).
//   node bench/peers/mtls-load.mjs --url https://127.0.0.1:PORT/bench --duration 10 --connections 50 \
//     --cert client.crt --key client.key --ca server.crt --body EXPECTED [--new-connection-per-request]
// Reused: an undici Pool of N keep-alive connections, N request loops.
// --new-connection-per-request: every request sends `connection: close` and TLS sessions are not
// cached, so each request pays a full handshake with client-certificate verification.
// Bounded: stops after --duration seconds. Prints one BENCH_JSON line.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values: o } = parseArgs({
  options: {
    url: { type: 'string' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    cert: { type: 'string' },
    key: { type: 'string' },
    ca: { type: 'string' },
    body: { type: 'string', default: '' },
    'new-connection-per-request': { type: 'boolean', default: false },
    // "name: value", sent with every request (bench/gateway-full.yaml routes on x-bench-client).
    header: { type: 'string', multiple: true, default: [] },
  },
});
if (!o.url || !o.cert || !o.key) {
  process.stderr.write('usage: mtls-load.mjs --url URL --cert FILE --key FILE [--ca FILE] [--duration S] [--connections N]\n');
  process.exit(2);
}
const url = new URL(o.url);
if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost' && url.hostname !== '[::1]') {
  process.stderr.write('mtls-load.mjs only targets loopback\n');
  process.exit(2);
}
const fresh = o['new-connection-per-request'];
const headers = {};
for (const h of o.header) {
  const colon = h.indexOf(':');
  if (colon < 1) {
    process.stderr.write(`--header wants "name: value", got "${h}"\n`);
    process.exit(2);
  }
  headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
}
const connections = Number(o.connections);
const durationMs = Number(o.duration) * 1000;
const pool = new Pool(url.origin, {
  connections,
  pipelining: 1,
  connect: {
    cert: readFileSync(o.cert),
    key: readFileSync(o.key),
    ca: o.ca ? readFileSync(o.ca) : undefined,
    rejectUnauthorized: Boolean(o.ca),
    maxCachedSessions: fresh ? 0 : 100,
  },
});

const latUs = [];
let non2xx = 0;
let errors = 0;
const errorKinds = {};
let badBody = 0;
const start = performance.now();
const deadline = start + durationMs;

async function loop() {
  while (performance.now() < deadline) {
    const t0 = performance.now();
    try {
      const res = await pool.request({ path: url.pathname + url.search, method: 'GET', reset: fresh, headers });
      const text = await res.body.text();
      if (res.statusCode < 200 || res.statusCode >= 300) non2xx++;
      else if (o.body !== '' && text !== o.body) badBody++;
      latUs.push((performance.now() - t0) * 1000);
    } catch (err) {
      errors++;
      const kind = err.code ?? err.name ?? 'Error';
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    }
  }
}

await Promise.all(Array.from({ length: connections }, loop));
const elapsed = (performance.now() - start) / 1000;
await pool.close();
latUs.sort((a, b) => a - b);
const pct = (p) => (latUs.length ? latUs[Math.min(latUs.length - 1, Math.ceil((p / 100) * latUs.length) - 1)] / 1000 : null);
const summary = {
  requests: latUs.length,
  reqPerSec: latUs.length / elapsed,
  p50Ms: pct(50),
  p99Ms: pct(99),
  non2xx,
  errors,
  errorKinds,
  badBody,
  mode: fresh ? 'new-connection-per-request' : 'reused',
};
process.stdout.write(`BENCH_JSON ${JSON.stringify(summary)}\n`);
