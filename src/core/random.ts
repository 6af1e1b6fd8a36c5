import { randomBytes } from 'node:crypto';

/** Randomness as the gateway sees it. Injected so tests can make it repeatable. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** `n` random bytes as lowercase hex. */
  hex(bytes: number): string;
}

const HEX_POOL_BYTES = 4096;
let pool = randomBytes(HEX_POOL_BYTES);
let poolOffset = 0;

function takeBytes(n: number): Buffer {
  if (poolOffset + n > pool.length) {
    pool = randomBytes(HEX_POOL_BYTES);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

export const systemRandom: Random = Object.freeze({
  next: () => Math.random(),
  // Pooled: request ids and trace ids are made on every request; one randomBytes call per 4 KiB.
  hex: (bytes: number) => takeBytes(bytes).toString('hex'),
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
