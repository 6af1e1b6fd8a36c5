/** x-request-id (SPEC §3): keep the client's when it is safe to log and echo, else make one. */
import type { Random } from '../core/random.js';

const MAX_LENGTH = 128;

/** Allowed characters of a client request id: A-Z a-z 0-9 . _ : - */
const ALLOWED = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) ALLOWED[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) ALLOWED[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) ALLOWED[c] = 1;
for (const c of '._:-') ALLOWED[c.charCodeAt(0)] = 1;

/**
 * Returns `value` unchanged when it matches ^[A-Za-z0-9._:-]{1,128}$, else undefined
 * (the caller then makes a new id). No regex, no allocation.
 */
export function acceptRequestId(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const n = value.length;
  if (n === 0 || n > MAX_LENGTH) return undefined;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c >= 128 || ALLOWED[c] !== 1) return undefined;
  }
  return value;
}

/** A new request id: 32 lowercase hex characters (128 random bits), which `acceptRequestId` accepts. */
export function newRequestId(random: Random): string {
  return random.hex(16);
}
