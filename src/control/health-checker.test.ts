import { webcrypto } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import * as x509 from '@peculiar/x509';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../core/clock.js';
import { ManualScheduler } from '../core/scheduler.js';
import { seededRandom } from '../core/random.js';
import { HealthCheckSpec } from '../spec/schema.js';
import { newTargetState, type TargetState } from '../upstream/target-state.js';
import { createHealthChecker, probeTimeoutMs, type HealthChecker, type Probe } from './health-checker.js';

async function waitFor(pred: () => boolean, { timeoutMs = 3_000, what = 'condition' } = {}): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const checkers: HealthChecker[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const c of checkers.splice(0)) c.close();
  await Promise.all(
    servers.splice(0).map((s) => {
      const closed = new Promise((r) => s.close(r));
      s.closeAllConnections();
      return closed;
    }),
  );
});

function start(opts: Parameters<typeof createHealthChecker>[0]): HealthChecker {
  const c = createHealthChecker(opts);
  checkers.push(c);
  return c;
}

const spec = (over: Record<string, unknown> = {}): HealthCheckSpec =>
  HealthCheckSpec.parse({ interval: '20ms', healthyThreshold: 2, unhealthyThreshold: 2, ...over });

/** A probe whose answer per target is set by the test; counts calls. */
function scriptedProbe(): { probe: Probe; answer: Map<TargetState, boolean>; calls: Map<TargetState, number> } {
  const answer = new Map<TargetState, boolean>();
  const calls = new Map<TargetState, number>();
  const probe: Probe = async (t) => {
    calls.set(t, (calls.get(t) ?? 0) + 1);
    return answer.get(t) ?? true;
  };
  return { probe, answer, calls };
}

/** Time and timers that move only when the test says: each `step` is 25 ms, one probe per target at a 20 ms interval. */
function manualTime(): { clock: ManualClock; scheduler: ManualScheduler; step: (n?: number) => Promise<void> } {
  const clock = new ManualClock();
  const scheduler = new ManualScheduler(clock);
  const step = async (n = 1): Promise<void> => {
    for (let i = 0; i < n; i++) {
      scheduler.advance(25);
      // The scripted probes answer on the microtask queue; let them land before the next step.
      await new Promise((r) => setImmediate(r));
    }
  };
  return { clock, scheduler, step };
}

describe('health checker (scripted probe, manual scheduler)', () => {
  it('ok/timeout defaults to the smaller of 1s and the interval', () => {
    expect(probeTimeoutMs(spec({ interval: '5s' }))).toBe(1_000);
    expect(probeTimeoutMs(spec({ interval: '200ms' }))).toBe(200);
    expect(probeTimeoutMs(spec({ interval: '5s', timeout: '2s' }))).toBe(2_000);
  });

  it('ok/a failing target goes down after unhealthyThreshold probes, comes back after healthyThreshold, onChange once per flip', async () => {
    const a = newTargetState('http://10.0.0.1:80', 1, 'primary');
    const b = newTargetState('http://10.0.0.2:80', 1, 'backup');
    const { probe, answer, calls } = scriptedProbe();
    const changes: string[] = [];
    const { clock, scheduler, step } = manualTime();
    start({ pool: { primaries: [a], backups: [b] }, spec: spec(), clock, scheduler, random: seededRandom(1), probe, onChange: (t, h) => changes.push(`${t.url} ${h}`) });
    answer.set(a, false);
    await step();
    expect(a.healthy).toBe(true);
    await step();
    expect(a.healthy).toBe(false);
    expect(changes).toEqual(['http://10.0.0.1:80 false']);
    answer.set(a, true);
    await step();
    expect(a.healthy).toBe(false);
    await step();
    expect(a.healthy).toBe(true);
    expect(changes).toEqual(['http://10.0.0.1:80 false', 'http://10.0.0.1:80 true']);
    expect(b.healthy).toBe(true);
    expect(calls.get(a)).toBe(4);
    expect(calls.get(b)).toBe(4);
  });

  it('ok/a rejecting probe and a throwing onChange count as failure and do not stop the loop', async () => {
    const a = newTargetState('http://10.0.0.1:80', 1, 'primary');
    let n = 0;
    const probe: Probe = async () => {
      n++;
      throw new Error('boom');
    };
    const { clock, scheduler, step } = manualTime();
    start({ pool: { primaries: [a], backups: [] }, spec: spec(), clock, scheduler, random: seededRandom(2), probe, onChange: () => { throw new Error('callback'); } });
    await step(4);
    expect(a.healthy).toBe(false);
    expect(n).toBe(4);
  });

  it('ok/close stops probing: a closed checker is silent while another keeps going', async () => {
    const a = newTargetState('http://10.0.0.1:80', 1, 'primary');
    const b = newTargetState('http://10.0.0.2:80', 1, 'primary');
    const closed = scriptedProbe();
    const live = scriptedProbe();
    const { clock, scheduler, step } = manualTime();
    const c = start({ pool: { primaries: [a], backups: [] }, spec: spec(), clock, scheduler, random: seededRandom(3), probe: closed.probe });
    start({ pool: { primaries: [b], backups: [] }, spec: spec(), clock, scheduler, random: seededRandom(4), probe: live.probe });
    await step();
    expect(closed.calls.get(a)).toBe(1);
    c.close();
    expect(scheduler.pending).toBe(1);
    await step(5);
    expect(live.calls.get(b)).toBe(6);
    expect(closed.calls.get(a)).toBe(1);
  });

  it('ok/track: a new target is probed, a removed one no longer, the others go on, a re-added one gets one loop', async () => {
    const a = newTargetState('http://10.0.0.1:80', 1, 'primary');
    const b = newTargetState('http://10.0.0.2:80', 1, 'primary');
    const c = newTargetState('http://10.0.0.3:80', 1, 'primary');
    const { probe, answer, calls } = scriptedProbe();
    const { clock, scheduler, step } = manualTime();
    const checker = start({ pool: { primaries: [a, b], backups: [] }, spec: spec({ unhealthyThreshold: 1 }), clock, scheduler, random: seededRandom(6), probe });
    await step(2);
    expect([calls.get(a), calls.get(b), calls.get(c)]).toEqual([2, 2, undefined]);
    checker.track([a, c]);
    answer.set(b, false);
    await step(3);
    expect(calls.get(a)).toBe(5);
    expect(calls.get(b)).toBe(2);
    expect(calls.get(c)).toBe(3);
    expect(b.healthy).toBe(true);
    expect(scheduler.pending).toBe(2);
    // Tracked again: one probe loop, not two.
    checker.track([a, b, c]);
    await step(2);
    expect(calls.get(b)).toBe(4);
    expect(scheduler.pending).toBe(3);
  });

  it('ok/a result that arrives after close is dropped', async () => {
    const a = newTargetState('http://10.0.0.1:80', 1, 'primary');
    let resolve: (ok: boolean) => void = () => undefined;
    let started = false;
    const probe: Probe = () => {
      started = true;
      return new Promise<boolean>((r) => (resolve = r));
    };
    const { clock, scheduler, step } = manualTime();
    const c = start({ pool: { primaries: [a], backups: [] }, spec: spec({ unhealthyThreshold: 1 }), clock, scheduler, random: seededRandom(5), probe });
    await step();
    expect(started).toBe(true);
    c.close();
    resolve(false);
    await new Promise((r) => setImmediate(r));
    expect(a.healthy).toBe(true);
    expect(a.probeFailures).toBe(0);
    expect(scheduler.pending).toBe(0);
  });

  it('ok/state lives in the targets: a checker over the same objects continues the count', async () => {
    const a = newTargetState('http://10.0.0.1:80', 1, 'primary');
    const { probe, answer, calls } = scriptedProbe();
    answer.set(a, false);
    const { clock, scheduler, step } = manualTime();
    const first = start({ pool: { primaries: [a], backups: [] }, spec: spec({ unhealthyThreshold: 3 }), clock, scheduler, random: seededRandom(6), probe });
    await step();
    first.close();
    expect(a.healthy).toBe(true);
    expect(a.probeFailures).toBe(1);
    start({ pool: { primaries: [a], backups: [] }, spec: spec({ unhealthyThreshold: 3 }), clock, scheduler, random: seededRandom(7), probe });
    await step();
    expect(a.healthy).toBe(true);
    await step();
    expect(a.healthy).toBe(false);
    expect(calls.get(a)).toBe(3);
  });
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return `http://127.0.0.1:${port}`;
}

describe('health checker (real sockets)', () => {
  it('ok/healthy, failing, dead and hanging targets are told apart by GET path', async () => {
    const paths: string[] = [];
    let flakyStatus = 204;
    const healthy = await listen((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(req.url === '/healthz' ? 200 : 404).end('ok');
    });
    const redirecting = await listen((_req, res) => res.writeHead(302, { location: '/elsewhere' }).end());
    const flaky = await listen((_req, res) => res.writeHead(flakyStatus).end());
    const hanging = await listen(() => undefined);
    const dead = await deadUrl();
    const [h, r, f, hang, d] = [healthy.url, redirecting.url, flaky.url, hanging.url, dead].map((u) => newTargetState(u, 1, 'primary')) as [TargetState, TargetState, TargetState, TargetState, TargetState];
    const changes: string[] = [];
    const onChange = (t: TargetState, healthy: boolean): void =>
      void changes.push(`${t === d ? 'dead' : t === hang ? 'hanging' : t === f ? 'flaky' : 'other'}:${healthy}`);
    // A generous timeout for the answering targets (a loaded CI box must not fail them); a short one
    // for the hanging target, in its own checker, so the test stays quick.
    start({
      pool: { primaries: [h, r, f], backups: [d] },
      spec: HealthCheckSpec.parse({ path: '/healthz', interval: '50ms', timeout: '2s', healthyThreshold: 2, unhealthyThreshold: 2 }),
      clock: systemClock,
      random: seededRandom(8),
      onChange,
    });
    start({
      pool: { primaries: [hang], backups: [] },
      spec: HealthCheckSpec.parse({ path: '/healthz', interval: '50ms', timeout: '100ms', healthyThreshold: 2, unhealthyThreshold: 2 }),
      clock: systemClock,
      random: seededRandom(12),
      onChange,
    });
    await waitFor(() => !d.healthy && !hang.healthy, { what: 'dead and hanging down' });
    await waitFor(() => paths.length >= 2, { what: 'two probes of the healthy target' });
    expect(h.healthy && r.healthy && f.healthy).toBe(true);
    expect(paths.every((p) => p === '/healthz')).toBe(true);

    flakyStatus = 503;
    await waitFor(() => !f.healthy, { what: 'flaky down on 503' });
    flakyStatus = 200;
    await waitFor(() => f.healthy, { what: 'flaky back on 200' });
    expect(h.healthy && r.healthy).toBe(true);
    expect(changes.filter((c) => c.startsWith('flaky'))).toEqual(['flaky:false', 'flaky:true']);
    expect(changes).toContain('dead:false');
    expect(changes).toContain('hanging:false');
  });

  it('ok/a target that comes back on its port is marked healthy again', async () => {
    const url = await deadUrl();
    const t = newTargetState(url, 1, 'primary');
    start({ pool: { primaries: [t], backups: [] }, spec: HealthCheckSpec.parse({ interval: '50ms', timeout: '2s', healthyThreshold: 1, unhealthyThreshold: 1 }), clock: systemClock, random: seededRandom(9) });
    await waitFor(() => !t.healthy, { what: 'down while nothing listens' });
    const server = createServer((_req, res) => res.end('ok'));
    servers.push(server);
    await new Promise<void>((r) => server.listen(Number(new URL(url).port), '127.0.0.1', r));
    await waitFor(() => t.healthy, { what: 'up once the port answers' });
  });
});

/** THROWAWAY self-signed certificate for 127.0.0.1, made per run. */
async function selfSigned(): Promise<{ certPem: string; keyPem: string }> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=127.0.0.1',
    notBefore: new Date(systemClock.now() - 60_000),
    notAfter: new Date(systemClock.now() + 3_600_000),
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  return { certPem: cert.toString('pem'), keyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n` };
}

describe('health checker (https)', () => {
  it('ok/the tls options verify an https target; without its root the probe fails', async () => {
    const { certPem, keyPem } = await selfSigned();
    const server = createHttpsServer({ cert: certPem, key: keyPem }, (_req, res) => res.end('ok'));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const trusted = newTargetState(url, 1, 'primary');
    const untrusted = newTargetState(url, 1, 'primary');
    const hc = HealthCheckSpec.parse({ interval: '50ms', timeout: '2s', healthyThreshold: 1, unhealthyThreshold: 1 });
    const seen = new Map<TargetState, boolean>();
    const record = (t: TargetState, ok: boolean): void => void seen.set(t, ok);
    start({ pool: { primaries: [trusted], backups: [] }, spec: hc, clock: systemClock, random: seededRandom(10), tls: { ca: certPem }, onProbe: record });
    start({ pool: { primaries: [untrusted], backups: [] }, spec: hc, clock: systemClock, random: seededRandom(11), onProbe: record });
    await waitFor(() => seen.has(trusted) && !untrusted.healthy, { what: 'both probed' });
    expect(seen.get(trusted)).toBe(true);
    expect(trusted.healthy).toBe(true);
  });
});
