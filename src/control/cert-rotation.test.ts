import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, sanNamesOf } from '../ca/x509.js';
import type { Authority } from '../ca/authority.js';
import { ManualClock, systemClock } from '../core/clock.js';
import { ManualScheduler } from '../core/scheduler.js';
import { openssl, tempDir } from '../../test/ca/support.js';
import { createCertRotation, ensureCa } from './cert-rotation.js';
import type { ServingCredentials } from './cert-rotation.js';

async function waitFor(pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('cert rotation', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let ca: Authority;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    ca = await ensureCa(join(dir, 'missing', 'ca'), 'tollgate.local', systemClock);
  });
  afterAll(() => cleanup());

  it('ok/ensureCa initialises a missing dir, then opens it', async () => {
    const again = await ensureCa(join(dir, 'missing', 'ca'), 'tollgate.local', systemClock);
    expect(again.rootPem).toBe(ca.rootPem);
  });

  it('ok/serving cert for serverNames, IPs as IP SANs, the gateway identity, verifiable', async () => {
    const rotation = await createCertRotation({
      authority: ca,
      serverNames: ['localhost', '127.0.0.1', '::1'],
      trustDomain: 'tollgate.local',
      ttlMs: 3_600_000,
      clock: systemClock,
      onRotate: () => undefined,
    });
    try {
      const creds = rotation.current();
      const names = sanNamesOf(parseCertificate(creds.certPem));
      expect(names).toEqual({ uris: ['spiffe://tollgate.local/tollgate'], dns: ['localhost'], ip: ['127.0.0.1', '::1'], other: 0 });
      await openssl(['pkey', '-noout'], { input: creds.keyPem });
      const rootPath = join(dir, 'missing', 'ca', 'root.crt');
      const out = await openssl(['verify', '-CAfile', rootPath, '-untrusted', join(dir, 'missing', 'ca', 'intermediate.crt'), '-purpose', 'sslserver'], { input: creds.certPem });
      expect(out).toContain('OK');
    } finally {
      rotation.close();
    }
  });

  it('ok/replan issues for the new names and lifetime at once, without calling onRotate', async () => {
    let rotations = 0;
    const rotation = await createCertRotation({
      authority: ca,
      serverNames: ['localhost'],
      trustDomain: 'tollgate.local',
      ttlMs: 3_600_000,
      clock: systemClock,
      onRotate: () => rotations++,
    });
    try {
      const before = rotation.current();
      await rotation.replan(['gw.example', '192.0.2.8'], 7_200_000);
      const after = rotation.current();
      expect(after.keyPem).not.toBe(before.keyPem);
      expect(sanNamesOf(parseCertificate(after.certPem))).toMatchObject({ dns: ['gw.example'], ip: ['192.0.2.8'] });
      const lifetime = after.notAfter.getTime() - Date.now();
      expect(lifetime).toBeGreaterThan(3_600_000);
      expect(lifetime).toBeLessThanOrEqual(7_200_000);
      expect(rotations).toBe(0);
    } finally {
      rotation.close();
    }
  });

  it('ok/renews at 2/3 of the lifetime with a new key, on the injected scheduler; close() stops it', async () => {
    const rotated: ServingCredentials[] = [];
    const clock = new ManualClock(systemClock.now());
    const scheduler = new ManualScheduler(clock);
    const ttlMs = 3_600_000;
    const rotation = await createCertRotation({
      authority: ca,
      serverNames: ['localhost'],
      trustDomain: 'tollgate.local',
      ttlMs,
      clock,
      scheduler,
      onRotate: (c) => rotated.push(c),
    });
    const first = rotation.current();
    expect(scheduler.pending).toBe(1);
    scheduler.advance((ttlMs * 2) / 3 - 1_000);
    expect(rotated).toHaveLength(0);
    scheduler.advance(1_000);
    await waitFor(() => rotated.length === 1);
    expect(rotation.current().keyPem).not.toBe(first.keyPem);
    expect(rotation.current().certPem).toBe(rotated[0]!.certPem);
    // The next renewal is planned 2/3 of a lifetime after this one.
    expect(scheduler.pending).toBe(1);
    rotation.close();
    expect(scheduler.pending).toBe(0);
    scheduler.advance(ttlMs * 10);
    expect(rotated).toHaveLength(1);
  });
});
