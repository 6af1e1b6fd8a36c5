/**
 * A/B of the per-request limit step (`evaluateLimits` on the memory store) between two checkouts:
 * this one (B) and BENCH_A_ROOT (A, e.g. an export of the base commit). The route shape of
 * bench/gateway-full.yaml: a rate limit and a daily quota, both by identity, never exceeded. Two
 * client mixes: one client (every request of one connection: one identity) and 1,000 clients
 * taken in turn. Interleaved rounds, best of each: ns of CPU per request and B ÷ A.
 *
 * Then the identity step of a request with a client certificate (peerVerdict + the XFCC element).
 *
 * Run: BENCH_A_ROOT=/path/to/other/checkout npx tsx bench/limits-ab.ts
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 7);
const N = 200_000;
const aRoot = process.env['BENCH_A_ROOT'];
if (aRoot === undefined) {
  process.stderr.write('set BENCH_A_ROOT to the other checkout\n');
  process.exit(2);
}

interface Side {
  readonly name: string;
  readonly run: (clients: number) => number;
}

async function side(name: string, root: string): Promise<Side> {
  const url = (p: string): string => pathToFileURL(resolve(root, p)).href;
  const rl = (await import(url('src/policy/rate-limit.ts'))) as typeof import('../src/policy/rate-limit.js');
  const ms = (await import(url('src/store/memory-store.ts'))) as typeof import('../src/store/memory-store.js');
  const policy = rl.compileLimitPolicy('bench', { rate: 10_000_000, per: '1s', by: 'identity' }, { limit: 2_000_000_000, per: '1d', by: 'identity' });
  if (policy === undefined) throw new Error('no policy');
  const ctxs = Array.from({ length: 1000 }, (_, i) => ({
    ip: '127.0.0.1',
    routeName: 'bench',
    identity: Object.freeze({ spiffeId: `spiffe://bench.partner/client-${i}`, certHash: 'x' }),
    header: () => undefined,
  }));
  const store = ms.createMemoryStore();
  let now = 1_700_000_000_000;
  return {
    name,
    run(clients) {
      let sink = 0;
      // CPU time, not wall time: on a shared machine the process is descheduled for much of the wall time.
      const t0 = process.cpuUsage();
      for (let i = 0; i < N; i++) {
        // A fresh context per request, as the pipeline builds one.
        const c = ctxs[i % clients] as (typeof ctxs)[number];
        const v = rl.evaluateLimits(policy, { ip: c.ip, routeName: c.routeName, identity: c.identity, header: c.header }, store, (now += 0.01));
        if (v instanceof Promise) throw new Error('memory store answered async');
        sink += v.rateLimitHeader.length;
      }
      const used = process.cpuUsage(t0);
      const ns = ((used.user + used.system) * 1000) / N;
      if (sink === 0) throw new Error('no headers');
      return ns;
    },
  };
}

const a = await side('A', aRoot);
const b = await side('B', resolve(import.meta.dirname, '..'));
for (const clients of [1, 1000]) {
  a.run(clients);
  b.run(clients);
}
for (const clients of [1, 1000]) {
  let bestA = Infinity;
  let bestB = Infinity;
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const x = a.run(clients);
    const y = b.run(clients);
    bestA = Math.min(bestA, x);
    bestB = Math.min(bestB, y);
    ratios.push(y / x);
  }
  ratios.sort((p, q) => p - q);
  console.log(`${String(clients).padStart(4)} client(s): A ${bestA.toFixed(0)} ns/request, B ${bestB.toFixed(0)} ns/request (best of ${ROUNDS}); B ÷ A median ${(ratios[ROUNDS >> 1] as number).toFixed(3)}`);
}

// The identity step of a request with a client certificate: peerVerdict (cached per socket) and the
// x-forwarded-client-cert element, on one connection's socket / certificate, A against B.
interface IdSide {
  readonly name: string;
  readonly run: () => number;
}
async function idSide(name: string, root: string): Promise<IdSide> {
  const url = (p: string): string => pathToFileURL(resolve(root, p)).href;
  const mtls = (await import(url('src/identity/mtls.ts'))) as typeof import('../src/identity/mtls.js');
  const fwd = (await import(url('src/http/forwarded.ts'))) as typeof import('../src/http/forwarded.js');
  const { X509Certificate } = await import('node:crypto');
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(resolve(tmpdir(), 'tollgate-id-ab-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=ab',
    '-addext', 'subjectAltName=URI:spiffe://bench.partner/load', '-keyout', resolve(dir, 'k.pem'), '-out', resolve(dir, 'c.pem')], { stdio: 'ignore' });
  const x = new X509Certificate(readFileSync(resolve(dir, 'c.pem')));
  const leaf = { raw: x.raw, serialNumber: x.serialNumber, valid_to: x.validTo, subjectaltname: x.subjectAltName ?? '' };
  const socket = { authorized: true, getPeerCertificate: () => leaf };
  const anchor = { cert: x, trustDomains: new Set(['bench.partner']), own: false, source: 'ab' };
  const trust = { anchors: () => [anchor], isRevoked: () => false, now: () => Date.now() };
  return {
    name,
    run() {
      let sink = 0;
      const t0 = process.cpuUsage();
      for (let i = 0; i < N; i++) {
        const id = mtls.peerVerdict(socket, trust).identity;
        if (id.spiffeId !== undefined && id.certHash !== undefined) sink += fwd.formatXfcc({ by: 'spiffe://tollgate.local/tollgate', hash: id.certHash, uri: id.spiffeId }).length;
      }
      const used = process.cpuUsage(t0);
      if (sink === 0) throw new Error('no identity');
      return ((used.user + used.system) * 1000) / N;
    },
  };
}
const ia = await idSide('A', aRoot);
const ib = await idSide('B', resolve(import.meta.dirname, '..'));
ia.run();
ib.run();
{
  let bestA = Infinity;
  let bestB = Infinity;
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const x = ia.run();
    const y = ib.run();
    bestA = Math.min(bestA, x);
    bestB = Math.min(bestB, y);
    ratios.push(y / x);
  }
  ratios.sort((p, q) => p - q);
  console.log(`identity + xfcc, one connection: A ${bestA.toFixed(0)} ns/request, B ${bestB.toFixed(0)} ns/request (best of ${ROUNDS}); B ÷ A median ${(ratios[ROUNDS >> 1] as number).toFixed(3)}`);
}
