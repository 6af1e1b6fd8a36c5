/**
 * Which bucket a request counts against (`rateLimit.by` / `quota.by`, SPEC §2).
 * Compiled once per route; the returned function runs per request.
 */
import { createHash } from 'node:crypto';
import { ANONYMOUS, type Identity } from '../core/types.js';

/** What a limit key may look at. */
export interface LimitContext {
  /** The client address (after trusted-proxy handling). */
  readonly ip: string;
  readonly routeName: string;
  readonly identity: Identity;
  /** A request header by lower-case name; the first value when repeated. */
  header(name: string): string | undefined;
}

/** Turns a request into its bucket key. */
export type LimitKeyFn = (ctx: LimitContext) => string;

/**
 * Client-supplied values (headers, claims) can be as long as the header limit allows;
 * beyond this length they are hashed so store keys and memory stay bounded.
 */
const MAX_RAW_VALUE = 128;

function bounded(value: string): string {
  return value.length <= MAX_RAW_VALUE ? value : `#${createHash('sha256').update(value).digest('base64url')}`;
}

/**
 * Every key starts with its kind (`ip:`, `id:`, `hdr:`, `jwt:`, `route`), so an identity
 * or header value can never land in the bucket of an IP address, or the other way round.
 */
const byIp: LimitKeyFn = (ctx) => `ip:${ctx.ip}`;

/**
 * Compiles `by` (ip | identity | route | header:NAME | jwt:CLAIM). `identity` uses the SPIFFE
 * id, `jwt:CLAIM` a string or number claim; both fall back to the client IP when absent.
 * `header:NAME` falls back to the IP too: a client must not escape its limit, nor share one
 * bucket with every other client, by leaving the header out.
 * Throws on a `by` the schema would have refused.
 */
export function compileLimitKey(by: string): LimitKeyFn {
  if (by === 'ip') return byIp;
  if (by === 'route') return () => 'route';
  if (by === 'identity') {
    return (ctx) => {
      const id = ctx.identity.spiffeId;
      return id === undefined || id === '' ? byIp(ctx) : `id:${id}`;
    };
  }
  if (by.startsWith('header:')) {
    const name = by.slice('header:'.length).toLowerCase();
    if (name === '') throw new Error(`invalid limit key "${by}"`);
    return (ctx) => {
      const value = ctx.header(name);
      return value === undefined || value === '' ? byIp(ctx) : `hdr:${bounded(value)}`;
    };
  }
  if (by.startsWith('jwt:')) {
    const claim = by.slice('jwt:'.length);
    if (claim === '') throw new Error(`invalid limit key "${by}"`);
    return (ctx) => {
      const value = ctx.identity.jwtClaims?.[claim];
      if (typeof value === 'string' && value !== '') return `jwt:${bounded(value)}`;
      if (typeof value === 'number' && Number.isFinite(value)) return `jwt:${value}`;
      return byIp(ctx);
    };
  }
  throw new Error(`invalid limit key "${by}"`);
}

/**
 * The whole store key of a limit, `prefix` + the `by` key, compiled once per limit. For `ip`, `identity`
 * and `route` it remembers the last key it built: requests of one connection (one client address, one
 * certificate identity) then reuse one string instead of concatenating two new ones per request, and the
 * store's Map finds a string whose hash V8 has already computed. `header:` and `jwt:` keys are built
 * each time (their values change per request).
 */
export function compileStoreKey(by: string, prefix: string): LimitKeyFn {
  const keyOf = compileLimitKey(by);
  if (by === 'route') {
    const key = prefix + keyOf({ ip: '', routeName: '', identity: ANONYMOUS, header: () => undefined });
    return () => key;
  }
  if (by === 'ip' || by === 'identity') {
    const useIdentity = by === 'identity';
    // Identity keys and IP keys are kept apart (an id `x` and an address `x` are different keys).
    let lastId: string | undefined;
    let lastIp: string | undefined;
    let lastKey = '';
    return (ctx) => {
      const id = useIdentity ? ctx.identity.spiffeId : undefined;
      if (id !== undefined && id !== '') {
        if (id === lastId) return lastKey;
        lastId = id;
        lastIp = undefined;
      } else {
        if (lastId === undefined && ctx.ip === lastIp) return lastKey;
        lastId = undefined;
        lastIp = ctx.ip;
      }
      lastKey = prefix + keyOf(ctx);
      return lastKey;
    };
  }
  return (ctx) => prefix + keyOf(ctx);
}

const KEY_KINDS = /^(ip|id|hdr|jwt):/;

/**
 * The client key `by` would give a request whose key value is `value` (the admin API's
 * `GET /quotas?key=…`): an IP for `ip`, a SPIFFE id (or, as the fallback, an IP) for `identity`, the
 * header value for `header:NAME`, the claim for `jwt:CLAIM`; ignored for `route`. A value that
 * already starts with a key kind (`ip:`, `id:`, `hdr:`, `jwt:`) is taken as the client key itself.
 */
export function limitKeyFor(by: string, value: string): string {
  if (by === 'route') return 'route';
  if (KEY_KINDS.test(value)) return value;
  if (by === 'identity') return value.startsWith('spiffe://') ? `id:${value}` : `ip:${value}`;
  if (by.startsWith('header:')) return `hdr:${bounded(value)}`;
  if (by.startsWith('jwt:')) return `jwt:${bounded(value)}`;
  return `ip:${value}`;
}
