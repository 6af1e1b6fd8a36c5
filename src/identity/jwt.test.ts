import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import { tempDir } from '../../test/ca/support.js';
import { compileJwtAuth } from './jwt.js';

const ISS = 'https://issuer.example';
const AUD = 'tollgate';

describe('compileJwtAuth', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let key: CryptoKey;
  let jwk: JWK;
  let server: Server;
  let jwksUrl: string;
  let fetches = 0;
  const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('tollgate-jwt-'));
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    server = createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await cleanup();
  });

  function token(claims: { iss?: string; aud?: string; expIn?: number } = {}): Promise<string> {
    const now = Math.floor(clock.now() / 1000);
    return new SignJWT({ scope: 'read' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(claims.iss ?? ISS)
      .setAudience(claims.aud ?? AUD)
      .setSubject('user-1')
      .setIssuedAt(now)
      .setExpirationTime(now + (claims.expIn ?? 60))
      .sign(key);
  }

  async function code(p: Promise<unknown>): Promise<string> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatewayError);
    return (err as GatewayError).code;
  }

  it('ok/jwksFile: claims of a valid token', async () => {
    const auth = compileJwtAuth({ issuer: ISS, audience: AUD, jwksFile: 'jwks.json', clockTolerance: '30s', requireExp: true }, dir, clock);
    const claims = await auth.verify(`Bearer ${await token()}`);
    expect(claims).toMatchObject({ sub: 'user-1', scope: 'read', iss: ISS });
  });

  it('error/missing header, wrong scheme, wrong issuer or audience, garbage: 401', async () => {
    const auth = compileJwtAuth({ issuer: ISS, audience: AUD, jwksFile: 'jwks.json', clockTolerance: '30s', requireExp: true }, dir, clock);
    expect(await code(auth.verify(undefined))).toBe('UNAUTHENTICATED');
    expect(await code(auth.verify(`Basic ${await token()}`))).toBe('UNAUTHENTICATED');
    expect(await code(auth.verify(`Bearer ${await token({ iss: 'https://evil' })}`))).toBe('UNAUTHENTICATED');
    expect(await code(auth.verify(`Bearer ${await token({ aud: 'other' })}`))).toBe('UNAUTHENTICATED');
    expect(await code(auth.verify('Bearer abc.def.ghi'))).toBe('UNAUTHENTICATED');
  });

  it('ok/expiry honours clockTolerance; error/beyond it', async () => {
    const auth = compileJwtAuth({ issuer: ISS, audience: AUD, jwksFile: 'jwks.json', clockTolerance: '30s', requireExp: true }, dir, clock);
    const t = await token({ expIn: 60 });
    clock.advance(80_000);
    await expect(auth.verify(`Bearer ${t}`)).resolves.toMatchObject({ sub: 'user-1' });
    clock.advance(20_000);
    expect(await code(auth.verify(`Bearer ${t}`))).toBe('UNAUTHENTICATED');
  });

  it('error/a token without exp: 401 by default; ok/accepted with requireExp: false', async () => {
    const now = Math.floor(clock.now() / 1000);
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISS).setAudience(AUD).setIssuedAt(now).sign(key);
    const strict = compileJwtAuth({ issuer: ISS, audience: AUD, jwksFile: 'jwks.json', clockTolerance: '30s', requireExp: true }, dir, clock);
    expect(await code(strict.verify(`Bearer ${noExp}`))).toBe('UNAUTHENTICATED');
    const lax = compileJwtAuth({ issuer: ISS, audience: AUD, jwksFile: 'jwks.json', clockTolerance: '30s', requireExp: false }, dir, clock);
    await expect(lax.verify(`Bearer ${noExp}`)).resolves.toMatchObject({ iss: ISS });
  });

  it('error/an HMAC token signed with the public JWK as secret is refused', async () => {
    const auth = compileJwtAuth({ issuer: ISS, audience: AUD, jwksFile: 'jwks.json', clockTolerance: '0s', requireExp: true }, dir, clock);
    const now = Math.floor(clock.now() / 1000);
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setIssuer(ISS)
      .setAudience(AUD)
      .setExpirationTime(now + 60)
      .sign(new TextEncoder().encode(JSON.stringify(jwk)));
    expect(await code(auth.verify(`Bearer ${hs}`))).toBe('UNAUTHENTICATED');
  });

  it('ok/jwksUrl is fetched once and cached', async () => {
    const auth = compileJwtAuth({ issuer: ISS, audience: AUD, jwksUrl, clockTolerance: '30s', requireExp: true }, dir, clock);
    fetches = 0;
    for (let i = 0; i < 3; i++) await auth.verify(`Bearer ${await token()}`);
    expect(fetches).toBe(1);
  });

  it('error/missing jwksFile fails at compile time', () => {
    expect(() => compileJwtAuth({ issuer: ISS, audience: AUD, jwksFile: 'nope.json', clockTolerance: '0s', requireExp: true }, dir, clock)).toThrow(/JWKS/);
  });
});
