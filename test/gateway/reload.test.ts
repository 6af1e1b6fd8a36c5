import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { h1, h1Agent } from '../support/clients.js';

function config(up: TestUpstream, extra: { timeout?: string; comment?: string; routes?: unknown[] } = {}): Record<string, unknown> {
  return {
    routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'up', timeout: extra.timeout ?? '5s' }, ...(extra.routes ?? [])],
    upstreams: { up: { targets: [{ url: up.url }] } },
    ...(extra.comment ? { shutdown: { drainTimeout: extra.comment } } : {}),
  };
}

describe('hot reload', () => {
  let up: TestUpstream;
  let other: TestUpstream;
  let t: TestGateway;
  let agent: Agent;

  beforeAll(async () => {
    up = await startUpstream('up');
    other = await startUpstream('other');
    t = await startTestGateway(config(up));
    agent = h1Agent({ ca: t.rootPem }, { connections: 8 });
  });
  afterAll(async () => {
    await agent?.close();
    await t?.stop();
    await up?.close();
    await other?.close();
  });

  it('ok/a reload swaps routes; the new route serves at once', async () => {
    expect((await h1(agent, `${t.url}/other/x`)).body).toBe('up');
    await t.writeConfig({
      ...config(up, { routes: [{ name: 'other', match: { pathPrefix: '/other' }, upstream: 'other' }] }),
      upstreams: { up: { targets: [{ url: up.url }] }, other: { targets: [{ url: other.url }] } },
    });
    const r = await t.gw.reload();
    expect(r.result).toBe('success');
    expect((await h1(agent, `${t.url}/other/x`)).body).toBe('other');
    await t.writeConfig(config(up));
    expect((await t.gw.reload()).result).toBe('success');
  });

  it('error/an invalid config is refused with its YAML path and the old one keeps serving', async () => {
    const before = t.gw.holder.current.configHash;
    await t.writeConfig({ ...config(up), routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'up', timeout: 'soon' }] });
    const r = await t.gw.reload();
    expect(r.result).toBe('failure');
    expect(r.error).toContain('routes[0].timeout: expected a duration like "1s"');
    expect(t.gw.holder.current.configHash).toBe(before);
    expect((await h1(agent, `${t.url}/still`)).status).toBe(200);
    const status = (await (await fetch(`${t.adminUrl}/status`)).json()) as { lastReload: { result: string; error: string } };
    expect(status.lastReload.result).toBe('failure');
    expect(status.lastReload.error).toContain('routes[0].timeout');
    const metrics = await (await fetch(`${t.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/tollgate_config_reloads_total\{result="failure"\} [1-9]/);
    const logged = t.logs.lines.find((l) => l.msg === 'config reload refused; the running config stays');
    expect(JSON.stringify(logged)).toContain('routes[0].timeout');
    await t.writeConfig(config(up));
    expect((await t.gw.reload()).result).toBe('success');
  });

  it('ok/an unchanged pool keeps its connections and target state across a reload', async () => {
    for (let i = 0; i < 5; i++) await h1(agent, `${t.url}/warm`);
    const conns = up.connections();
    const target = t.gw.holder.current.pools.get('up')!.pool.primaries[0];
    await t.writeConfig(config(up, { timeout: '7s' }));
    expect((await t.gw.reload()).result).toBe('success');
    expect(t.gw.holder.current.pools.get('up')!.pool.primaries[0]).toBe(target);
    for (let i = 0; i < 5; i++) await h1(agent, `${t.url}/after`);
    expect(up.connections()).toBe(conns);
  });

  it('ok/no request fails during reloads under concurrent load', async () => {
    const results: number[] = [];
    let stop = false;
    const worker = async (): Promise<void> => {
      for (let i = 0; i < 400 && !stop; i++) results.push((await h1(agent, `${t.url}/load/${i}`)).status);
    };
    const workers = Array.from({ length: 8 }, () => worker());
    for (let i = 0; i < 20; i++) {
      await t.writeConfig(config(up, { timeout: `${5 + (i % 3)}s` }));
      expect((await t.gw.reload()).result).toBe('success');
    }
    stop = true;
    await Promise.all(workers);
    expect(results.length).toBeGreaterThan(100);
    expect(results.filter((s) => s !== 200)).toEqual([]);
  });

  it('ok/1,000 reloads leave heap and handles flat', async () => {
    const reloadMany = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        await t.writeConfig(config(up, { timeout: `${5 + (i % 2)}s` }));
        const r = await t.gw.reload();
        if (r.result !== 'success') throw new Error(String(r.error));
      }
    };
    const gc = (globalThis as { gc?: () => void }).gc;
    const handles = (): number => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
    await reloadMany(100); // warm up caches and JIT
    gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const handlesBefore = handles();
    await reloadMany(1000);
    gc?.();
    const heapAfter = process.memoryUsage().heapUsed;
    expect(handles()).toBeLessThanOrEqual(handlesBefore);
    expect(t.gw.holder.current.generation).toBeGreaterThan(1000);
    // With --expose-gc (vitest.config.ts) this is tight; a leak of one snapshot per reload would be tens of MB.
    expect(heapAfter - heapBefore).toBeLessThan(8 * 1024 * 1024);
    expect((await h1(agent, `${t.url}/after-many`)).status).toBe(200);
  }, 120_000);
});
