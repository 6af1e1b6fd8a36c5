/** What a consistent-hash key may be made of: the request as the pipeline sees it. */
export interface HashKeyContext {
  readonly ip: string;
  readonly identity?: string;
  readonly path: string;
  header(name: string): string | undefined;
  cookie(name: string): string | undefined;
}

/** A compiled `hashBy`: returns the key of one request. */
export type HashKeyFn = (ctx: HashKeyContext) => string;

const byIp: HashKeyFn = (ctx) => ctx.ip;
const byIdentity: HashKeyFn = (ctx) => ctx.identity || ctx.ip;
const byPath: HashKeyFn = (ctx) => ctx.path;

/**
 * Compiles `hashBy` (ip | identity | path | header:NAME | cookie:NAME) once at load. A request without the
 * identity, header or cookie hashes by client IP instead, like `rateLimit.by` falls back: an empty key
 * would send every such client to one target. No `hashBy` means ip.
 */
export function compileHashKey(hashBy: string | undefined): HashKeyFn {
  if (hashBy === undefined || hashBy === 'ip') return byIp;
  if (hashBy === 'identity') return byIdentity;
  if (hashBy === 'path') return byPath;
  if (hashBy.startsWith('header:')) {
    const name = hashBy.slice('header:'.length).toLowerCase();
    return (ctx) => ctx.header(name) || ctx.ip;
  }
  if (hashBy.startsWith('cookie:')) {
    const name = hashBy.slice('cookie:'.length);
    return (ctx) => ctx.cookie(name) || ctx.ip;
  }
  throw new Error(`unknown hashBy "${hashBy}"`);
}

const compiled = new Map<string, HashKeyFn>();

/**
 * The consistent-hash key of one request for `hashBy` (see compileHashKey). Memoises the compiled form
 * per `hashBy` string, so calling it per request costs one map lookup.
 */
export function hashKeyOf(hashBy: string | undefined, ctx: HashKeyContext): string {
  if (hashBy === undefined) return ctx.ip;
  let fn = compiled.get(hashBy);
  if (fn === undefined) {
    fn = compileHashKey(hashBy);
    compiled.set(hashBy, fn);
  }
  return fn(ctx);
}
