import { randomBytes } from 'node:crypto';

/** Randomness as the gateway sees it. Injected so tests can make it repeatable. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** `n` random bytes as lowercase hex: unique ids, not secrets. */
  hex(bytes: number): string;
}

/**
 * xoshiro128** seeded from the OS CSPRNG (and reseeded every 2^20 draws). Request ids and W3C trace
 * and span ids need uniqueness, not secrecy, and are made on every request: drawing them from
 * crypto.randomBytes cost about 3 % of a proxied request's CPU. Never use this for secrets (the CA
 * makes its serials, keys and tokens with node:crypto).
 */
function fastIdGenerator(): (bytes: number) => string {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  let left = 0;
  const reseed = (): void => {
    const seed = randomBytes(16);
    a = seed.readUInt32LE(0) | 1;
    b = seed.readUInt32LE(4);
    c = seed.readUInt32LE(8);
    d = seed.readUInt32LE(12);
    left = 1 << 20;
  };
  const next32 = (): number => {
    if (left-- <= 0) reseed();
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  reseed();
  // Words are written into one scratch buffer and turned into hex by a single native call: building
  // the string two digits at a time made a rope that every header write had to flatten.
  const scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
  const words = new Uint32Array(scratch.buffer, scratch.byteOffset, SCRATCH_BYTES / 4);
  return (bytes) => {
    if (bytes > SCRATCH_BYTES) {
      let s = '';
      for (let left = bytes; left > 0; left -= SCRATCH_BYTES) s += fastHexOf(Math.min(left, SCRATCH_BYTES));
      return s;
    }
    return fastHexOf(bytes);
  };
  function fastHexOf(bytes: number): string {
    for (let i = 0; i < bytes; i += 4) words[i >> 2] = next32();
    return scratch.toString('hex', 0, bytes);
  }
}

const SCRATCH_BYTES = 64;

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const fastHex = fastIdGenerator();

export const systemRandom: Random = Object.freeze({
  next: () => Math.random(),
  hex: fastHex,
});

/** A deterministic generator (mulberry32) for tests. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    hex: (bytes: number) => {
      let s = '';
      for (let i = 0; i < bytes; i++) s += Math.floor(next() * 256).toString(16).padStart(2, '0');
      return s;
    },
  };
}
