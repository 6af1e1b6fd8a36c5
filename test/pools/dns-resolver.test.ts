/**
 * The resolver loop (control/dns-resolver.ts) against a real dnsmasq, on manual time: it re-resolves on
 * the answer's TTL, hands over a changed list once, keeps the last targets through failures while
 * backing off, and stops on close.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { ManualScheduler } from '../../src/core/scheduler.js';
import { DnsSpec } from '../../src/spec/schema.js';
import { createDnsClient, createPoolResolver } from '../../src/control/dns-resolver.js';
import type { DesiredTarget } from '../../src/upstream/resolved-targets.js';
import { startDnsmasq, type Dnsmasq } from '../support/dnsmasq.js';
import { waitFor } from '../support/wait.js';

describe('DNS resolver loop (dnsmasq, manual time)', () => {
  let dir: string;
  let dns: Dnsmasq;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-dnsloop-'));
    dns = await startDnsmasq(dir, { ttl: 30 });
  });
  afterAll(async () => {
    await dns?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('ok/follows the TTL, hands over changes once, keeps the last targets through failures with backoff', async () => {
    await dns.setHosts({ 'x.test': ['127.0.0.2'] });
    const clock = new ManualClock();
    const scheduler = new ManualScheduler(clock);
    const handed: string[][] = [];
    const results: boolean[] = [];
    const resolver = createPoolResolver({
      entries: [{ source: { kind: 'host', label: 'http://x.test:8080', scheme: 'http:', host: 'x.test', port: 8080 }, tier: 'primary', weight: 2 }],
      statics: [{ url: 'http://127.0.0.9:1', weight: 1, tier: 'backup', source: undefined, servername: undefined }],
      client: createDnsClient(DnsSpec.parse({ servers: [dns.server], timeout: '2s' })),
      clock,
      scheduler,
      family: 'v4-preferred',
      intervalMs: undefined,
      minIntervalMs: 1_000,
      maxIntervalMs: 300_000,
      noTtlIntervalMs: 30_000,
      onTargets: (targets: DesiredTarget[]) => handed.push(targets.map((t) => `${t.tier} ${t.url} ${t.weight}`)),
      onResult: (_source, ok) => results.push(ok),
    });
    try {
      await resolver.ready;
      expect(handed).toEqual([['primary http://127.0.0.2:8080 2', 'backup http://127.0.0.9:1 1']]);
      const first = resolver.status()[0];
      expect(first).toMatchObject({ source: 'http://x.test:8080', targets: ['http://127.0.0.2:8080'], lastError: null });
      expect(Date.parse(first?.nextAt ?? '') - clock.now()).toBe(30_000);

      await dns.setHosts({ 'x.test': ['127.0.0.3', '127.0.0.2'] });
      scheduler.advance(29_000);
      expect(results).toEqual([true]);
      scheduler.advance(1_000);
      await waitFor(() => handed.length === 2, { timeoutMs: 10_000, what: 'the changed answer handed over' });
      expect(handed[1]).toEqual(['primary http://127.0.0.2:8080 2', 'primary http://127.0.0.3:8080 2', 'backup http://127.0.0.9:1 1']);

      // The same answer again: resolved, nothing handed over.
      scheduler.advance(30_000);
      await waitFor(() => results.length === 3, { timeoutMs: 10_000, what: 'the third resolution' });
      expect(handed.length).toBe(2);

      await dns.stop();
      scheduler.advance(30_000);
      await waitFor(() => results.length === 4, { timeoutMs: 10_000, what: 'a failed resolution' });
      expect(results[3]).toBe(false);
      expect(resolver.status()[0]).toMatchObject({ targets: ['http://127.0.0.2:8080', 'http://127.0.0.3:8080'], lastError: expect.any(String) });
      expect(Date.parse(resolver.status()[0]?.nextAt ?? '') - clock.now()).toBe(1_000);
      scheduler.advance(1_000);
      await waitFor(() => results.length === 5, { timeoutMs: 10_000, what: 'a second failed resolution' });
      expect(Date.parse(resolver.status()[0]?.nextAt ?? '') - clock.now()).toBe(2_000);
      expect(handed.length).toBe(2);
    } finally {
      resolver.close();
      await dns.start();
    }
    expect(scheduler.pending).toBe(0);
  });
});
