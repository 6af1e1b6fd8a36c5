/**
 * Issue 16: route `auth.forward` against a real HTTP auth service on loopback, over HTTP/1.1 and
 * HTTP/2 from the client: a 2xx passes and adds its headers to the upstream request (client-sent
 * copies dropped); any other answer goes back to the client with its status, capped body and only
 * safe headers; a timeout or a dead service follows `failureMode` (deny → 503 AUTH_UNAVAILABLE).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { ClientHttp2Session } from 'node:http2';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { h1, h1Agent, h2, h2Session, type SimpleResponse } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { deadPort, startUpstream, type TestUpstream } from '../support/upstream.js';

interface AuthSeen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

/** The auth service: the verdict is chosen by the client's `authorization` header. */
async function startAuthService(): Promise<{ server: Server; url: string; seen: AuthSeen[] }> {
  const seen: AuthSeen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const auth = req.headers.authorization ?? '';
    if (auth === 'Bearer good') {
      res.writeHead(200, { 'x-user': 'alice', 'x-role': 'admin', 'x-not-copied': 'nope' });
      res.end('ignored body');
    } else if (auth === 'Bearer slow') {
      setTimeout(() => {
        res.writeHead(200, { 'x-user': 'late' });
        res.end();
      }, 3_000).unref();
    } else if (auth === 'Bearer big') {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end('x'.repeat(200_000));
    } else if (auth === 'Bearer login') {
      res.writeHead(302, { location: 'https://login.example/start', 'x-internal-secret': 's3cr3t' });
      res.end();
    } else {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="test"', 'content-type': 'application/json', 'x-internal-secret': 's3cr3t', 'set-cookie': 'a=b' });
      res.end('{"denied":true}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function codeOf(res: SimpleResponse): string | undefined {
  return (JSON.parse(res.body) as { error?: { code?: string } }).error?.code;
}

describe('route auth.forward', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let auth: Awaited<ReturnType<typeof startAuthService>>;
  let agent: Agent;
  let session: ClientHttp2Session;
  let jwt: string;
  let dir: string;

  beforeAll(async () => {
    up = await startUpstream('app');
    auth = await startAuthService();
    const dead = await deadPort();
    const key = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    jwt = await new SignJWT({ iss: 'https://issuer.test', aud: 'tollgate', sub: 'bob', iat: now, exp: now + 600 })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .sign(key.privateKey);
    dir = await mkdtemp(join(tmpdir(), 'tollgate-fwdauth-'));
    await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(key.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
    const forward = (extra: Record<string, unknown>): Record<string, unknown> => ({
      url: `${auth.url}/check?via=tollgate`,
      headers: ['authorization', 'x-tenant'],
      responseHeaders: ['x-user', 'x-role'],
      timeout: '500ms',
      maxBodyBytes: 1024,
      ...extra,
    });
    t = await startTestGateway(
      {
        routes: [
          { name: 'deny', match: { pathPrefix: '/deny' }, upstream: 'app', auth: { forward: forward({ failureMode: 'deny' }) } },
          { name: 'allow', match: { pathPrefix: '/allow' }, upstream: 'app', auth: { forward: forward({ failureMode: 'allow' }) } },
          { name: 'dead', match: { pathPrefix: '/dead' }, upstream: 'app', auth: { forward: { url: `http://127.0.0.1:${dead}/check`, timeout: '2s' } } },
          {
            name: 'jwt',
            match: { pathPrefix: '/jwt' },
            upstream: 'app',
            auth: { jwt: { issuer: 'https://issuer.test', audience: 'tollgate', jwksFile: 'jwks.json' }, forward: { url: `${auth.url}/jwt`, headers: [] } },
          },
        ],
        upstreams: { app: { targets: [{ url: up.url }] } },
      },
      {
dir },
    );
    agent = h1Agent({ ca: t.rootPem });
    session = await h2Session(t.url, { ca: t.rootPem });
  });

  afterAll(async () => {
    session?.close();
    await agent?.close();
    await t?.stop();
    await up?.close();
    await new Promise((r) => auth?.server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const clients = {
    h1: (path: string, headers: Record<string, string> = {}) => h1(agent, t.url + path, { headers }),
    h2: (path: string, headers: Record<string, string> = {}) => h2(session, path, { headers }),
  };

  for (const proto of ['h1', 'h2'] as const) {
    describe(`over ${proto}`, () => {
      const send = (path: string, headers?: Record<string, string>): Promise<SimpleResponse> => clients[proto](path, headers);

      it('ok/a 2xx passes: the auth service is asked with the request, the upstream gets its headers and not the client\'s copies', async () => {
        const before = up.seen.length;
        const askedBefore = auth.seen.length;
        const res = await send(`/deny/items?id=7`, { authorization: 'Bearer good', 'x-tenant': 't1', 'x-user': 'mallory', 'x-role': 'root', 'x-other': 'kept' });
        expect(res.status).toBe(200);
        const asked = auth.seen[askedBefore] as AuthSeen;
        expect(asked.method).toBe('GET');
        expect(asked.url).toBe('/check?via=tollgate');
        expect(asked.headers).toMatchObject({
          authorization: 'Bearer good',
          'x-tenant': 't1',
          'x-forwarded-method': 'GET',
          'x-forwarded-proto': 'https',
          'x-forwarded-uri': '/deny/items?id=7',
          'x-forwarded-host': `127.0.0.1:${t.gw.publicPort}`,
          'x-forwarded-for': '127.0.0.1',
        });
        expect(asked.headers['x-request-id']).toBe(res.headers['x-request-id']);
        expect(asked.headers['x-user']).toBeUndefined(); // only the configured client headers are copied
        const seen = up.seen[before];
        expect(seen?.headers['x-user']).toBe('alice');
        expect(seen?.headers['x-role']).toBe('admin');
        expect(seen?.headers['x-not-copied']).toBeUndefined();
        expect(seen?.headers['x-other']).toBe('kept');
        expect(up.seen.length).toBe(before + 1);
      });

      it('ok/a denial goes back to the client: status, body, safe headers only; the upstream is not asked', async () => {
        const before = up.seen.length;
        const res = await send('/deny/x', { authorization: 'Bearer nope' });
        expect(res.status).toBe(401);
        expect(res.body).toBe('{"denied":true}');
        expect(res.headers['www-authenticate']).toBe('Bearer realm="test"');
        expect(res.headers['content-type']).toBe('application/json');
        expect([res.headers['set-cookie']].flat()).toEqual(['a=b']);
        expect(res.headers['x-internal-secret']).toBeUndefined();
        expect(res.headers['x-request-id']).toMatch(/.+/);
        const redirect = await send('/deny/x', { authorization: 'Bearer login' });
        expect(redirect.status).toBe(302);
        expect(redirect.headers.location).toBe('https://login.example/start');
        expect(redirect.headers['x-internal-secret']).toBeUndefined();
        expect(up.seen.length).toBe(before);
        const line = t.logs.find({ msg: 'request', route: 'deny', status: 401 }).at(-1);
        expect(line).toMatchObject({ upstream: null, attempts: 0 });
      });

      it('ok/a denial body is cut at maxBodyBytes', async () => {
        const res = await send('/deny/x', { authorization: 'Bearer big' });
        expect(res.status).toBe(403);
        expect(res.body).toBe('x'.repeat(1024));
        expect(res.headers['content-length']).toBe('1024');
      });

      it('ok/a timeout with failureMode deny is 503 AUTH_UNAVAILABLE; with allow the request passes without auth headers', async () => {
        const started = Date.now();
        const denied = await send('/deny/x', { authorization: 'Bearer slow', 'x-user': 'mallory' });
        expect(denied.status).toBe(503);
        expect(codeOf(denied)).toBe('AUTH_UNAVAILABLE');
        expect(Date.now() - started).toBeLessThan(2_900);
        const before = up.seen.length;
        const allowed = await send('/allow/x', { authorization: 'Bearer slow', 'x-user': 'mallory' });
        expect(allowed.status).toBe(200);
        expect(up.seen.length).toBe(before + 1);
        expect(up.seen[before]?.headers['x-user']).toBeUndefined();
      });

      it('ok/an auth service that cannot be reached is 503 AUTH_UNAVAILABLE (deny is the default)', async () => {
        const res = await send('/dead/x', { authorization: 'Bearer good' });
        expect(res.status).toBe(503);
        expect(codeOf(res)).toBe('AUTH_UNAVAILABLE');
        expect(t.logs.find({ msg: 'request', route: 'dead', code: 'AUTH_UNAVAILABLE' }).length).toBeGreaterThan(0);
      });

      it('ok/the auth service is told the JWT subject, after the token was verified', async () => {
        const askedBefore = auth.seen.length;
        const bad = await send('/jwt/x', { authorization: 'Bearer not-a-jwt' });
        expect(bad.status).toBe(401);
        expect(auth.seen.length).toBe(askedBefore); // an invalid token never reaches the auth service
        // The auth service answers 401 to anything but "Bearer good": the subject is what it sees.
        const res = await send('/jwt/x', { authorization: `Bearer ${jwt}` });
        expect(res.status).toBe(401);
        expect(auth.seen[askedBefore]?.headers['x-forwarded-jwt-sub']).toBe('bob');
        expect(auth.seen[askedBefore]?.headers.authorization).toBeUndefined(); // headers: [] copies nothing
      });
    });
  }
});
