/**
 * Client certificates through the real gateway, over HTTP/1.1 and HTTP/2: who gets 200, 401 and 403 on
 * an mTLS route, and that open routes keep serving whatever the client presents (SPEC §3).
 */
import type { ClientHttp2Session } from 'node:http2';
import { connect as h2Connect } from 'node:http2';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { h1, h1Agent, h2, h2Session, type ClientTls, type SimpleResponse } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { expiredWorkload, foreignAuthority, RELAXED_GUARD, workload, type Workload } from './support.js';

const TD = 'spiffe://tollgate.local';
const WEB = `${TD}/web`;

type Case = 'none' | 'foreign' | 'expired' | 'revoked' | 'wrong' | 'right' | 'glob';
const EXPECTED: Record<Case, { status: number; code?: string; route: string }> = {
  none: { status: 401, code: 'UNAUTHENTICATED', route: '/protected/x' },
  foreign: { status: 401, code: 'UNAUTHENTICATED', route: '/protected/x' },
  expired: { status: 401, code: 'UNAUTHENTICATED', route: '/protected/x' },
  revoked: { status: 401, code: 'UNAUTHENTICATED', route: '/protected/x' },
  wrong: { status: 403, code: 'FORBIDDEN', route: '/protected/x' },
  right: { status: 200, route: '/protected/x' },
  glob: { status: 200, route: '/prod/x' },
};
const CASES = Object.keys(EXPECTED) as Case[];

/** One request over a fresh connection of the given protocol, with `tls`; the connection is closed after. */
async function once(proto: 'h1' | 'h2', url: string, tls: ClientTls, path: string, headers: Record<string, string> = {}): Promise<SimpleResponse> {
  if (proto === 'h1') {
    const agent = h1Agent(tls, { connections: 1 });
    try {
      return await h1(agent, `${url}${path}`, { headers });
    } finally {
      await agent.close();
    }
  }
  const session = await h2Session(url, tls);
  try {
    return await h2(session, path, { headers });
  } finally {
    session.close();
  }
}

function errorCode(res: SimpleResponse): string | undefined {
  return (JSON.parse(res.body) as { error?: { code?: string } }).error?.code;
}

describe('client certificates, clientAuth: optional (h1 and h2)', () => {
  let up: TestUpstream;
  let t: TestGateway;
  const clock = new ManualClock(Date.now());
  const creds: Partial<Record<Case, Workload>> = {};

  beforeAll(async () => {
    up = await startUpstream('app');
    t = await startTestGateway(
      {
        tls: { clientAuth: 'optional' },
        routes: [
          { name: 'protected', match: { pathPrefix: '/protected' }, upstream: 'app', auth: { mtls: { allow: [WEB] } } },
          { name: 'prod', match: { pathPrefix: '/prod' }, upstream: 'app', auth: { mtls: { allow: [`${TD}/ns/prod/*`] } } },
          { name: 'open', match: { pathPrefix: '/open' }, upstream: 'app' },
        ],
        upstreams: { app: { targets: [{ url: up.url }] } },
      },
      { clock, edgeGuard: RELAXED_GUARD },
    );
    const ca = t.gw.tls.authority;
    creds.right = await workload(ca, WEB);
    creds.wrong = await workload(ca, `${TD}/billing`);
    creds.glob = await workload(ca, `${TD}/ns/prod/api`);
    creds.foreign = await workload(await foreignAuthority(t.dir), WEB);
    creds.expired = await expiredWorkload(join(t.dir, 'ca'), WEB);
    creds.revoked = await workload(ca, WEB);
    await ca.revoke(creds.revoked.serial, 'test');
    expect((await t.gw.reload()).result).toBe('success');
  });

  afterAll(async () => {
    await t?.stop();
    await up?.close();
  });

  const tlsOf = (c: Case): ClientTls => ({ ca: t.rootPem, cert: creds[c]?.cert, key: creds[c]?.key });

  for (const proto of ['h1', 'h2'] as const) {
    for (const c of CASES) {
      const want = EXPECTED[c];
      it(`${want.status === 200 ? 'ok' : 'error'}/${proto} ${c} cert → protected route ${want.status}; open route 200`, async () => {
        const res = await once(proto, t.url, tlsOf(c), want.route);
        expect(res.status).toBe(want.status);
        if (want.code !== undefined) {
          expect(res.headers['content-type']).toMatch(/^application\/json/);
          expect(errorCode(res)).toBe(want.code);
        } else {
          expect(res.body).toBe('app');
        }
        const open = await once(proto, t.url, tlsOf(c), '/open/x');
        expect(open.status).toBe(200);
        expect(open.body).toBe('app');
      });
    }
  }

  it('error/401 and 403 are logged with the route and code', () => {
    expect(t.logs.find({ route: 'protected', code: 'UNAUTHENTICATED' }).length).toBeGreaterThan(0);
    expect(t.logs.find({ route: 'protected', code: 'FORBIDDEN' }).length).toBeGreaterThan(0);
  });

  // STYLE §6: a client that sends no SNI (any https://127.0.0.1 URL) or an SNI the gateway has no
  // certificate for must meet exactly the same client-certificate policy.
  const SNI = [
    { name: 'no SNI', servername: undefined, host: undefined },
    { name: 'SNI localhost, Host 127.0.0.1', servername: 'localhost', host: undefined },
    { name: 'unknown SNI, mismatched Host', servername: 'unknown.example', host: 'api.example' },
  ] as const;
  for (const v of SNI) {
    for (const c of ['none', 'foreign', 'wrong', 'right'] as const) {
      it(`ok/${v.name}: ${c} cert gets the same answer (h1 and h2)`, async () => {
        const base: ClientTls & { checkServerIdentity?: () => undefined } = {
          ...tlsOf(c),
          servername: v.servername,
        };
        const seen: (string | false | null)[] = [];
        const onSecure = (s: TLSSocket): void => {
          seen.push(s.servername);
        };
        t.gw.app.server.on('secureConnection', onSecure);
        // h1: undici passes connect options through to tls.connect.
        const agent = new Agent({
          connect: { ...base, checkServerIdentity: () => undefined },
          connections: 1,
        });
        try {
          const res = await h1(agent, `${t.url}/protected/x`, { headers: v.host ? { host: v.host } : {} });
          expect(res.status).toBe(EXPECTED[c].status);
        } finally {
          await agent.close();
        }
        const session = await new Promise<ClientHttp2Session>((resolve, reject) => {
          const s = h2Connect(t.url, { ...base, checkServerIdentity: () => undefined });
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        try {
          const res = await h2(session, '/protected/x', { headers: v.host ? { ':authority': v.host } : {} });
          expect(res.status).toBe(EXPECTED[c].status);
        } finally {
          session.close();
          t.gw.app.server.off('secureConnection', onSecure);
        }
        // What the server saw: no SNI at all, or the one sent (undici derives it from a Host header).
        expect(seen).toHaveLength(2);
        for (const name of seen) {
          if (v.servername === undefined) expect(name || undefined).toBeUndefined();
          else expect([v.servername, v.host]).toContain(name);
        }
      });
    }
  }

  it('error/a certificate that expires while its connection stays open stops counting (gateway clock)', async () => {
    const short = await workload(t.gw.tls.authority, WEB, { ttlMs: 10 * 60_000 });
    const session = await h2Session(t.url, { ca: t.rootPem, cert: short.cert, key: short.key });
    const agent = h1Agent({ ca: t.rootPem, cert: short.cert, key: short.key }, { connections: 1 });
    try {
      expect((await h2(session, '/protected/x')).status).toBe(200);
      expect((await h1(agent, `${t.url}/protected/x`)).status).toBe(200);
      clock.advance(11 * 60_000);
      expect((await h2(session, '/protected/x')).status).toBe(401);
      expect((await h1(agent, `${t.url}/protected/x`)).status).toBe(401);
      expect((await h1(agent, `${t.url}/open/x`)).status).toBe(200);
    } finally {
      clock.set(Date.now());
      session.close();
      await agent.close();
    }
  });
});
