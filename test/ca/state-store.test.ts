/**
 * The CA state stores against the real thing: RedisCaState on a redis-server started here (two
 * instances standing for two replicas), and the file state under the same concurrent token test.
 * Tokens spent atomically, the issued index pruned (bounded), revocations carried by pub/sub and by
 * the poll, Redis killed (fast CA_UNAVAILABLE, the last list kept) and back (a lost list written back).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initAuthority, openAuthority } from '../../src/ca/authority.js';
import { CA_RETRY_AFTER_SEC, createRedisCaState, PRUNE_BATCH, type RedisCaState, type RedisCaStateOptions } from '../../src/ca/redis-state.js';
import { TOKEN_KEEP_AFTER_EXP_MS, type IssuedRecord } from '../../src/ca/state.js';
import { systemClock } from '../../src/core/clock.js';
import { GatewayError } from '../../src/core/errors.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { waitFor } from '../support/wait.js';
import { tempDir } from './support.js';

const HOUR = 3_600_000;

function record(serial: string, notAfterMs: number): IssuedRecord {
  return {
    serial,
    spiffeId: 'spiffe://tollgate.local/web',
    dns: [],
    ip: [],
    notBefore: new Date(notAfterMs - HOUR).toISOString(),
    notAfter: new Date(notAfterMs).toISOString(),
    certHash: `hash-${serial}`,
  };
}

const serial = (): string => randomBytes(16).toString('hex').replace(/^0+/, '');

function codeOf(err: unknown): string | undefined {
  return err instanceof GatewayError ? err.code : undefined;
}

describe('RedisCaState on a real redis-server', () => {
  let redis: TestRedis;
  let raw: Redis;
  const open: RedisCaState[] = [];
  let prefix: string;

  async function state(overrides: Partial<RedisCaStateOptions> = {}): Promise<RedisCaState> {
    const s = createRedisCaState({ url: redis.url, keyPrefix: prefix, commandTimeoutMs: 1000, pollIntervalMs: HOUR, clock: systemClock, ...overrides });
    open.push(s);
    await s.open();
    return s;
  }

  beforeAll(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
  });
  afterAll(async () => {
    for (const s of open) await s.close();
    raw?.disconnect();
    await redis?.stop();
  });

  it('ok/one token spent 20 times in parallel through two replicas: exactly one succeeds, the key expires 5 min after the token', async () => {
    prefix = `t1:${serial()}:`;
    const [a, b] = [await state(), await state()];
    const now = Date.now();
    const token = { jti: serial(), expMs: now + 5 * 60_000 };
    const tries = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).recordIssued(record(serial(), now + HOUR), now, token));
    const settled = await Promise.allSettled(tries);
    expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(settled.filter((r) => r.status === 'rejected').map((r) => codeOf((r as PromiseRejectedResult).reason))).toEqual(Array(19).fill('TOKEN_REUSED'));
    // Only the winner's certificate was recorded.
    expect(await a.indexSize()).toBe(1);
    expect(await b.tokenUsed(token.jti)).toBe(true);
    const ttl = await raw.pttl(`${prefix}token:${token.jti}`);
    expect(ttl).toBeGreaterThan(5 * 60_000 + TOKEN_KEEP_AFTER_EXP_MS - 10_000);
    expect(ttl).toBeLessThanOrEqual(5 * 60_000 + TOKEN_KEEP_AFTER_EXP_MS);
    // consumeToken alone is atomic the same way.
    const other = { jti: serial(), expMs: now + 60_000 };
    const consumed = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).consumeToken(other, now)));
    expect(consumed.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('ok/the issued index is bounded: expired entries are pruned at every issue and by prune(); lookups skip expired ones', async () => {
    prefix = `t2:${serial()}:`;
    const s = await state();
    const now = Date.now();
    const short = Array.from({ length: 300 }, () => record(serial(), now + 1000));
    for (const r of short) await s.recordIssued(r, now);
    expect(await s.indexSize()).toBe(300);
    expect(await s.findIssuedByHash(short[0]!.certHash)).toMatchObject({ serial: short[0]!.serial });
    const later = now + 2000;
    const keep = record(serial(), later + HOUR);
    await s.recordIssued(keep, later);
    expect(await s.indexSize()).toBe(1);
    expect(await raw.hlen(`${prefix}issued`)).toBe(1);
    expect(await raw.hlen(`${prefix}issued:hash`)).toBe(1);
    expect(await s.findIssuedByHash(short[0]!.certHash)).toBeUndefined();
    expect(await s.findIssuedByHash(keep.certHash)).toMatchObject({ serial: keep.serial });
    expect((await s.listIssued(later)).map((r) => r.serial)).toEqual([keep.serial]);
    // prune() alone, bounded per call.
    for (let i = 0; i < 5; i++) await s.recordIssued(record(serial(), later + 10), later);
    expect(await s.prune(later + 20)).toBe(5);
    expect(await s.indexSize()).toBe(1);
    expect(PRUNE_BATCH).toBeGreaterThanOrEqual(100);
  });

  it('ok/a revocation written at one replica is in force at the other through pub/sub (poll an hour apart)', async () => {
    prefix = `t3:${serial()}:`;
    const changes: string[] = [];
    const [a, b] = [await state(), await state({ onRevocations: (c) => changes.push(c.source) })];
    await waitFor(() => b.subscribed, { timeoutMs: 10_000, what: 'b subscribed' });
    const known = record(serial(), Date.now() + HOUR);
    await a.recordIssued(known, Date.now());
    const started = performance.now();
    const [first, second] = await a.revoke([
      { serial: known.serial, reason: 'key compromise', revokedAt: new Date().toISOString() },
      { serial: 'abc123', reason: 'unknown serial', revokedAt: new Date().toISOString() },
    ]);
    expect(first).toEqual({ alreadyRevoked: false, known: true });
    expect(second).toEqual({ alreadyRevoked: false, known: false });
    expect(a.isRevoked(known.serial.toUpperCase())).toBe(true);
    await waitFor(() => b.isRevoked(known.serial), { timeoutMs: 10_000, what: 'the revocation at the other replica' });
    const ms = performance.now() - started;
    expect(changes).toContain('pubsub');
    expect(b.revocations().map((r) => r.serial).sort()).toEqual([known.serial, 'abc123'].sort());
    expect(b.revocations().find((r) => r.serial === known.serial)?.reason).toBe('key compromise');
    // Revoked again: the first entry stays.
    const [again] = await b.revoke([{ serial: known.serial, reason: 'other', revokedAt: new Date().toISOString() }]);
    expect(again?.alreadyRevoked).toBe(true);
    expect(b.revocations().find((r) => r.serial === known.serial)?.reason).toBe('key compromise');
    expect(ms, `pub/sub took ${ms.toFixed(0)} ms`).toBeLessThan(1000);
  });

  it('ok/the poll catches a change that came without a message', async () => {
    prefix = `t4:${serial()}:`;
    const changes: { count: number; source: string }[] = [];
    const s = await state({ pollIntervalMs: 100, onRevocations: (c) => changes.push(c) });
    await waitFor(() => s.subscribed, { timeoutMs: 10_000, what: 'subscribed' });
    // Written as a replica would, minus the PUBLISH (a message the subscriber missed).
    const quietly = async (serialHex: string): Promise<void> => {
      await raw.hset(`${prefix}revoked`, serialHex, JSON.stringify({ reason: 'r', revokedAt: new Date().toISOString() }));
      await raw.incr(`${prefix}revoked:v`);
    };
    const first = serial();
    await quietly(first);
    await waitFor(() => s.isRevoked(first), { timeoutMs: 10_000, what: 'the first change' });
    // By now the read that followed subscribing is over: only the poll can find the second.
    const second = serial();
    await quietly(second);
    await waitFor(() => s.isRevoked(second), { timeoutMs: 10_000, what: 'the poll' });
    expect(changes.find((c) => c.count === 2)?.source).toBe('poll');
  });
});

describe('RedisCaState when Redis dies and comes back (no persistence)', () => {
  let redis: TestRedis;
  const prefix = 'outage:';
  const open: RedisCaState[] = [];
  const availability: boolean[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const s of open) await s.close();
    await redis?.stop();
  });

  it('ok/calls fail fast with CA_UNAVAILABLE and Retry-After; the list stays; back: the lost list is written back and writes resume', async () => {
    const mk = async (onAvailability?: (up: boolean) => void): Promise<RedisCaState> => {
      const s = createRedisCaState({ url: redis.url, keyPrefix: prefix, commandTimeoutMs: 500, pollIntervalMs: 100, clock: systemClock, onAvailability });
      open.push(s);
      await s.open();
      return s;
    };
    const a = await mk((up) => availability.push(up));
    const b = await mk();
    const revoked = serial();
    await a.revoke([{ serial: revoked, reason: 'test', revokedAt: new Date().toISOString() }]);
    await waitFor(() => b.isRevoked(revoked), { timeoutMs: 10_000, what: 'b has the list' });

    redis.kill();
    await waitFor(() => availability.includes(false), { timeoutMs: 10_000, what: 'a notices' });
    const started = performance.now();
    const err = await a.consumeToken({ jti: serial(), expMs: Date.now() + 60_000 }, Date.now()).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(codeOf(err)).toBe('CA_UNAVAILABLE');
    expect((err as GatewayError).status).toBe(503);
    expect((err as GatewayError).headers['retry-after']).toBe(String(CA_RETRY_AFTER_SEC));
    await expect(a.recordIssued(record(serial(), Date.now() + HOUR), Date.now())).rejects.toMatchObject({ code: 'CA_UNAVAILABLE' });
    await expect(a.findIssuedByHash('x')).rejects.toMatchObject({ code: 'CA_UNAVAILABLE' });
    await expect(a.refresh()).rejects.toMatchObject({ code: 'CA_UNAVAILABLE' });
    // Verification keeps the last known list.
    expect(a.isRevoked(revoked)).toBe(true);
    expect(b.isRevoked(revoked)).toBe(true);

    await redis.restart();
    await waitFor(() => availability.at(-1) === true, { timeoutMs: 15_000, what: 'a back' });
    // The subscribers subscribe again on their own.
    await waitFor(() => a.subscribed && b.subscribed, { timeoutMs: 15_000, what: 'subscribed again' });
    // The restarted Redis had nothing; the replicas put the list back.
    const raw = new Redis(redis.url);
    try {
      await waitFor(async () => (await raw.hexists(`${prefix}revoked`, revoked)) === 1, { timeoutMs: 10_000, what: 'the list written back' });
    } finally {
      raw.disconnect();
    }
    const next = serial();
    await waitFor(async () => (await b.revoke([{ serial: next, reason: 'after', revokedAt: new Date().toISOString() }]).then(() => true, () => false)), {
      timeoutMs: 10_000,
      what: 'b writes again',
    });
    await waitFor(() => a.isRevoked(next), { timeoutMs: 10_000, what: 'a sees the new revocation' });
    expect(a.subscribed).toBe(true);
    expect(a.isRevoked(revoked)).toBe(true);
  }, 60_000);
});

describe('the file state under the same concurrent spend', () => {
  it('ok/20 parallel issues with one token on one CA directory (two handles): exactly one', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const ca1 = await initAuthority(dir, { trustDomain: 'tollgate.local', clock: systemClock });
      const ca2 = await openAuthority(dir, { clock: systemClock });
      const { jti, expiresAt } = await ca1.createToken('spiffe://tollgate.local/web', 60_000);
      const token = { jti, expMs: expiresAt.getTime() };
      const key = (): Uint8Array<ArrayBuffer> => new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));
      const settled = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? ca1 : ca2).issue({ id: 'spiffe://tollgate.local/web', ttlMs: HOUR, publicKey: key(), token })),
      );
      expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(settled.filter((r) => r.status === 'rejected').every((r) => codeOf((r as PromiseRejectedResult).reason) === 'TOKEN_REUSED')).toBe(true);
      expect(await ca1.list()).toHaveLength(1);
    } finally {
      await cleanup();
    }
  }, 60_000);
});
