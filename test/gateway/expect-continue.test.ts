/**
 * `Expect: 100-continue` is answered at the edge and never forwarded, and bodies over maxBodyBytes are the
 * client's fault: neither may take a target out of service.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClientHttp2Session } from 'node:http2';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { ok, startUpstream, type TestUpstream } from '../support/upstream.js';
import { h2Session } from '../support/clients.js';
import { rawTls } from '../support/raw.js';
import { upstreamStatus } from '../pools/support.js';

const MAX = 1_300_000;

describe('Expect: 100-continue and oversized bodies', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let t: TestGateway;
  let port: number;

  beforeAll(async () => {
    [a, b] = await Promise.all([startUpstream('a', () => ok()), startUpstream('b', () => ok())]);
    t = await startTestGateway({
      limits: { maxBodyBytes: MAX },
      routes: [{ name: 'up', match: { pathPrefix: '/' }, upstream: 'p', retries: { attempts: 1 } }],
      upstreams: {
        p: { targets: [{ url: a.url }, { url: b.url }], outlierDetection: { consecutiveFailures: 2, ejectionTime: '30s', maxEjectionPercent: 50 } },
      },
    });
    port = t.gw.publicPort;
  });

  afterAll(async () => {
    await t?.stop();
    await Promise.all([a, b].map((u) => u?.close()));
  });

  /** One HTTP/1.1 request with Expect: the body goes only after the gateway's 100 (or never, when `sendBody` is false). */
  const h1Expect = async (i: number, length: number, sendBody: boolean): Promise<string> => {
    const s = await rawTls(port, t.rootPem);
    return new Promise((resolve) => {
      let data = '';
      let sent = false;
      const timer = setTimeout(() => s.destroy(), 20_000);
      s.on('data', (c: Buffer) => {
        data += c.toString('latin1');
        if (sendBody && !sent && data.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
          sent = true;
          s.write(Buffer.alloc(length, 0x61));
        }
      });
      s.on('error', () => undefined);
      s.on('close', () => {
        clearTimeout(timer);
        resolve(data);
      });
      s.write(`POST /up/${i} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
    });
  };

  /** One HTTP/2 request; with `expect` it waits for the 100 before sending; never a content-length. */
  const h2Post = (session: ClientHttp2Session, path: string, body: Buffer, withExpect: boolean): Promise<{ status: number; continued: boolean }> =>
    new Promise((resolve, reject) => {
      const s = session.request({ ':method': 'POST', ':path': path, ...(withExpect ? { expect: '100-continue' } : {}) });
      let status = 0;
      let continued = false;
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('continue', () => {
        continued = true;
        s.end(body);
      });
      s.on('error', (err: Error) => (status === 0 ? reject(err) : undefined));
      // Settled once the whole answer arrived (a 413 may come while the body is still being sent).
      s.on('data', () => undefined);
      s.on('end', () => {
        resolve({ status, continued });
        s.destroy();
      });
      s.on('close', () => resolve({ status, continued }));
      if (!withExpect) s.end(body);
    });

  const noExpectSeen = (): void => {
    for (const u of [a, b]) for (const r of u.seen) expect(r.headers.expect).toBeUndefined();
  };

  const nothingEjected = async (): Promise<void> => {
    const st = await upstreamStatus(t, 'p');
    for (const x of st.targets) {
      expect(x.ejectedUntil).toBeNull();
      expect(x.available).toBe(true);
      expect(x.inFlight).toBe(0);
    }
  };

  it('ok/100 uploads with Expect: 100-continue get 100 then 200, and the upstream never sees expect', async () => {
    const before = a.seen.length + b.seen.length;
    for (let i = 0; i < 80; i += 10) {
      const got = await Promise.all(Array.from({ length: 10 }, (_, k) => h1Expect(i + k, 5 + k, true)));
      for (const d of got) {
        expect(d.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200')).toBe(true);
      }
    }
    const session = await h2Session(t.url, { ca: t.rootPem });
    for (let i = 0; i < 20; i++) {
      const r = await h2Post(session, `/up/h2-${i}`, Buffer.from('hello'), true);
      expect(r).toEqual({ status: 200, continued: true });
    }
    session.close();
    expect(a.seen.length + b.seen.length - before).toBe(100);
    expect([...a.seen, ...b.seen].filter((r) => r.url.startsWith('/up/')).every((r) => r.bodyBytes > 0)).toBe(true);
    noExpectSeen();
    await nothingEjected();
  }, 120_000);

  it('ok/curl uploading over 1 MiB (it sends Expect: 100-continue) gets 200', async () => {
    const file = join(t.dir, 'upload.bin');
    await writeFile(file, Buffer.alloc(1_200_000, 0x62));
    await writeFile(join(t.dir, 'root.pem'), t.rootPem);
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        'curl',
        ['-sS', '-v', '--cacert', join(t.dir, 'root.pem'), '--resolve', `localhost:${port}:127.0.0.1`, '--http1.1', '--data-binary', `@${file}`, '-o', '/dev/null', '-w', '%{http_code}', `https://localhost:${port}/up/curl`],
        { timeout: 30_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(`${stdout}\n${stderr}`)),
      ),
    );
    expect(out).toMatch(/> Expect: 100-continue/i);
    expect(out).toMatch(/< HTTP\/1.1 100 Continue/);
    expect(out.split('\n')[0]).toBe('200');
    const seen = [...a.seen, ...b.seen].find((r) => r.url === '/up/curl');
    expect(seen?.bodyBytes).toBe(1_200_000);
    noExpectSeen();
  }, 60_000);

  it('error/100 bodies over maxBodyBytes get 413 and eject nothing', async () => {
    // With content-length and Expect (h1): refused before any body, without a 100.
    for (let i = 0; i < 50; i += 10) {
      const got = await Promise.all(Array.from({ length: 10 }, (_, k) => h1Expect(i + k, MAX + 1, false)));
      for (const d of got) expect(d.startsWith('HTTP/1.1 413')).toBe(true);
    }

    // Without content-length (h2): the body streams until it passes the limit.
    const big = Buffer.alloc(MAX + 100_000, 0x63);
    for (let i = 0; i < 50; i += 5) {
      const session = await h2Session(t.url, { ca: t.rootPem });
      const got = await Promise.all(Array.from({ length: 5 }, (_, k) => h2Post(session, `/up/big-${i + k}`, big, false)));
      for (const r of got) expect(r.status).toBe(413);
      session.destroy();
    }
    await nothingEjected();
    // Both targets still serve.
    const session = await h2Session(t.url, { ca: t.rootPem });
    const served = new Set<number>();
    for (let i = 0; i < 10; i++) served.add((await h2Post(session, `/up/after-${i}`, Buffer.from('x'), false)).status);
    session.close();
    expect([...served]).toEqual([200]);
  }, 180_000);
});
