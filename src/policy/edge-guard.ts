/**
 * Abuse protection for the gateway itself, built on rate-limiter-flexible: new TLS
 * handshakes per client IP, and failed CA API attempts per IP (token guessing, forged
 * renewals), which block the IP for a while once used up.
 *
 * These are coarse fixed-window counters (rate-limiter-flexible's own model and clock), not
 * the SPEC's token buckets; that is fine for a guard. With an ioredis client the counts are
 * shared by every replica, and an in-memory insurance limiter takes over while Redis is
 * unreachable. Any other failure fails open (and is reported through `onError`): the guard
 * must never be the reason the gateway refuses everyone.
 * Remember: consume() rejects with a RateLimiterRes (not an Error) when the limit is hit.
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

/** Options of `createEdgeGuard`. */
export interface EdgeGuardOptions {
  /** New TLS handshakes per client IP: at most `points` per `durationSec`. Default 200 per 10 s. */
  handshakes?: { points: number; durationSec: number };
  /** Failed CA API attempts per IP: `maxFailures` per `windowSec`, then blocked `blockSec`. Default 10 per 600 s, 900 s. */
  caFailures?: { maxFailures: number; windowSec: number; blockSec: number };
  /** Share counts through Redis (e.g. RedisStore#client); in-process when absent. */
  redis?: Redis;
  /** Redis key prefix. Default "tollgate:guard:". */
  keyPrefix?: string;
  /** Errors other than "limit reached" (the guard then allows). */
  onError?: (err: unknown) => void;
}

/** Per-IP abuse limits on handshakes and CA failures. */
export interface EdgeGuard {
  /** Counts a new TLS handshake from `ip`; false when over the limit (refuse it). */
  allowHandshake(ip: string): Promise<boolean>;
  /** Counts a failed CA API attempt from `ip`; false when `ip` is now blocked. */
  recordCaFailure(ip: string): Promise<boolean>;
  /** True while `ip` may not use the CA API (checked before the attempt). */
  caBlocked(ip: string): Promise<boolean>;
}

function limiter(
  name: string,
  points: number,
  durationSec: number,
  redis: Redis | undefined,
  keyPrefix: string,
): RateLimiterAbstract {
  const memory = new RateLimiterMemory({ keyPrefix: keyPrefix + name, points, duration: durationSec });
  if (redis === undefined) return memory;
  return new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: keyPrefix + name,
    points,
    duration: durationSec,
    rejectIfRedisNotReady: true,
    insuranceLimiter: memory,
  });
}

/** Creates the guard; it owns no sockets (the Redis client stays the caller's). */
export function createEdgeGuard(opts: EdgeGuardOptions = {}): EdgeGuard {
  const hs = opts.handshakes ?? { points: 200, durationSec: 10 };
  const ca = opts.caFailures ?? { maxFailures: 10, windowSec: 600, blockSec: 900 };
  const prefix = opts.keyPrefix ?? 'tollgate:guard:';
  const onError = opts.onError ?? (() => undefined);
  const handshakes = limiter('hs', hs.points, hs.durationSec, opts.redis, prefix);
  const caFailures = limiter('ca', ca.maxFailures, ca.windowSec, opts.redis, prefix);

  return {
    async allowHandshake(ip) {
      try {
        await handshakes.consume(ip);
        return true;
      } catch (err) {
        if (err instanceof RateLimiterRes) return false;
        onError(err);
        return true;
      }
    },
    async recordCaFailure(ip) {
      try {
        const res = await caFailures.consume(ip);
        if (res.remainingPoints > 0) return true;
        // The last allowed failure: block now rather than after one more attempt.
        await caFailures.block(ip, ca.blockSec);
        return false;
      } catch (err) {
        if (err instanceof RateLimiterRes) return false;
        onError(err);
        return true;
      }
    },
    async caBlocked(ip) {
      try {
        const res = await caFailures.get(ip);
        return res !== null && res.consumedPoints >= ca.maxFailures;
      } catch (err) {
        onError(err);
        return false;
      }
    },
  };
}
