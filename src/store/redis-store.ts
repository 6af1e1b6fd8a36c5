/**
 * The shared counter store: Redis via ioredis, one Lua script per decision.
 *
 * - The bucket script is `store/token-bucket.ts` step for step, fed the caller's clock
 *   (not Redis TIME), so replicas and the pure math agree; state is stored with `%.17g`,
 *   which round-trips a double exactly.
 * - Quota: INCR + expiry in one script. The key names its window, so two replicas with
 *   slightly different clocks can never reset each other's count. The expiry is relative
 *   (PEXPIRE window end − caller's now + slack) rather than PEXPIREAT: an absolute time would
 *   be read on Redis's clock, and a Redis clock ahead of ours would delete a live counter.
 * - Time is the callers' wall clock (replicas must agree on one time line; a monotonic clock is
 *   per process). A backward step of more than BACKWARD_STEP_MS rebases the bucket to the new
 *   now (refill resumes at once, never negative); smaller differences, as between replicas, stall
 *   refill for at most that long.
 * - Failing fast is the point: a bounded command timeout, no offline queue, no replay of
 *   unanswered commands after a reconnect (a token must not be taken twice), reconnect with
 *   capped exponential backoff. Every ioredis error becomes a StoreUnavailableError here and
 *   nowhere else.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { durationMs } from '../core/duration.js';
import type { StoreSpec } from '../spec/schema.js';
import { BACKWARD_STEP_MS, type BucketParams } from './token-bucket.js';
import type { QuotaWindow } from './quota-window.js';
import { StoreUnavailableError, type BucketDecision, type CounterStore, type QuotaDecision } from './counter-store.js';

const BUCKET_LUA = `
local capacity = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local eps = 1e-9
local s = redis.call('HMGET', KEYS[1], 't', 'u')
local tokens
local updated
if s[1] and s[2] then
  tokens = tonumber(s[1])
  updated = tonumber(s[2])
  if now > updated then
    tokens = math.min(capacity, tokens + (now - updated) * refill)
    updated = now
  elseif updated - now > ${BACKWARD_STEP_MS} then
    updated = now
  end
else
  tokens = capacity
  updated = now
end
local allowed = 0
if tokens + eps >= cost then
  tokens = math.max(0, tokens - cost)
  allowed = 1
end
local wait = 0
if tokens + eps < cost then
  wait = math.ceil((cost - tokens) / refill - eps)
end
local ttl = math.min(1e12, math.max(1, math.ceil((capacity - tokens) / refill)))
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'u', string.format('%.17g', updated))
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl))
return { allowed, math.floor(tokens + eps), math.min(wait, 1e12) }
`;

const QUOTA_LUA = `
local c = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return c
`;

const HEARTBEAT_LUA = `
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return redis.call('ZCARD', KEYS[2])
`;

interface Script {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

const BUCKET = script(BUCKET_LUA);
const QUOTA = script(QUOTA_LUA);
const HEARTBEAT = script(HEARTBEAT_LUA);

/**
 * Slack after a quota window's end before its key expires, for replicas whose clocks lag
 * ours. The key names its window, so the slack never lengthens a window.
 */
const QUOTA_EXPIRY_SLACK_MS = 1000;

/** Options of `createRedisStore`. */
export interface RedisStoreOptions {
  /** redis://[user:pass@]host:port[/db] */
  url: string;
  /** Prefix of every key this store writes. Default "tollgate:". */
  keyPrefix?: string;
  /** Longest wait for one answer, in ms. Default 100. */
  commandTimeoutMs?: number;
  /** Connection-level errors (the ioredis 'error' event), for logging. Never thrown. */
  onError?: (err: Error) => void;
}

/** Longest pause between reconnect attempts. */
const MAX_RECONNECT_DELAY_MS = 2000;

/** A CounterStore in Redis, shared by every replica that uses the same prefix. */
export class RedisStore implements CounterStore {
  readonly #client: Redis;
  readonly #prefix: string;
  #closed = false;

  constructor(opts: RedisStoreOptions) {
    this.#prefix = opts.keyPrefix ?? 'tollgate:';
    const commandTimeout = opts.commandTimeoutMs ?? 100;
    const onError = opts.onError;
    this.#client = new Redis(opts.url, {
      commandTimeout,
      connectTimeout: Math.max(1000, commandTimeout * 10),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), MAX_RECONNECT_DELAY_MS),
    });
    // An 'error' event without a listener would crash the process.
    this.#client.on('error', (err: Error) => {
      if (onError !== undefined) onError(err);
    });
  }

  /** The ioredis client, for rate-limiter-flexible (edge guard). Owned by this store. */
  get client(): Redis {
    return this.#client;
  }

  /** True while the connection is ready for commands. */
  get connected(): boolean {
    return this.#client.status === 'ready';
  }

  /** Resolves once connected; rejects with StoreUnavailableError after `timeoutMs`. */
  async ready(timeoutMs: number): Promise<void> {
    if (this.connected) return;
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#client.off('ready', onReady);
        reject(new StoreUnavailableError(`Redis store not ready after ${timeoutMs}ms`));
      }, timeoutMs);
      this.#client.once('ready', onReady);
    });
  }

  async takeToken(key: string, params: BucketParams, nowMs: number): Promise<BucketDecision> {
    const reply = await this.#eval(BUCKET, [this.#prefix + 'b:' + key], [
      String(params.capacity),
      String(params.refillPerMs),
      String(nowMs),
      '1',
    ]);
    const [allowed, remaining, retryAfterMs] = reply as [number, number, number];
    return { allowed: allowed === 1, remaining, retryAfterMs };
  }

  async countQuota(key: string, limit: number, window: QuotaWindow, nowMs: number): Promise<QuotaDecision> {
    const count = (await this.#eval(QUOTA, [`${this.#prefix}q:${key}:${window.startMs}`], [
      String(Math.max(0, window.endMs - nowMs) + QUOTA_EXPIRY_SLACK_MS),
    ])) as number;
    return {
      allowed: count <= limit,
      remaining: Math.max(0, limit - count),
      resetMs: Math.max(0, window.endMs - nowMs),
    };
  }

  async peekQuota(key: string, window: QuotaWindow): Promise<number> {
    const value = await this.#run(() => this.#client.get(`${this.#prefix}q:${key}:${window.startMs}`));
    const n = value === null ? 0 : Number(value);
    return Number.isFinite(n) ? n : 0;
  }

  /**
   * Announces replica `id` for `ttlMs` (SET prefix+"replica:"+id PX ttl, plus a sorted set
   * scored by expiry) and returns how many replicas are live, this one included.
   */
  async heartbeat(id: string, ttlMs: number, nowMs: number): Promise<number> {
    const count = await this.#eval(HEARTBEAT, [this.#prefix + 'replica:' + id, this.#prefix + 'replicas'], [
      id,
      String(ttlMs),
      String(nowMs),
      String(nowMs + ttlMs),
    ]);
    return count as number;
  }

  /** Withdraws replica `id` so the others stop counting it (best effort). */
  async leave(id: string): Promise<void> {
    await this.#run(() => this.#client.multi().del(this.#prefix + 'replica:' + id).zrem(this.#prefix + 'replicas', id).exec());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  async #eval(s: Script, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    try {
      return await this.#client.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!isNoScript(err)) throw translate(err);
    }
    // First use on this server (or after SCRIPT FLUSH / a restart): send the body once.
    return this.#run(() => this.#client.eval(s.lua, keys.length, ...keys, ...args));
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      throw translate(err);
    }
  }
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

function translate(err: unknown): StoreUnavailableError {
  const detail = err instanceof Error ? err.message : String(err);
  return new StoreUnavailableError(`Redis store unavailable: ${detail}`, { cause: err });
}

/** Creates a Redis store; it connects in the background and fails fast until connected. */
export function createRedisStore(opts: RedisStoreOptions): RedisStore {
  return new RedisStore(opts);
}

/** Maps `store.redis` from the config to store options. */
export function redisStoreOptions(spec: StoreSpec['redis']): RedisStoreOptions {
  return { url: spec.url, keyPrefix: spec.keyPrefix, commandTimeoutMs: durationMs(spec.commandTimeout) };
}
