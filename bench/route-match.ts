/**
 * Route-match micro-benchmark: ns per matchRoute for hits and misses at 1, 100 and 10,000 routes.
 * The cost should stay roughly flat as the table grows (the router indexes by path, never scans).
 * Run: npx tsx bench/route-match.ts
 */
import { RouteSpec } from '../src/spec/schema.js';
import { compileRoutes } from '../src/router/compile.js';
import { matchRoute, type RouteQuery } from '../src/router/match.js';

const SIZES = [1, 100, 10_000];
const ITERATIONS = 100_000;
const ROUNDS = 5;
const QUERIES = 1024;

function routesOf(n: number): RouteSpec[] {
  const out: RouteSpec[] = [];
  for (let i = 0; i < n; i++) {
    // A realistic mix: mostly service prefixes, some exact paths, some host-specific routes.
    const match =
      i % 10 === 9 ? { path: `/svc${i}/v1/health` } : i % 7 === 3 ? { pathPrefix: `/svc${i}/v1`, host: `svc${i}.example.com` } : { pathPrefix: `/svc${i}/v1` };
    out.push(RouteSpec.parse({ name: `svc${i}`, match, upstream: 'u', stripPrefix: true }));
  }
  return out;
}

const noHeader = (): string | undefined => undefined;

function queriesOf(n: number, hit: boolean): RouteQuery[] {
  const out: RouteQuery[] = [];
  for (let k = 0; k < QUERIES; k++) {
    const i = (k * 7919) % n;
    const path = hit ? (i % 10 === 9 ? `/svc${i}/v1/health` : `/svc${i}/v1/users/${k}/orders`) : `/nosuch${i}/v1/users/${k}/orders`;
    const host = i % 7 === 3 ? `svc${i}.example.com` : 'gw.example.com';
    out.push({ method: 'GET', host, path, header: noHeader });
  }
  return out;
}

interface Case {
  readonly routes: number;
  readonly hit: boolean;
  readonly table: ReturnType<typeof compileRoutes<string>>;
  readonly queries: readonly RouteQuery[];
  best: number;
}

function run(c: Case, iterations: number): number {
  const { table, queries } = c;
  let found = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < iterations; k++) {
    if (matchRoute(table, queries[k & (QUERIES - 1)] as RouteQuery) !== undefined) found++;
  }
  const ns = Number(process.hrtime.bigint() - t0) / iterations;
  const expected = c.hit ? iterations : 0;
  if (found !== expected) throw new Error(`expected ${expected} matches, got ${found} (routes=${c.routes}, hit=${c.hit})`);
  return ns;
}

const cases: Case[] = [];
for (const n of SIZES) {
  const table = compileRoutes(routesOf(n).map((spec) => ({ spec, value: spec.name })));
  for (const hit of [true, false]) cases.push({ routes: n, hit, table, queries: queriesOf(n, hit), best: Infinity });
}
for (const c of cases) run(c, ITERATIONS / 4); // warm up the JIT on every shape first
// Interleaved rounds, best of each: the machine is shared, so the minimum is the least noisy estimate.
for (let round = 0; round < ROUNDS; round++) for (const c of cases) c.best = Math.min(c.best, run(c, ITERATIONS));

console.log('routes      hit ns/match   miss ns/match');
for (const n of SIZES) {
  const [hit, miss] = [true, false].map((h) => cases.find((c) => c.routes === n && c.hit === h)?.best ?? NaN) as [number, number];
  console.log(`${String(n).padStart(6)}   ${hit.toFixed(1).padStart(14)}   ${miss.toFixed(1).padStart(14)}`);
}
