/**
 * W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/ §3.2): continue the caller's
 * trace with a new span id for our hop, or start a new trace.
 */
import type { Random } from '../core/random.js';

const VERSION_00_LENGTH = 55; // "00-" + 32 + "-" + 16 + "-" + 2
const DASH = 0x2d;

function isLowerHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
}

/** True when value[from, from+len) is lowercase hex and, if `nonZero`, not all "0". */
function hexField(value: string, from: number, len: number): boolean {
  let nonZero = false;
  for (let i = from; i < from + len; i++) {
    const c = value.charCodeAt(i);
    if (!isLowerHex(c)) return false;
    if (c !== 0x30) nonZero = true;
  }
  return nonZero;
}

function lowerHexPair(value: string, from: number): boolean {
  return isLowerHex(value.charCodeAt(from)) && isLowerHex(value.charCodeAt(from + 1));
}

const ZERO_16 = '0'.repeat(16);
const ZERO_32 = '0'.repeat(32);

/** 8 or 16 random bytes as hex, never all zeros (the invalid id; at 64+ bits practically never drawn). */
export function nonZeroHex(random: Random, bytes: 8 | 16): string {
  const zero = bytes === 8 ? ZERO_16 : ZERO_32;
  for (;;) {
    const hex = random.hex(bytes);
    if (hex !== zero) return hex;
  }
}

/**
 * Returns the `traceparent` to send upstream. A valid incoming value (version 00, or a later version
 * other than ff whose first 55 characters parse as 00 — the spec's forward-compatibility rule; lowercase
 * hex only; non-zero trace-id and parent-id) keeps its trace-id and flags and gets a new parent-id (our
 * span). Anything else starts a new, sampled trace: `00-<new trace-id>-<new span id>-01`.
 */
export function continueTraceparent(value: string | undefined, random: Random): string {
  if (value !== undefined && isValid(value)) {
    return `00-${value.slice(3, 35)}-${nonZeroHex(random, 8)}-${value.slice(53, 55)}`;
  }
  // A new trace: trace-id and span id from one 24-byte draw (one native hex call, not two).
  for (;;) {
    const hex = random.hex(24);
    const traceId = hex.slice(0, 32);
    const spanId = hex.slice(32);
    if (traceId !== ZERO_32 && spanId !== ZERO_16) return '00-' + traceId + '-' + spanId + '-01';
  }
}

/** The fields of a valid incoming `traceparent` (the rules of `continueTraceparent`), else undefined. */
export function parseTraceparent(value: string): { traceId: string; parentId: string; flags: number; flagsHex: string } | undefined {
  if (!isValid(value)) return undefined;
  const flagsHex = value.slice(53, 55);
  return { traceId: value.slice(3, 35), parentId: value.slice(36, 52), flags: parseInt(flagsHex, 16), flagsHex };
}

function isValid(v: string): boolean {
  const n = v.length;
  if (n < VERSION_00_LENGTH) return false;
  if (!lowerHexPair(v, 0)) return false;
  const v0 = v.charCodeAt(0);
  const v1 = v.charCodeAt(1);
  if (v0 === 0x66 && v1 === 0x66) return false; // "ff" is forbidden
  // Version 00 is exactly 55 characters; a later version may append fields after another "-".
  if (v0 === 0x30 && v1 === 0x30 ? n !== VERSION_00_LENGTH : n > VERSION_00_LENGTH && v.charCodeAt(VERSION_00_LENGTH) !== DASH) return false;
  return (
    v.charCodeAt(2) === DASH &&
    hexField(v, 3, 32) &&
    v.charCodeAt(35) === DASH &&
    hexField(v, 36, 16) &&
    v.charCodeAt(52) === DASH &&
    lowerHexPair(v, 53)
  );
}
