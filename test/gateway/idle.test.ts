/**
 * limits.idleTimeout over real TLS: idle connections (between requests, within one, HTTP/2 sessions)
 * are closed; a connection that keeps moving bytes is not. The limit is 400 ms here; the sweep closes
 * between 400 ms and 400 ms + 2 × 100 ms after the last byte.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { echo, ok, startUpstream, type TestUpstream } from '../support/upstream.js';
import { h2, h2Session } from '../support/clients.js';
import { exchange, rawTls } from '../support/raw.js';

const IDLE_MS = 400;

describe('idle timeout', () => {
  let up: TestUpstream;
  let t: TestGateway;

  beforeAll(async () => {
    up = await startUpstream('up', (req) => (req.method === 'POST' ? echo : ok()));
    t = await startTestGateway({
      limits: { idleTimeout: `${IDLE_MS}ms`, headersTimeout: '5s' },
      routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'up' }],
      upstreams: { up: { targets: [{ url: up.url }] } },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  /** ms from now until `socket` closes (rejects after 5 s). */
  async function closesAfter(emitter: NodeJS.EventEmitter, since: number): Promise<number> {
    const timeout = AbortSignal.timeout(5000);
    await once(emitter, 'close', { signal: timeout });
    return performance.now() - since;
  }

  it('ok/an HTTP/1.1 keep-alive connection idle after its response is closed', async () => {
    const s = await rawTls(t.gw.publicPort, t.rootPem);
    const data: Buffer[] = [];
    s.on('data', (c: Buffer) => data.push(c));
    s.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(s, 'data');
    const last = performance.now();
    const elapsed = await closesAfter(s, last);
    expect(Buffer.concat(data).toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    expect(elapsed).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(elapsed).toBeLessThan(IDLE_MS + 1000);
  });

  it('error/an HTTP/1.1 request whose body stalls is cut off', async () => {
    const s = await rawTls(t.gw.publicPort, t.rootPem);
    s.on('error', () => undefined);
    const started = performance.now();
    const r = await exchange(s, 'POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc', 5000);
    const elapsed = performance.now() - started;
    expect(r.closed).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(elapsed).toBeLessThan(IDLE_MS + 1000);
  });

  it('ok/a body that trickles in for several idle periods is not cut off', async () => {
    const s = await rawTls(t.gw.publicPort, t.rootPem);
    const body = 'trickle-body';
    const reply = exchange(s, `POST /trickle HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, 10_000);
    // One byte every 150 ms: 1.8 s in all, 4.5 idle periods, never idle for one.
    for (const ch of body) {
      await new Promise((r) => setTimeout(r, 150));
      s.write(ch);
    }
    const r = await reply;
    expect(r.data).toMatch(/^HTTP\/1\.1 200 /);
    expect(up.seen.find((x) => x.url === '/trickle')?.bodyBytes).toBe(body.length);
  });

  it('ok/a reload applies a new idleTimeout to open connections', async () => {
    const config = (idleTimeout: string): Record<string, unknown> => ({
      limits: { idleTimeout, headersTimeout: '5s' },
      routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'up' }],
      upstreams: { up: { targets: [{ url: up.url }] } },
    });
    await t.writeConfig(config('30s'));
    expect((await t.gw.reload()).result).toBe('success');
    const s = await rawTls(t.gw.publicPort, t.rootPem);
    s.on('error', () => undefined);
    // Idle for three old limits: still open under the 30 s limit.
    await new Promise((r) => setTimeout(r, 3 * IDLE_MS));
    expect(s.destroyed).toBe(false);
    await t.writeConfig(config(`${IDLE_MS}ms`));
    const since = performance.now();
    expect((await t.gw.reload()).result).toBe('success');
    const elapsed = await closesAfter(s, since);
    expect(elapsed).toBeLessThan(IDLE_MS + 1000);
  });

  it('ok/an idle HTTP/2 session is closed; a busy one is not', async () => {
    const idle = await h2Session(t.url, { ca: t.rootPem });
    idle.on('error', () => undefined);
    const busy = await h2Session(t.url, { ca: t.rootPem });
    const since = performance.now();
    let busyOk = 0;
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        if ((await h2(busy, '/busy')).status === 200) busyOk++;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const elapsed = await closesAfter(idle, since);
    stop = true;
    await loop;
    expect(elapsed).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(elapsed).toBeLessThan(IDLE_MS + 1000);
    expect(busy.closed || busy.destroyed).toBe(false);
    expect(busyOk).toBeGreaterThan(2);
    busy.close();
  });
});
