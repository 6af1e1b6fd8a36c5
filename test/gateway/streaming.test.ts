import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { request, type Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, streamBytes, type TestUpstream } from '../support/upstream.js';
import { h1Agent } from '../support/clients.js';

const GiB = Number(process.env.STREAM_BYTES ?? 1024 * 1024 * 1024);
const CHUNK = Buffer.alloc(256 * 1024, 0x61);

/** `total` bytes produced lazily, chunk by chunk: the test itself holds no more than one chunk. */
function lazyBody(total: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(CHUNK.length, total - sent);
      sent += n;
      this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    },
  });
}

describe('streaming', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let agent: Agent;
  beforeAll(async () => {
    up = await startUpstream('stream', (req) => (req.method === 'GET' ? streamBytes(GiB) : { kind: 'ok', body: 'received' }));
    t = await startTestGateway({
      limits: { maxBodyBytes: 2 * GiB },
      routes: [{ name: 'upload', match: { pathPrefix: '/' }, upstream: 'stream', timeout: '120s' }],
      upstreams: { stream: { targets: [{ url: up.url }] } },
    });
    agent = h1Agent({ ca: t.rootPem });
  });
  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await up?.close();
  });

  /** Runs `fn` while sampling RSS; returns the peak growth in bytes. */
  async function peakRssGrowth(fn: () => Promise<void>): Promise<number> {
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 50);
    try {
      await fn();
    } finally {
      clearInterval(sampler);
    }
    return Math.max(peak, process.memoryUsage().rss) - before;
  }

  // Gateway, client and upstream share this process: a buffered body would add at least 1 GiB.
  const BOUND = 200 * 1024 * 1024;

  it('ok/a 1 GiB request body streams upstream in constant memory', async () => {
    const growth = await peakRssGrowth(async () => {
      const res = await request(`${t.url}/upload`, { dispatcher: agent, method: 'POST', body: lazyBody(GiB), headers: { 'content-type': 'application/octet-stream' } });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('received');
    });
    expect(up.seen.at(-1)?.bodyBytes).toBe(GiB);
    expect(growth).toBeLessThan(BOUND);
  }, 180_000);

  it('ok/a 1 GiB response body streams to the client in constant memory (h1 and backpressure)', async () => {
    let received = 0;
    const growth = await peakRssGrowth(async () => {
      const res = await request(`${t.url}/download`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      for await (const chunk of res.body) received += (chunk as Buffer).length;
    });
    expect(received).toBe(GiB);
    expect(growth).toBeLessThan(BOUND);
  }, 180_000);
});
