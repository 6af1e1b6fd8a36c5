/**
 * The CA's state in one Redis shared by every replica (`store.type: redis`). Keys, under the prefix
 * `<store.redis.keyPrefix>ca:<trustDomain>:`:
 *
 *   token:<jti>    a spent bootstrap token: SET NX, expiring 5 minutes after the token does
 *   issued         hash serial → the index record (JSON)
 *   issued:hash    hash sha256(DER) → serial (renewal looks certificates up by hash)
 *   issued:exp     sorted set serial by notAfter (ms): expired entries are pruned at every issue
 *                  and every minute, at most PRUNE_BATCH per call, so the index stays bounded
 *   revoked        hash serial → { reason, revokedAt } (HSETNX: the first revocation stays)
 *   revoked:v      the list's version, INCR'd by every change, PUBLISHed on `revoked:events`
 *
 * Every change is one Lua script, so it is atomic across replicas: a token is spent together with the
 * record of the certificate it bought, or not at all. Replicas learn a new revocation from pub/sub at
 * once and, as a safety net (a subscriber reconnecting misses messages), from a poll of `revoked:v`
 * every `pollIntervalMs`. While Redis can't be reached every call throws CA_UNAVAILABLE (the CA signs
 * nothing it can't record) and the revocation list stays as last read; when it answers again the list
 * is re-read. A Redis that lost its data (restarted without persistence, flushed) while this replica
 * knew revocations gets them written back (revocations are only ever added).
 *
 * Like the counter store: a bounded command timeout, no offline queue, no replay of unanswered commands.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Clock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import { systemScheduler, type Scheduler, type TimerHandle } from '../core/scheduler.js';
import { RevocationList, TOKEN_KEEP_AFTER_EXP_MS } from './state.js';
import type { CaStateStore, IssuedRecord, RevokedRecord, RevokeOutcome, SpentToken } from './state.js';

/** `Retry-After` of a CA_UNAVAILABLE answer, seconds: about the reconnect backoff's cap. */
export const CA_RETRY_AFTER_SEC = 2;
/** Most expired index entries one call removes (bounds a script's run time). */
export const PRUNE_BATCH = 1000;
/** How often a replica prunes the index besides each issue. */
export const PRUNE_INTERVAL_MS = 60_000;
const MAX_RECONNECT_DELAY_MS = 2000;

const PRUNE_FN = `
local function prune(now, limit)
  local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)
  for _, s in ipairs(old) do
    local rec = redis.call('HGET', KEYS[1], s)
    if rec then
      local ok, r = pcall(cjson.decode, rec)
      if ok and type(r) == 'table' and type(r.certHash) == 'string' and redis.call('HGET', KEYS[2], r.certHash) == s then
        redis.call('HDEL', KEYS[2], r.certHash)
      end
      redis.call('HDEL', KEYS[1], s)
    end
    redis.call('ZREM', KEYS[3], s)
  end
  return #old
end
`;

// KEYS: issued, issued:hash, issued:exp [, token]; ARGV: serial, hash, record, notAfterMs, nowMs, batch [, tokenTtlMs]
const ISSUE_LUA = `${PRUNE_FN}
if #KEYS == 4 then
  if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[7]) then return 0 end
end
prune(ARGV[5], ARGV[6])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1
`;

// KEYS: issued, issued:hash, issued:exp; ARGV: nowMs, batch
const PRUNE_LUA = `${PRUNE_FN}
return prune(ARGV[1], ARGV[2])
`;

// KEYS: issued:hash, issued, issued:exp; ARGV: hash, nowMs
const FIND_LUA = `
local s = redis.call('HGET', KEYS[1], ARGV[1])
if not s then return false end
local exp = redis.call('ZSCORE', KEYS[3], s)
if not exp or tonumber(exp) <= tonumber(ARGV[2]) then return false end
return redis.call('HGET', KEYS[2], s)
`;

// KEYS: revoked, revoked:v, issued; ARGV: channel, n, (serial, entry) × n → (added, known) × n
const REVOKE_LUA = `
local out = {}
local added = 0
for i = 0, tonumber(ARGV[2]) - 1 do
  local serial = ARGV[3 + i * 2]
  local fresh = redis.call('HSETNX', KEYS[1], serial, ARGV[4 + i * 2])
  added = added + fresh
  out[#out + 1] = fresh
  out[#out + 1] = redis.call('HEXISTS', KEYS[3], serial)
end
if added > 0 then
  local v = redis.call('INCR', KEYS[2])
  redis.call('PUBLISH', ARGV[1], v)
end
return out
`;

// KEYS: revoked:v, revoked → { version or '', flat hash }
const READ_LUA = `
return { redis.call('GET', KEYS[1]) or '', redis.call('HGETALL', KEYS[2]) }
`;

interface Script {
  readonly lua: string;
  readonly sha: string;
}
const script = (lua: string): Script => ({ lua, sha: createHash('sha1').update(lua).digest('hex') });
const ISSUE = script(ISSUE_LUA);
const PRUNE = script(PRUNE_LUA);
const FIND = script(FIND_LUA);
const REVOKE = script(REVOKE_LUA);
const READ = script(READ_LUA);

/** What made the revocation list change. */
export type RevocationSource = 'open' | 'reload' | 'subscribe' | 'pubsub' | 'poll' | 'write' | 'repair';

export interface RedisCaStateOptions {
  /** redis://[user:pass@]host:port[/db] */
  readonly url: string;
  /** Prefix of every key and channel, e.g. "tollgate:ca:tollgate.local:". */
  readonly keyPrefix: string;
  /** Longest wait for one answer, ms. */
  readonly commandTimeoutMs: number;
  /** Period of the revocation-list version check under pub/sub, ms. */
  readonly pollIntervalMs: number;
  readonly clock: Clock;
  /** Timers of the poll (default: real, unref'd). */
  readonly scheduler?: Scheduler;
  /** Redis became unreachable (`up` false, with the cause) or answers again. */
  onAvailability?(up: boolean, cause?: Error): void;
  /** The revocation list as read now has a different number of entries than before. */
  onRevocations?(change: { readonly count: number; readonly previous: number; readonly source: RevocationSource }): void;
  /** Connection-level errors (ioredis 'error' events, repeated on every reconnect attempt). */
  onConnectionError?(err: Error): void;
}

function unavailable(cause: unknown): GatewayError {
  return new GatewayError('CA_UNAVAILABLE', 'The CA cannot sign right now: its shared state is unreachable; retry shortly', {
    cause,
    headers: { 'retry-after': String(CA_RETRY_AFTER_SEC) },
  });
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

function parseRevocations(flat: readonly string[]): RevokedRecord[] {
  const out: RevokedRecord[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const serial = flat[i] as string;
    try {
      const e = JSON.parse(flat[i + 1] as string) as { reason?: unknown; revokedAt?: unknown };
      out.push({ serial, reason: typeof e.reason === 'string' ? e.reason : 'unspecified', revokedAt: typeof e.revokedAt === 'string' ? e.revokedAt : '' });
    } catch {
      // A garbled entry still revokes its serial.
      out.push({ serial, reason: 'unspecified', revokedAt: '' });
    }
  }
  // Oldest first, as the file list is.
  return out.sort((a, b) => (a.revokedAt < b.revokedAt ? -1 : a.revokedAt > b.revokedAt ? 1 : 0));
}

/** The CA state in Redis. Connects in the background; `open()` waits (bounded) for the first answer. */
export class RedisCaState implements CaStateStore {
  readonly kind = 'redis' as const;
  readonly #opts: RedisCaStateOptions;
  readonly #client: Redis;
  readonly #sub: Redis;
  readonly #keys: {
    readonly issued: string;
    readonly byHash: string;
    readonly expiry: string;
    readonly revoked: string;
    readonly version: string;
    readonly channel: string;
  };
  readonly #list = new RevocationList();
  readonly #scheduler: Scheduler;
  readonly #connectTimeoutMs: number;
  /** The version the list was read at; undefined until a read succeeded (or after an outage). */
  #version: number | undefined;
  #up = true;
  #opened = false;
  #closed = false;
  #timer: TimerHandle | undefined;
  #lastPruneMs = 0;
  #refreshing: Promise<void> | undefined;
  #again: RevocationSource | undefined;
  #subscribed = false;

  constructor(opts: RedisCaStateOptions) {
    this.#opts = opts;
    const p = opts.keyPrefix;
    this.#keys = {
      issued: `${p}issued`,
      byHash: `${p}issued:hash`,
      expiry: `${p}issued:exp`,
      revoked: `${p}revoked`,
      version: `${p}revoked:v`,
      channel: `${p}revoked:events`,
    };
    this.#scheduler = opts.scheduler ?? systemScheduler;
    this.#connectTimeoutMs = Math.max(1000, opts.commandTimeoutMs * 10);
    const common = {
      connectTimeout: this.#connectTimeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), MAX_RECONNECT_DELAY_MS),
    };
    this.#client = new Redis(opts.url, { ...common, commandTimeout: opts.commandTimeoutMs });
    // The subscriber subscribes itself on every (re)connect and then re-reads the list, so a message
    // missed while it was away is made up for at once.
    this.#sub = new Redis(opts.url, { ...common, autoResubscribe: false });
    // An 'error' event without a listener would crash the process.
    const onError = (err: Error): void => opts.onConnectionError?.(err);
    this.#client.on('error', onError);
    this.#sub.on('error', onError);
    this.#sub.on('ready', () => {
      this.#sub.subscribe(this.#keys.channel).then(
        () => {
          this.#subscribed = true;
          this.#background('subscribe');
        },
        () => undefined,
      );
    });
    this.#sub.on('close', () => {
      this.#subscribed = false;
    });
    this.#sub.on('message', () => this.#background('pubsub'));
  }

  async open(): Promise<void> {
    if (this.#opened) return;
    this.#opened = true;
    await this.#ready();
    try {
      await this.#read('open');
    } catch {
      /* reported through onAvailability; the poll reads it once Redis answers */
    }
    this.#schedule();
  }

  async tokenUsed(jti: string): Promise<boolean> {
    return (await this.#run(() => this.#client.exists(this.#tokenKey(jti)))) === 1;
  }

  async consumeToken(token: SpentToken, nowMs: number): Promise<void> {
    const set = await this.#run(() => this.#client.set(this.#tokenKey(token.jti), '1', 'PX', tokenTtl(token, nowMs), 'NX'));
    if (set === null) throw reused();
  }

  async recordIssued(record: IssuedRecord, nowMs: number, token?: SpentToken): Promise<void> {
    const k = this.#keys;
    const keys = [k.issued, k.byHash, k.expiry];
    const args = [record.serial, record.certHash, JSON.stringify(record), String(Date.parse(record.notAfter)), String(nowMs), String(PRUNE_BATCH)];
    if (token !== undefined) {
      keys.push(this.#tokenKey(token.jti));
      args.push(String(tokenTtl(token, nowMs)));
    }
    if ((await this.#eval(ISSUE, keys, args)) !== 1) throw reused();
  }

  async findIssuedByHash(certHash: string): Promise<IssuedRecord | undefined> {
    const k = this.#keys;
    const json = await this.#eval(FIND, [k.byHash, k.issued, k.expiry], [certHash, String(this.#opts.clock.now())]);
    return typeof json === 'string' ? (JSON.parse(json) as IssuedRecord) : undefined;
  }

  async listIssued(nowMs: number): Promise<IssuedRecord[]> {
    const values = await this.#run(() => this.#client.hvals(this.#keys.issued));
    return values
      .map((v) => JSON.parse(v) as IssuedRecord)
      .filter((r) => Date.parse(r.notAfter) > nowMs)
      .sort((a, b) => (a.notBefore < b.notBefore ? -1 : a.notBefore > b.notBefore ? 1 : 0));
  }

  /** Removes index entries expired at `nowMs` (at most PRUNE_BATCH); returns how many. */
  async prune(nowMs: number): Promise<number> {
    const k = this.#keys;
    return (await this.#eval(PRUNE, [k.issued, k.byHash, k.expiry], [String(nowMs), String(PRUNE_BATCH)])) as number;
  }

  /** Entries in the issued index (expired ones not yet pruned included). */
  async indexSize(): Promise<number> {
    return this.#run(() => this.#client.zcard(this.#keys.expiry));
  }

  async revoke(entries: readonly RevokedRecord[]): Promise<RevokeOutcome[]> {
    const flags = await this.#write(entries);
    await this.#read('write').catch(() => undefined);
    return entries.map((_, i) => ({ alreadyRevoked: flags[2 * i] !== 1, known: flags[2 * i + 1] === 1 }));
  }

  async refresh(): Promise<void> {
    await this.#read('reload');
  }

  revocations(): readonly RevokedRecord[] {
    return this.#list.records;
  }

  isRevoked(serialHex: string): boolean {
    return this.#list.has(serialHex);
  }

  /** The subscriber listens for revocation messages now. */
  get subscribed(): boolean {
    return this.#subscribed;
  }

  /** Connected and answering, as last seen. */
  get available(): boolean {
    return this.#up && this.#client.status === 'ready';
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    await Promise.all(
      [this.#client, this.#sub].map(async (c) => {
        try {
          await c.quit();
        } catch {
          c.disconnect();
        }
      }),
    );
  }

  #tokenKey(jti: string): string {
    return `${this.#opts.keyPrefix}token:${jti}`;
  }

  async #write(entries: readonly RevokedRecord[]): Promise<number[]> {
    const k = this.#keys;
    const args = [k.channel, String(entries.length)];
    for (const e of entries) args.push(e.serial, JSON.stringify({ reason: e.reason, revokedAt: e.revokedAt }));
    return (await this.#eval(REVOKE, [k.revoked, k.version, k.issued], args)) as number[];
  }

  /** Reads version and list together (one script) and puts the list in force. */
  async #read(source: RevocationSource): Promise<void> {
    const k = this.#keys;
    const [raw, flat] = (await this.#eval(READ, [k.version, k.revoked], [])) as [string, string[]];
    const previous = this.#list.size;
    if (raw === '') {
      if (previous > 0) {
        // Redis lost the list while this replica knew it: write it back, then read what is there now.
        await this.#write(this.#list.records);
        this.#version = undefined;
        await this.#read('repair');
        return;
      }
      this.#version = 0;
    } else {
      // Applied even when older than the list held (two reads crossing, or a Redis that lost its data
      // and was repaired by another replica): the next poll sees the version differ and reads again.
      this.#version = Number(raw);
    }
    this.#list.set(parseRevocations(flat));
    if (this.#list.size !== previous) this.#opts.onRevocations?.({ count: this.#list.size, previous, source });
  }

  /** A re-read in the background (pub/sub, poll): coalesced, never rejects. */
  #background(source: RevocationSource): void {
    if (this.#closed) return;
    if (this.#refreshing !== undefined) {
      this.#again = source;
      return;
    }
    this.#refreshing = (async () => {
      let next: RevocationSource | undefined = source;
      while (next !== undefined && !this.#closed) {
        this.#again = undefined;
        try {
          await this.#read(next);
        } catch {
          /* reported through onAvailability */
        }
        next = this.#again;
      }
    })().finally(() => {
      this.#refreshing = undefined;
    });
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = this.#scheduler.after(this.#opts.pollIntervalMs, () => {
      void this.#poll().finally(() => this.#schedule());
    });
  }

  async #poll(): Promise<void> {
    try {
      const raw = await this.#run(() => this.#client.get(this.#keys.version));
      const version = raw === null ? 0 : Number(raw);
      // Never read, changed, or missing while this replica knows entries (data lost): read it all.
      if (this.#version === undefined || version !== this.#version || (raw === null && this.#list.size > 0)) this.#background('poll');
      const now = this.#opts.clock.now();
      if (now - this.#lastPruneMs >= PRUNE_INTERVAL_MS) {
        this.#lastPruneMs = now;
        await this.prune(now);
      }
    } catch {
      /* reported through onAvailability */
    }
  }

  /** Resolves when the client is ready, its first attempt failed, or after the connect timeout (never rejects). */
  async #ready(): Promise<void> {
    if (this.#client.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#client.off('ready', done);
        this.#client.off('error', done);
        resolve();
      };
      const timer = setTimeout(done, this.#connectTimeoutMs);
      timer.unref();
      this.#client.once('ready', done);
      this.#client.once('error', done);
    });
  }

  async #eval(s: Script, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#run(async () => {
      try {
        return await this.#client.evalsha(s.sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!isNoScript(err)) throw err;
      }
      // First use on this server (or after a restart): send the body once.
      return this.#client.eval(s.lua, keys.length, ...keys, ...args);
    });
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await command();
    } catch (err) {
      this.#down(err instanceof Error ? err : new Error(String(err)));
      throw unavailable(err);
    }
    if (!this.#up) {
      this.#up = true;
      this.#opts.onAvailability?.(true);
      // Anything may have changed meanwhile.
      this.#version = undefined;
      this.#background('poll');
    }
    return result;
  }

  #down(err: Error): void {
    if (!this.#up) return;
    this.#up = false;
    this.#opts.onAvailability?.(false, err);
  }
}

function tokenTtl(token: SpentToken, nowMs: number): number {
  return Math.max(1, Math.ceil(token.expMs - nowMs + TOKEN_KEEP_AFTER_EXP_MS));
}

const reused = (): GatewayError => new GatewayError('TOKEN_REUSED', 'This token has already been used');

/** Creates the Redis CA state; call `open()` before use. */
export function createRedisCaState(opts: RedisCaStateOptions): RedisCaState {
  return new RedisCaState(opts);
}
