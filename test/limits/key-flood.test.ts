/**
 * A key flood through the gateway over TLS (issue 17): a client that chooses its limit keys
 * (`by: header:x-client`) sends 1,000 new keys against a table bounded at 200. It must not reset
 * another client's quota, nor its own exhausted one, nor touch another route's table; new keys
 * past the bound are refused with 429 QUOTA_EXCEEDED and counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent, type SimpleResponse } from '../support/clients.js';
import { countStatuses, metricValue } from './support.js';

const BOUND = 200;
const FLOOD = 1000;

function codeOf(res: SimpleResponse): string | undefined {
  return res.status === 200 ? undefined : (JSON.parse(res.body) as { error: { code: string } }).error.code;
}

describe('limit key flood (memory store, maxKeysPerLimit 200)', () => {
  let up: TestUpstream;
  let t: TestGateway;
  let agent: Agent;

  beforeAll(async () => {
    up = await startUpstream('up');
    t = await startTestGateway({
      store: { type: 'memory', memory: { maxKeysPerLimit: BOUND } },
      routes: [
        { name: 'flood', match: { pathPrefix: '/flood' }, upstream: 'up', quota: { limit: 3, per: '1d', by: 'header:x-client' } },
        { name: 'other', match: { pathPrefix: '/other' }, upstream: 'up', quota: { limit: 3, per: '1d', by: 'header:x-client' } },
      ],
      upstreams: { up: { targets: [{ url: up.url }] } },
    });
    agent = h1Agent({ ca: t.rootPem }, { connections: 4 });
  });
  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await up?.close();
  });

  const get = (path: string, client: string): Promise<SimpleResponse> => h1(agent, `${t.url}${path}`, { headers: { 'x-client': client } });

  it('ok/1,000 attacker keys reset neither the victim\'s quota, the attacker\'s exhausted one, nor another route\'s', async () => {
    for (let i = 0; i < 3; i++) expect((await get('/flood/x', 'attacker')).status).toBe(200);
    expect(codeOf(await get('/flood/x', 'attacker'))).toBe('QUOTA_EXCEEDED');
    expect((await get('/flood/x', 'victim')).status).toBe(200);
    expect((await get('/other/x', 'victim')).status).toBe(200);

    const flood: SimpleResponse[] = [];
    for (let i = 0; i < FLOOD; i += 20) {
      flood.push(...(await Promise.all(Array.from({ length: 20 }, (_, j) => get('/flood/x', `k${i + j}`)))));
    }
    const statuses = countStatuses(flood);
    expect(statuses[200]).toBe(BOUND - 2); // attacker and victim hold two places
    expect(statuses[429]).toBe(FLOOD - (BOUND - 2));
    expect(new Set(flood.filter((r) => r.status === 429).map(codeOf))).toEqual(new Set(['QUOTA_EXCEEDED']));
    expect(flood.find((r) => r.status === 429)?.headers['retry-after']).toMatch(/^[1-9]\d*$/);

    // The attacker is still out of quota; the victim has exactly the 2 left it had.
    expect(codeOf(await get('/flood/x', 'attacker'))).toBe('QUOTA_EXCEEDED');
    expect((await get('/flood/x', 'victim')).status).toBe(200);
    expect((await get('/flood/x', 'victim')).status).toBe(200);
    expect(codeOf(await get('/flood/x', 'victim'))).toBe('QUOTA_EXCEEDED');
    // Another route's table is its own: new keys there are still taken.
    expect((await get('/other/x', 'newcomer')).status).toBe(200);
    expect((await get('/other/x', 'victim')).status).toBe(200);

    const text = await (await fetch(`${t.adminUrl}/metrics`)).text();
    expect(metricValue(text, 'tollgate_limit_keys_rejected_total', { route: 'flood', kind: 'quota' })).toBe(FLOOD - (BOUND - 2));
    expect(metricValue(text, 'tollgate_limit_keys', { route: 'flood', kind: 'quota' })).toBe(BOUND);
    expect(metricValue(text, 'tollgate_limit_keys', { route: 'other', kind: 'quota' })).toBe(2);
  });
});
