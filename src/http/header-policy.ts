/**
 * Header policy (issue 16): `headers: { request | response: { set, add, remove } }`, global and per route.
 *
 * A policy is a sequence of operations on a header multimap: `remove` drops every value of a name,
 * `set` replaces them with one, `add` appends one. Global runs first, then the route; inside one
 * level, remove → set → add. Whatever the sequence, its result is: for some names the original
 * values go (removed or set), then a fixed list of values is appended. That is what is compiled, once
 * per snapshot (`drop` + `append`), so applying a policy costs a Set lookup per header and a push per
 * appended value.
 *
 * Names the gateway owns cannot be touched by a policy (config validation refuses them with their
 * YAML path, `protectedHeaderReason` in spec/policy-rules.ts): the identity and address headers it sets itself (a policy
 * that removed or set them would let a client, or a config typo, forge what an upstream trusts),
 * x-request-id, Host (use `hostRewrite`), and the framing and hop-by-hop headers.
 */

export interface HeaderOpsSpec {
  readonly set?: Readonly<Record<string, string>> | undefined;
  readonly add?: Readonly<Record<string, string | readonly string[]>> | undefined;
  readonly remove?: readonly string[] | undefined;
}

/** The compiled result of a sequence of header operations. */
export interface CompiledHeaderOps {
  /** Lower-case names whose original values are dropped. */
  readonly drop: ReadonlySet<string>;
  /** Flat [name, value, …] appended afterwards (lower-case names). */
  readonly append: readonly string[];
}

/**
 * Folds the levels (global first, then the route) into one drop set and append list; undefined when
 * they change nothing, so the data path skips a route without policy at the cost of one comparison.
 */
export function compileHeaderOps(levels: readonly (HeaderOpsSpec | undefined)[]): CompiledHeaderOps | undefined {
  const drop = new Set<string>();
  // Per name: the values appended after the last remove/set of that name, in order.
  const values = new Map<string, string[]>();
  const order: string[] = [];
  const touch = (lower: string): string[] => {
    let list = values.get(lower);
    if (list === undefined) {
      values.set(lower, (list = []));
      order.push(lower);
    }
    return list;
  };
  let any = false;
  for (const level of levels) {
    if (level === undefined) continue;
    for (const name of level.remove ?? []) {
      const lower = name.toLowerCase();
      drop.add(lower);
      touch(lower).length = 0;
      any = true;
    }
    for (const [name, value] of Object.entries(level.set ?? {})) {
      const lower = name.toLowerCase();
      drop.add(lower);
      const list = touch(lower);
      list.length = 0;
      list.push(value);
      any = true;
    }
    for (const [name, value] of Object.entries(level.add ?? {})) {
      const list = touch(name.toLowerCase());
      if (typeof value === 'string') list.push(value);
      else list.push(...value);
      any = true;
    }
  }
  if (!any) return undefined;
  const append: string[] = [];
  for (const name of order) for (const v of values.get(name) ?? []) append.push(name, v);
  return Object.freeze({ drop, append: Object.freeze(append) });
}

/**
 * Applies ops to a flat [name, value, …] request list in place (names compared lower-cased) and
 * returns it. Used before the gateway appends its own headers, which the ops can never name.
 */
export function applyToList(list: string[], ops: CompiledHeaderOps): string[] {
  if (ops.drop.size > 0) {
    let w = 0;
    for (let r = 0; r < list.length; r += 2) {
      const name = list[r] as string;
      if (ops.drop.has(name.toLowerCase())) continue;
      list[w++] = name;
      list[w++] = list[r + 1] as string;
    }
    list.length = w;
  }
  for (let i = 0; i < ops.append.length; i++) list.push(ops.append[i] as string);
  return list;
}

/** Applies ops to a response header record with lower-case keys, in place. */
export function applyToRecord(headers: Record<string, string | string[]>, ops: CompiledHeaderOps): void {
  for (const name of ops.drop) delete headers[name];
  const a = ops.append;
  for (let i = 0; i < a.length; i += 2) appendHeader(headers, a[i] as string, a[i + 1] as string);
}

/** Appends one value to a header record (a second value makes an array). */
export function appendHeader(headers: Record<string, string | string[]>, name: string, value: string): void {
  const prev = headers[name];
  if (prev === undefined) headers[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else headers[name] = [prev, value];
}

/** Adds `token` to a Vary header in the record unless it is already listed (or `*`). */
export function addVary(headers: Record<string, string | string[]>, token: string): void {
  const prev = headers.vary;
  if (prev === undefined) {
    headers.vary = token;
    return;
  }
  const joined = Array.isArray(prev) ? prev.join(', ') : prev;
  const lower = token.toLowerCase();
  for (const t of joined.split(',')) {
    const v = t.trim().toLowerCase();
    if (v === lower || v === '*') return;
  }
  headers.vary = joined === '' ? token : `${joined}, ${token}`;
}
