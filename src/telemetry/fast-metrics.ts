/**
 * Per-request metrics without prom-client's per-call label hashing: series live in plain maps keyed
 * by a caller-made string, values are plain numbers, and prom-client only reads them at scrape time
 * (these objects implement the registry's metric interface: name, help, type, get, reset).
 * prom-client's `labels(…).inc()` and `observe()` were about 5 % of a proxied request's CPU.
 */
import type { Registry } from 'prom-client';

interface MetricValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName?: string;
}

interface CounterSeries {
  readonly labels: Record<string, string>;
  value: number;
}

type Part = string | number;

/**
 * A counter with two or three labels, its series found through nested maps by the label values
 * themselves: no key string is built per call (a concatenated key had to be flattened and hashed on
 * every request). Label values that are config names are the same string objects every time, so
 * each map lookup uses the string's cached hash.
 */
export class FastCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  readonly #root = new Map<Part, Map<Part, Map<Part, CounterSeries>>>();
  readonly #labelNames: readonly string[];

  constructor(
    readonly name: string,
    readonly help: string,
    labelNames: readonly [string, string] | readonly [string, string, string],
    registry: Registry,
  ) {
    this.#labelNames = labelNames;
    registry.registerMetric(this as never);
  }

  /** Adds `n` to the series with these label values (created at 0 on first use). */
  inc(a: Part, b: Part, c: Part = '', n = 1): void {
    const s = this.#root.get(a)?.get(b)?.get(c);
    if (s !== undefined) s.value += n;
    else this.#define(a, b, c).value += n;
  }

  #define(a: Part, b: Part, c: Part): CounterSeries {
    let byA = this.#root.get(a);
    if (byA === undefined) this.#root.set(a, (byA = new Map()));
    let byB = byA.get(b);
    if (byB === undefined) byA.set(b, (byB = new Map()));
    const names = this.#labelNames;
    const labels: Record<string, string> = { [names[0] as string]: String(a), [names[1] as string]: String(b) };
    if (names.length === 3) labels[names[2] as string] = String(c);
    const series: CounterSeries = { labels, value: 0 };
    byB.set(c, series);
    return series;
  }

  /** Drops every series whose labels match `pred` (e.g. a removed pool's targets). */
  remove(pred: (labels: Readonly<Record<string, string>>) => boolean): void {
    for (const byA of this.#root.values()) {
      for (const byB of byA.values()) for (const [c, s] of byB) if (pred(s.labels)) byB.delete(c);
    }
  }

  /** Calls `fn` with every series' labels and value, synchronously (the admin console's sampler). */
  forEach(fn: (labels: Readonly<Record<string, string>>, value: number) => void): void {
    for (const byA of this.#root.values()) {
      for (const byB of byA.values()) for (const s of byB.values()) fn(s.labels, s.value);
    }
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }> {
    const values: MetricValue[] = [];
    for (const byA of this.#root.values()) {
      for (const byB of byA.values()) for (const s of byB.values()) values.push({ labels: s.labels, value: s.value });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#root.clear();
  }
}

interface HistogramSeries {
  readonly labels: Record<string, string>;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** A histogram whose series are addressed by a precomputed key. */
export class FastHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series = new Map<string, HistogramSeries>();
  readonly #bounds: readonly number[];

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
    registry: Registry,
  ) {
    this.#bounds = [...buckets].sort((a, b) => a - b);
    registry.registerMetric(this as never);
  }

  /** Creates the series `key` with its labels unless it exists. */
  define(key: string, labels: Record<string, string>): void {
    if (!this.#series.has(key)) this.#series.set(key, { labels, counts: new Float64Array(this.#bounds.length), sum: 0, count: 0 });
  }

  /** Records `v` in the series `key`; false (and nothing recorded) when the series was never defined. */
  observe(key: string, v: number): boolean {
    const s = this.#series.get(key);
    if (s === undefined) return false;
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (v <= (bounds[i] as number)) {
        (s.counts[i] as number)++;
        break;
      }
    }
    s.sum += v;
    s.count++;
    return true;
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }> {
    const values: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += s.counts[i] as number;
        values.push({ labels: { le: this.#bounds[i] as number, ...s.labels }, value: cumulative, metricName: bucket });
      }
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: bucket });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#series.clear();
  }
}
