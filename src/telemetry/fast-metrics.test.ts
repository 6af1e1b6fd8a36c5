import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { FastCounter, FastHistogram } from './fast-metrics.js';

describe('fast metrics', () => {
  it('ok/counter series render in the Prometheus text format', async () => {
    const r = new Registry();
    const c = new FastCounter('x_total', 'Help.', ['route', 'code'], r);
    c.inc('a', 200);
    c.inc('a', 200, '', 2);
    c.inc('b', 404);
    const u = new FastCounter('u_total', 'Help.', ['upstream', 'target', 'outcome'], r);
    u.inc('p', 'http://t:1', 'ok');
    u.inc('p', 'http://t:1', 'timeout');
    u.inc('p', 'http://t:1', 'ok');
    const text = await r.metrics();
    expect(text).toContain('# TYPE x_total counter');
    expect(text).toContain('x_total{route="a",code="200"} 3');
    expect(text).toContain('x_total{route="b",code="404"} 1');
    expect(text).toContain('u_total{upstream="p",target="http://t:1",outcome="ok"} 2');
    expect(text).toContain('u_total{upstream="p",target="http://t:1",outcome="timeout"} 1');
    c.remove((l) => l.route === 'b');
    expect(await r.metrics()).not.toContain('route="b"');
  });

  it('ok/histogram buckets are cumulative with +Inf, sum and count', async () => {
    const r = new Registry();
    const h = new FastHistogram('d_seconds', 'Help.', [0.1, 1], r);
    expect(h.observe('a', 1)).toBe(false);
    h.define('a', { route: 'a' });
    for (const v of [0.05, 0.5, 0.7, 5]) h.observe('a', v);
    const text = await r.metrics();
    expect(text).toContain('d_seconds_bucket{le="0.1",route="a"} 1');
    expect(text).toContain('d_seconds_bucket{le="1",route="a"} 3');
    expect(text).toContain('d_seconds_bucket{le="+Inf",route="a"} 4');
    expect(text).toContain('d_seconds_sum{route="a"} 6.25');
    expect(text).toContain('d_seconds_count{route="a"} 4');
  });
});
