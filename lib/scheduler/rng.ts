// Seeded, counter-derived random streams for the scheduler (never Math.random).
//
// Every random decision is drawn from a stream keyed by (seed, purpose, ids): the permutation of task
// "safety" in epoch 3, the tie-breaks and shuffle of batch 17. A stream is a pure function of its key,
// so resuming needs no generator state — only counters — and results do not depend on the order in
// which streams are used.

const U32 = 0x1_0000_0000;

/** FNV-1a over UTF-16 code units: a stable 32-bit id for a string (task names, purposes). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** murmur3's 32-bit finaliser: a bijective avalanche mix. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Splits a safe non-negative integer seed into two 32-bit words. */
export function seedWords(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed: expected a safe integer ≥ 0, got ${String(seed)}`);
  return [seed % U32 >>> 0, Math.floor(seed / U32) >>> 0];
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, PractRand-clean): 128-bit state,
 * seeded from a key of 32-bit words through fmix32 so nearby keys give unrelated streams.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(key: readonly number[]) {
    let h = 0x9e3779b9;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      for (const k of key) h = fmix32((h ^ (k >>> 0)) + 0x6a09e667 + i);
      words.push(h);
    }
    [this.a, this.b, this.c, this.d] = words as [number, number, number, number];
    for (let i = 0; i < 12; i++) this.nextU32(); // discard the first outputs, as sfc32 recommends
  }

  nextU32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n) (bias ≤ n/2^53). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }
}

/** The stream for (seed, purpose, ...ids). */
export function streamFor(seed: number, purpose: string, ...ids: number[]): Rng {
  const [lo, hi] = seedWords(seed);
  return new Rng([lo, hi, hashString(purpose), ...ids.map((x) => x >>> 0), ids.length]);
}

/** A random permutation of 0..n−1 (n < 2^31). */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
