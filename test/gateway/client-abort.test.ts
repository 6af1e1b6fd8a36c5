/**
 * Clients that leave (h2 streams cancelled at once, or closed while the upstream is slow) on a route with
 * retries and a tiny circuit breaker: nothing they held may stay held, nothing counts against the target,
 * and each is one access line with status 499.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientHttp2Session } from 'node:http2';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { delay, ok, startUpstream, type TestUpstream } from '../support/upstream.js';
import { h2, h2Session } from '../support/clients.js';
import { waitFor } from '../support/wait.js';
import { upstreamStatus } from '../pools/support.js';

const RAPID = 900;
const SLOW = 100;

describe('client aborts over HTTP/2 with retries and a small breaker', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let c: TestUpstream;
  let t: TestGateway;

  const config = (targets: TestUpstream[]): Record<string, unknown> => ({
    shutdown: { drainTimeout: '60s' },
    routes: [{ name: 'r', match: { pathPrefix: '/' }, upstream: 'p', retries: { attempts: 2, on: ['connect-failure', 'reset', 'timeout'] } }],
    upstreams: {
      p: {
        targets: targets.map((u) => ({ url: u.url })),
        circuitBreaker: { maxConnections: 1, maxPendingRequests: 1 },
        outlierDetection: { consecutiveFailures: 2, ejectionTime: '30s', maxEjectionPercent: 50 },
      },
    },
  });

  beforeAll(async () => {
    const script = (req: { url?: string }) => (req.url?.startsWith('/slow') === true ? delay(1000) : ok());
    [a, b, c] = await Promise.all([startUpstream('a', script), startUpstream('b', script), startUpstream('c', script)]);
    t = await startTestGateway(config([a!, b!]));
  });

  afterAll(async () => {
    await Promise.all([a, b, c].map((u) => u?.close()));
  });

  /** One stream cancelled right after it was sent. */
  const rapidCancel = (session: ClientHttp2Session, i: number): Promise<void> =>
    new Promise((resolve) => {
      const s = session.request({ ':method': 'GET', ':path': `/fast/${i}` });
      s.on('error', () => {});
      s.on('close', () => resolve());
      setImmediate(() => s.close());
    });

  /** One stream given up after 300 ms while the upstream takes 1 s (curl --max-time 0.3). */
  const timesOut = (session: ClientHttp2Session, i: number): Promise<void> =>
    new Promise((resolve) => {
      const s = session.request({ ':method': 'GET', ':path': `/slow/${i}` });
      s.on('error', () => {});
      s.on('close', () => resolve());
      s.resume();
      setTimeout(() => s.close(), 300);
    });

  it('ok/after 1,000 aborted h2 requests the pool serves, nothing is held, reload and shutdown complete', async () => {
    const started = Date.now();
    // A session per batch: nghttp2 answers a flood of resets on one session with ENHANCE_YOUR_CALM.
    const batch = async (n: number, from: number, one: (s: ClientHttp2Session, i: number) => Promise<void>): Promise<void> => {
      const s = await h2Session(t.url, { ca: t.rootPem });
      await Promise.all(Array.from({ length: n }, (_, k) => one(s, from + k)));
      s.close();
    };
    for (let i = 0; i < RAPID; i += 50) await batch(50, i, rapidCancel);
    for (let i = 0; i < SLOW; i += 10) await batch(10, i, timesOut);
    expect(Date.now() - started).toBeLessThan(60_000);

    // Everything the aborted requests held is released: breaker slots, in-flight counts.
    const st = await waitFor(
      async () => {
        const s = await upstreamStatus(t, 'p');
        return s.targets.every((x) => x.inFlight === 0) && s.circuitBreaker.active === 0 && s.circuitBreaker.pending === 0 ? s : undefined;
      },
      { timeoutMs: 15_000, what: 'in flight back to 0' },
    );
    // Client aborts are not the targets' fault: nothing ejected.
    for (const x of st.targets) expect(x.ejectedUntil).toBeNull();

    // The pool serves normally again (over h2 and for several requests in a row).
    const session = await h2Session(t.url, { ca: t.rootPem });
    for (let i = 0; i < 5; i++) expect((await h2(session, `/fast/after-${i}`)).status).toBe(200);

    // No upstream socket of an aborted request lingers: only the pool's keep-alive connections stay open
    // (the breaker admits at most 2 at once, so at most 2 per target).
    await waitFor(() => a.openSockets() + b.openSockets() <= 4, { timeoutMs: 15_000, what: 'upstream sockets closed' });

    // Each aborted request is exactly one access line, with 499 (those the breaker refused at once get 503).
    const lines = t.logs.lines.filter((l) => typeof l.path === 'string' && (l.path.startsWith('/fast/') || l.path.startsWith('/slow/')) && !l.path.includes('after'));
    expect(lines).toHaveLength(RAPID + SLOW);
    expect(new Set(lines.map((l) => l.requestId)).size).toBe(RAPID + SLOW);
    const slowLines = lines.filter((l) => (l.path as string).startsWith('/slow/'));
    for (const l of slowLines) expect([499, 503]).toContain(l.status);
    expect(slowLines.filter((l) => l.status === 499).length).toBeGreaterThan(0);

    // A reload that changes the pool completes, and so does shutdown.
    await t.writeConfig(config([a, b, c]));
    const bounded = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
      Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} did not complete in ${ms} ms`)), ms).unref())]);
    const r = await bounded(t.gw.reload(), 15_000, 'reload');
    expect(r.result).toBe('success');
    expect((await upstreamStatus(t, 'p')).targets).toHaveLength(3);
    session.destroy();
    await bounded(t.stop(), 15_000, 'shutdown');
  }, 120_000);
});
