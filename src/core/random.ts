import { randomBytes } from 'node:crypto';

/** Randomness as the gateway sees it. Injected so tests can make it repeatable. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** `n` random bytes as lowercase hex: unique ids, not secrets. */
  hex(bytes: number): string;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

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
  return (bytes) => {
    let s = '';
    for (let i = 0; i < bytes; i += 4) {
      const r = next32();
      s += HEX[r & 0xff]! + HEX[(r >>> 8) & 0xff]! + HEX[(r >>> 16) & 0xff]! + HEX[r >>> 24]!;
    }
    return bytes % 4 === 0 ? s : s.slice(0, bytes * 2);
  };
}

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
