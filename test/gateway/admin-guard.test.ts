/**
 * The admin listener against browsers: DNS rebinding (a foreign Host) and cross-origin POSTs.
 * Raw node:http requests, so Host, Origin and Sec-Fetch-Site are exactly what the test says.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

interface Answer {
  status: number;
  body: string;
}

function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, setHost: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function codeOf(a: Answer): string | undefined {
  return (JSON.parse(a.body) as { error?: { code?: string } }).error?.code;
}

describe('admin API guards', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let port: number;

  beforeAll(async () => {
    up = await startUpstream('up');
    t = await startTestGateway({
      admin: { host: '127.0.0.1', port: 0, allowedHosts: ['admin.internal'] },
      routes: [{ name: 'api', match: { pathPrefix: '/api' }, upstream: 'up' }],
      upstreams: { up: { targets: [{ url: up.url }] } },
    });
    port = Number(new URL(t.adminUrl).port);
  });
  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  it('error/DNS rebinding: Host evil.example gets 403 FORBIDDEN on /status, /metrics and /reload', async () => {
    for (const [method, path] of [['GET', '/status'], ['GET', '/metrics'], ['POST', '/reload'], ['GET', '/'], ['GET', '/console.json'], ['GET', '/console.fragment']] as const) {
      const a = await send(port, method, path, { host: 'evil.example' });
      expect(a.status).toBe(403);
      expect(codeOf(a)).toBe('FORBIDDEN');
      expect(a.body).not.toContain('configHash');
    }
    expect((await send(port, 'GET', '/status', { host: `evil.example:${port}` })).status).toBe(403);
    expect((await send(port, 'GET', '/status', { host: '127.0.0.1.evil.example' })).status).toBe(403);
  });

  it('ok/loopback names with and without port, IP literals, admin.host and allowedHosts are answered', async () => {
    for (const host of ['10.1.2.3:9901', '[2001:db8::1]', '127.0.0.1', `127.0.0.1:${port}`, '127.1.2.3', 'localhost', `LOCALHOST:${port}`, '[::1]', `[::1]:${port}`, 'admin.internal', `admin.internal:${port}`]) {
      const a = await send(port, 'GET', '/status', { host });
      expect(a.status, host).toBe(200);
      expect(a.body).toContain('configHash');
    }
  });

  it('error/cross-origin POST /reload: foreign Origin, Sec-Fetch-Site cross-site/same-site, simple form types → 403', async () => {
    const host = `127.0.0.1:${port}`;
    const refused: Record<string, string>[] = [
      { host, origin: 'https://evil.example' },
      { host, origin: 'null' },
      { host, 'sec-fetch-site': 'cross-site' },
      { host, 'sec-fetch-site': 'same-site' },
      { host, 'content-type': 'text/plain' },
      { host, 'content-type': 'application/x-www-form-urlencoded' },
      { host, 'content-type': 'multipart/form-data; boundary=x' },
    ];
    for (const headers of refused) {
      const a = await send(port, 'POST', '/reload', headers, 'x');
      expect(a.status, JSON.stringify(headers)).toBe(403);
      expect(codeOf(a)).toBe('FORBIDDEN');
    }
  });

  it('ok/curl-style POST /reload (no Origin) and a same-origin one reload', async () => {
    const host = `127.0.0.1:${port}`;
    const plain = await send(port, 'POST', '/reload', { host });
    expect(plain.status).toBe(200);
    expect(JSON.parse(plain.body)).toMatchObject({ result: 'success' });
    const same = await send(port, 'POST', '/reload', { host, origin: `http://${host}`, 'sec-fetch-site': 'same-origin' });
    expect(same.status).toBe(200);
  });

  it('ok/a cross-origin GET of /healthz is still answered (reads are guarded by Host only)', async () => {
    expect((await send(port, 'GET', '/healthz', { host: '127.0.0.1', origin: 'https://evil.example' })).status).toBe(200);
  });
});
