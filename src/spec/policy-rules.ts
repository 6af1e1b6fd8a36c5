/**
 * Checks the schema runs on header policies, CORS origins and rewrite patterns (issue 16). spec/ may
 * import only core/, so the lists live here; src/http/header-policy.test.ts checks they cover the
 * data path's own (IDENTITY_HEADERS; the hop-by-hop list is core/hop-by-hop.ts, shared).
 */

import { HOP_BY_HOP } from '../core/hop-by-hop.js';

export type HeaderDirection = 'request' | 'response';

/** Hop-by-hop and framing names (core/hop-by-hop.ts, plus content-length) and the request id. */
const ALWAYS_PROTECTED: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'content-length', 'x-request-id']);
/** Request names the gateway sets itself (http/request-headers.ts IDENTITY_HEADERS and its own). */
const REQUEST_PROTECTED: ReadonlySet<string> = new Set([
  'forwarded',
  'x-real-ip',
  'client-cert',
  'client-cert-chain',
  'x-client-cert',
  'x-client-ip',
  'true-client-ip',
  'traceparent',
  'expect',
]);
const REQUEST_PROTECTED_PREFIXES = ['x-forwarded-', 'x-ssl-client-', 'x-envoy-'] as const;

/** RFC 9110 §5.6.2 token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Why a policy may not name `name` in `direction` (undefined when it may); the schema reports it at
 * the key's YAML path.
 */
export function protectedHeaderReason(name: string, direction: HeaderDirection): string | undefined {
  if (!TOKEN.test(name)) return 'expected a header name (RFC 9110 token)';
  const lower = name.toLowerCase();
  if (ALWAYS_PROTECTED.has(lower) || lower.startsWith('proxy-')) return `"${lower}" is set by the gateway or the connection; a policy cannot change it`;
  if (direction === 'request') {
    if (lower === 'host') return '"host" cannot be set by a header policy; use hostRewrite';
    if (REQUEST_PROTECTED.has(lower) || REQUEST_PROTECTED_PREFIXES.some((p) => lower.startsWith(p))) {
      return `"${lower}" is an identity header only the gateway sets; a policy cannot change it`;
    }
  }
  return undefined;
}

/** Why a header value may not be used (undefined when it may): no CR, LF or NUL (RFC 9110 §5.5). */
export function badHeaderValueReason(value: string): string | undefined {
  return /[\r\n\0]/.test(value) ? 'a header value may not contain CR, LF or NUL' : undefined;
}

/** Why an origin entry is invalid (undefined when it is fine); for config validation. */
export function badOriginReason(origin: string): string | undefined {
  if (origin === '*') return undefined;
  const m = /^(https?):\/\/(\*\.)?([A-Za-z0-9.-]+)(:\d{1,5})?$/.exec(origin);
  if (m === null) return 'expected an origin like https://app.example.com, https://*.example.com or *';
  return undefined;
}


/**
 * Why a rewrite pattern is refused (undefined when accepted): the RE2 subset that runs in linear
 * time is approximated cheaply. Refused: backreferences and lookaround (RE2 has neither), and a
 * quantified group that itself contains a quantifier or an alternation (`(a+)+`, `(a|aa)*`, the shapes
 * of catastrophic backtracking). Anything the check misses still runs on a path bounded by
 * `limits.maxRequestTargetBytes`.
 */
export function unsafePatternReason(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
  } catch (err) {
    return `expected a valid regular expression (${(err as Error).message})`;
  }
  if (/\\[1-9]|\\k</.test(pattern)) return 'backreferences are not allowed (RE2 syntax)';
  if (/\(\?<?[=!]/.test(pattern)) return 'lookahead and lookbehind are not allowed (RE2 syntax)';
  // Walk groups: does a group holding a quantifier or "|" get a quantifier itself?
  const stack: { inner: boolean }[] = [];
  let lastGroupInner = false;
  let prevWasGroupEnd = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\') {
      i++;
      prevWasGroupEnd = false;
      continue;
    }
    if (c === '[') {
      // Skip a character class.
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j += pattern[j] === '\\' ? 2 : 1;
      i = j;
      prevWasGroupEnd = false;
      continue;
    }
    const quant = c === '*' || c === '+' || c === '?' || c === '{';
    if (quant) {
      if (c === '?' && pattern[i - 1] === '(') continue; // "(?:" and friends
      if (prevWasGroupEnd && lastGroupInner && c !== '?') return 'a repeated group may not contain a quantifier or "|" (catastrophic backtracking)';
      if (c !== '?' || !prevWasGroupEnd) {
        const top = stack[stack.length - 1];
        if (top !== undefined) top.inner = true;
      }
      prevWasGroupEnd = false;
      continue;
    }
    if (c === '|') {
      const top = stack[stack.length - 1];
      if (top !== undefined) top.inner = true;
    }
    if (c === '(') stack.push({ inner: false });
    if (c === ')') {
      const g = stack.pop();
      lastGroupInner = g?.inner ?? false;
      // A group inside a group propagates what it holds.
      const top = stack[stack.length - 1];
      if (top !== undefined && lastGroupInner) top.inner = true;
      prevWasGroupEnd = true;
      continue;
    }
    prevWasGroupEnd = false;
  }
  return undefined;
}
