/** Helpers of the pool integration tests: /status and /metrics readers, a bounded load loop, percentiles. */
import type { Agent } from 'undici';
import type { TestGateway } from '../support/gateway.js';
import { h1, type SimpleResponse } from '../support/clients.js';
import type { SeenRequest, TestUpstream } from '../support/upstream.js';

export interface TargetStatus {
  url: string;
  tier: 'primary' | 'backup';
  healthy: boolean;
  available: boolean;
  ejectedUntil: string | null;
  inFlight: number;
  ewmaMs: number;
}

export interface UpstreamStatus {
  balance: string;
  activeTier: 'primary' | 'backup' | 'none';
  targets: TargetStatus[];
  circuitBreaker: { maxConnections: number; maxPendingRequests: number; active: number; pending: number; rejected: number };
  retryBudget: { available: number };
}

/** One upstream's entry of GET /status. */
export async function upstreamStatus(t: TestGateway, name: string): Promise<UpstreamStatus> {
  const s = (await (await fetch(`${t.adminUrl}/status`)).json()) as { upstreams: Record<string, UpstreamStatus> };
  const u = s.upstreams[name];
  if (u === undefined) throw new Error(`no upstream ${name} in /status`);
  return u;
}

/** Prometheus text → value of the sample `name{labels}` (labels matched as a subset), or undefined. */
export async function metric(t: TestGateway, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(`${t.adminUrl}/metrics`)).text();
  return sampleOf(text, name, labels);
}

/** Sum of every sample of `name` whose labels include `labels`. */
export async function metricSum(t: TestGateway, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${t.adminUrl}/metrics`)).text();
  let sum = 0;
  for (const s of samples(text, name)) if (matches(s.labels, labels)) sum += s.value;
  return sum;
}

function sampleOf(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const s of samples(text, name)) if (matches(s.labels, labels)) return s.value;
  return undefined;
}

function matches(have: Record<string, string>, want: Record<string, string>): boolean {
  return Object.entries(want).every(([k, v]) => have[k] === v);
}

function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labels: Record<string, string> = {};
    const open = line.indexOf('{');
    const close = line.lastIndexOf('}');
    if (open !== -1 && close > open) {
      for (const m of line.slice(open + 1, close).matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1] as string] = m[2] as string;
    }
    out.push({ labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return out;
}

/** Requests an upstream saw, health probes left out. */
export function traffic(up: TestUpstream): SeenRequest[] {
  return up.seen.filter((s) => s.url !== '/healthz');
}

/** Sends `n` GETs, `concurrency` at a time; returns the responses in completion order. */
export async function burst(agent: Agent, url: string, n: number, concurrency = 8, headers?: (i: number) => Record<string, string>): Promise<SimpleResponse[]> {
  const out: SimpleResponse[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      out.push(await h1(agent, url, { headers: headers?.(i) }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

/** Counts response bodies (the test upstreams answer with their name). */
export function countBodies(responses: readonly SimpleResponse[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of responses) counts[r.body] = (counts[r.body] ?? 0) + 1;
  return counts;
}

/** The q-quantile (0..1) of `values`, nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
