/**
 * Route `auth.jwt` through the real gateway: JWKS from a file and from a URL (a local server), every
 * way a token can be wrong (401), and the `jwt:CLAIM` rate-limit key reading the verified claim.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { h1, h1Agent, h2, h2Session, type SimpleResponse } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'tollgate';
type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

function codeOf(res: SimpleResponse): string | undefined {
  return (JSON.parse(res.body) as { error?: { code?: string } }).error?.code;
}

describe('route auth.jwt', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let jwksServer: Server;
  let jwksHits = 0;
  let fileKey: KeyPair;
  let urlKey: KeyPair;
  let stranger: KeyPair;
  let agent: Agent;

  async function publicJwk(k: KeyPair, kid: string): Promise<JWK> {
    return { ...(await exportJWK(k.publicKey)), kid, alg: 'ES256', use: 'sig' };
  }

  /** A token signed by `key` under `kid`; `claims` override the valid defaults (undefined removes one). */
  async function token(key: KeyPair, kid: string, claims: Record<string, unknown> = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const all: Record<string, unknown> = { iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 300, ...claims };
    const payload = Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid }).sign(key.privateKey);
  }

  beforeAll(async () => {
    up = await startUpstream('app');
    [fileKey, urlKey, stranger] = await Promise.all([generateKeyPair('ES256'), generateKeyPair('ES256'), generateKeyPair('ES256')]);
    const urlJwks = JSON.stringify({ keys: [await publicJwk(urlKey, 'url-1')] });
    jwksServer = createServer((req, res) => {
      jwksHits++;
      res.writeHead(req.url === '/jwks.json' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(req.url === '/jwks.json' ? urlJwks : '{}');
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', () => r()));
    const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
    const jwt = (source: Record<string, string>): Record<string, unknown> => ({ issuer: ISSUER, audience: AUDIENCE, ...source });
    const config = {
      routes: [
        { name: 'file', match: { pathPrefix: '/file' }, upstream: 'app', auth: { jwt: jwt({ jwksFile: './jwks.json' }) } },
        { name: 'url', match: { pathPrefix: '/url' }, upstream: 'app', auth: { jwt: jwt({ jwksUrl }) } },
        {
          name: 'limited',
          match: { pathPrefix: '/limited' },
          upstream: 'app',
          auth: { jwt: jwt({ jwksFile: './jwks.json' }) },
          rateLimit: { rate: 1, per: '1m', burst: 1, by: 'jwt:sub' },
        },
      ],
      upstreams: { app: { targets: [{ url: up.url }] } },
    };
    // The JWKS file sits next to the config (relative paths resolve against the config's directory).
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-jwt-'));
    await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [await publicJwk(fileKey, 'file-1')] }));
    t = await startTestGateway(config, { dir });
    agent = h1Agent({ ca: t.rootPem });
  });
  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await up?.close();
    jwksServer?.close();
    if (t) await rm(t.dir, { recursive: true, force: true });
  });

  const get = (path: string, tok?: string): Promise<SimpleResponse> => h1(agent, `${t.url}${path}`, { headers: tok === undefined ? {} : { authorization: `Bearer ${tok}` } });

  it('ok/a valid token: 200 over h1 and h2, from the JWKS file and from the JWKS URL', async () => {
    expect((await get('/file/x', await token(fileKey, 'file-1'))).status).toBe(200);
    expect((await get('/url/x', await token(urlKey, 'url-1'))).status).toBe(200);
    const session = await h2Session(t.url, { ca: t.rootPem });
    try {
      expect((await h2(session, '/file/x', { headers: { authorization: `Bearer ${await token(fileKey, 'file-1')}` } })).status).toBe(200);
      expect((await h2(session, '/url/x', { headers: { authorization: `Bearer ${await token(urlKey, 'url-1')}` } })).status).toBe(200);
    } finally {
      session.close();
    }
  });

  it('ok/the remote JWKS is cached, not fetched per request', async () => {
    const before = jwksHits;
    for (let i = 0; i < 5; i++) expect((await get('/url/x', await token(urlKey, 'url-1', { sub: `u${i}` }))).status).toBe(200);
    expect(jwksHits - before).toBeLessThanOrEqual(1);
  });

  const bad: [string, (route: 'file' | 'url') => Promise<string | undefined>][] = [
    ['missing', async () => undefined],
    ['expired beyond the 30 s tolerance', async (r) => token(r === 'file' ? fileKey : urlKey, `${r}-1`, { exp: Math.floor(Date.now() / 1000) - 120 })],
    ['without exp (never expires)', async (r) => token(r === 'file' ? fileKey : urlKey, `${r}-1`, { exp: undefined })],
    ['not yet valid', async (r) => token(r === 'file' ? fileKey : urlKey, `${r}-1`, { nbf: Math.floor(Date.now() / 1000) + 600 })],
    ['wrong issuer', async (r) => token(r === 'file' ? fileKey : urlKey, `${r}-1`, { iss: 'https://evil.test' })],
    ['wrong audience', async (r) => token(r === 'file' ? fileKey : urlKey, `${r}-1`, { aud: 'someone-else' })],
    ['bad signature (another key, same kid)', async (r) => token(stranger, `${r}-1`)],
    ['unknown kid', async (r) => token(r === 'file' ? fileKey : urlKey, 'nope')],
    ['alg none', async () => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'alice' })).toString('base64url')}.`],
    ['garbage', async () => 'not.a.jwt'],
  ];
  for (const route of ['file', 'url'] as const) {
    for (const [what, make] of bad) {
      it(`error/${route}: ${what} → 401 UNAUTHENTICATED`, async () => {
        const res = await get(`/${route}/x`, await make(route));
        expect(res.status).toBe(401);
        expect(codeOf(res)).toBe('UNAUTHENTICATED');
        expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      });
    }
  }

  it('ok/jwt:sub keys the rate limit by the verified claim: alice and bob get separate buckets', async () => {
    const alice = await token(fileKey, 'file-1', { sub: 'alice-rl' });
    const bob = await token(fileKey, 'file-1', { sub: 'bob-rl' });
    expect((await get('/limited/x', alice)).status).toBe(200);
    const limited = await get('/limited/x', alice);
    expect(limited.status).toBe(429);
    expect(codeOf(limited)).toBe('RATE_LIMITED');
    expect(limited.headers['retry-after']).toBeDefined();
    expect((await get('/limited/x', bob)).status).toBe(200);
    // A forged token never reaches the limiter (it would spend carol's token): it is refused first.
    const forged = await token(stranger, 'file-1', { sub: 'carol-rl' });
    expect((await get('/limited/x', forged)).status).toBe(401);
    expect((await get('/limited/x', await token(fileKey, 'file-1', { sub: 'carol-rl' }))).status).toBe(200);
  });
});
