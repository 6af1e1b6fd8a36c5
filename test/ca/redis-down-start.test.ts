/**
 * A replica that starts while the Redis of its CA state is unreachable: it starts (its own serving
 * certificate is issued unrecorded), serves, answers the CA API's signing with 503 CA_UNAVAILABLE,
 * and once a redis-server appears on that port it signs again and learns the shared revocation list.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { createCsr } from '../../src/ca/requests.js';
import { h1, h1Agent } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { freePort, startRedis, type TestRedis } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from '../support/wait.js';

const WEB = 'spiffe://tollgate.local/web';
const SIGN = '/.well-known/tollgate/ca/sign';

describe('a gateway started while its CA state store is down', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let port: number;
  let redis: TestRedis | undefined;

  beforeAll(async () => {
    up = await startUpstream('app');
    port = await freePort();
    t = await startTestGateway({
      store: { type: 'redis', redis: { url: `redis://127.0.0.1:${port}`, keyPrefix: 'down:', commandTimeout: '1s' } },
      ca: { dir: './ca', revocationPollInterval: '100ms' },
      routes: [{ name: 'open', match: { pathPrefix: '/' }, upstream: 'app' }],
      upstreams: { app: { targets: [{ url: up.url }] } },
    });
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    await up?.close();
    await redis?.stop();
  });

  it('ok/starts and serves; signing is 503 CA_UNAVAILABLE; with Redis up it signs and reads the shared list', async () => {
    const agent = h1Agent({ ca: t.rootPem }, { connections: 2 });
    try {
      expect((await h1(agent, `${t.url}/x`)).status).toBe(200);
      expect(t.logs.find({ msg: 'CA state store unreachable; signing refused, verification keeps the last revocation list' }).length).toBeGreaterThan(0);
      const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      const csr = await createCsr({ keyPem: key, spiffeId: WEB });
      const { token } = await t.gw.tls.authority.createToken(WEB, 60_000);
      const sign = (): ReturnType<typeof h1> =>
        h1(agent, `${t.url}${SIGN}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ csr }) });
      const refused = await sign();
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.body).error.code).toBe('CA_UNAVAILABLE');
      expect(refused.headers['retry-after']).toBeDefined();

      redis = await startRedis({ port });
      // Another replica revoked something while this one could not see Redis.
      const raw = new Redis(redis.url);
      try {
        await raw.hset('down:ca:tollgate.local:revoked', 'abcdef', JSON.stringify({ reason: 'elsewhere', revokedAt: new Date().toISOString() }));
        await raw.incr('down:ca:tollgate.local:revoked:v');
      } finally {
        raw.disconnect();
      }
      await waitFor(() => t.gw.tls.authority.isRevoked('ABCDEF'), { timeoutMs: 15_000, what: 'the shared list read once Redis answers' });
      await waitFor(async () => (await sign()).status === 201, { timeoutMs: 15_000, what: 'signing again' });
      expect(t.logs.find({ msg: 'CA state store back; signing resumed' }).length).toBeGreaterThan(0);
    } finally {
      await agent.close();
    }
  }, 60_000);
});
