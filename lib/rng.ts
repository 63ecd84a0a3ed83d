// Seeded pseudo-random numbers for everything in JS (never Math.random). Two generators, each kept
// bit for bit because what they drew is pinned by tests and by saved runs:
// - `Rng` (xoshiro128**, streams keyed by a 128-bit cyrb128 hash of (seed, purpose, split, task,
//   index)) for the data generators: every example draws from its own stream, so example i of a split
//   is the same whatever the requested sizes are.
// - `CounterRng` (sfc32 keyed by 32-bit words through fmix32) for the multi-task scheduler: a stream is
//   a pure function of its key (seed, purpose, ids), so resuming needs only counters, and results do
//   not depend on the order in which streams are used.
// Both share the helpers built on a uniform integer draw (Fisher–Yates shuffle).

const U32 = 0x1_0000_0000;

/** What every generator here offers: a uniform integer in [0, n), and what is built on it. */
export abstract class RandomStream {
  /** Uniform integer in [0, n). */
  abstract int(n: number): number;

  /** Fisher–Yates shuffle in place (from the last element down); returns the array. */
  shuffle<A extends { length: number; [i: number]: unknown }>(items: A): A {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }
}

// ---------------------------------------------------------------------------------------------
// Data generators: xoshiro128** keyed by a string hash.


/** A seed as users give it: a non-negative integer or any string. */
export type Seed = number | string;

/** Keys that name a stream: the user's seed followed by purposes, split names, indices... */
export type StreamKey = number | string;

/**
 * cyrb128: a small, well-mixed 128-bit string hash (four 32-bit lanes). Used only to turn stream keys
 * into generator states, so speed and avalanche matter more than cryptographic strength.
 */
function cyrb128(str: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < str.length; i++) {
    const k = str.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** The canonical text of a key list; the type tag keeps 1 and "1" apart. */
function keyString(keys: readonly StreamKey[]): string {
  return keys.map((k) => (typeof k === 'number' ? `n${k}` : `s${k}`)).join('\u001f');
}

/** Checks a user seed: a finite non-negative integer (safe range) or a string. */
export function checkSeed(seed: unknown, fn: string): Seed {
  if (typeof seed === 'string') return seed;
  if (typeof seed !== 'number') throw new TypeError(`${fn}: seed must be a non-negative integer or a string, got ${typeof seed}`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`${fn}: seed must be a non-negative safe integer, got ${seed}`);
  return seed;
}

/** xoshiro128**: 128-bit state, 32-bit outputs, period 2^128 − 1. Fast with Math.imul in JS. */
export class Rng extends RandomStream {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | undefined;
  private readonly keys: readonly StreamKey[];

  private constructor(state: [number, number, number, number], keys: readonly StreamKey[]) {
    super();
    [this.s0, this.s1, this.s2, this.s3] = state;
    // The all-zero state is the one fixed point of xoshiro; a hash hitting it is astronomically
    // unlikely, but the guard costs nothing.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 0x9e3779b9;
    this.keys = keys;
  }

  /** A stream named by keys; the same keys always give the same stream. */
  static from(...keys: StreamKey[]): Rng {
    return new Rng(cyrb128(keyString(keys)), keys.slice());
  }

  /** An independent child stream: this stream's keys plus more. Does not advance this stream. */
  fork(...keys: StreamKey[]): Rng {
    return Rng.from(...this.keys, ...keys);
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** Uniform integer in [0, n), unbiased (rejection on the top partial block). */
  override int(n: number): number {
    if (!(n >= 1) || !Number.isInteger(n) || n > 4294967296) throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    let x = this.u32();
    while (x >= limit) x = this.u32();
    return x % n;
  }

  /** Uniform integer in [lo, hi] (both inclusive). */
  intRange(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  bool(p = 0.5): boolean {
    return this.float() < p;
  }

  /** Standard normal (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = this.float();
    while (u === 0) u = this.float();
    const v = this.float();
    const mag = Math.sqrt(-2 * Math.log(u));
    this.spare = mag * Math.sin(2 * Math.PI * v);
    return mag * Math.cos(2 * Math.PI * v);
  }

  /** One element, uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Rng.pick: cannot pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** One element with probability proportional to its weight. */
  weighted<T>(items: readonly T[], weights: readonly number[]): T {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.float() * total;
    for (let i = 0; i < items.length; i++) {
      x -= weights[i]!;
      if (x < 0) return items[i]!;
    }
    return items[items.length - 1]!;
  }

  /** k distinct elements in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    return this.shuffle(items.slice()).slice(0, k);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// ---------------------------------------------------------------------------------------------
// Scheduler: sfc32 keyed by 32-bit words.

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
export class CounterRng extends RandomStream {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(key: readonly number[]) {
    super();
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
  override int(n: number): number {
    return Math.floor(this.next() * n);
  }

}

/** The stream for (seed, purpose, ...ids). */
export function streamFor(seed: number, purpose: string, ...ids: number[]): CounterRng {
  const [lo, hi] = seedWords(seed);
  return new CounterRng([lo, hi, hashString(purpose), ...ids.map((x) => x >>> 0), ids.length]);
}

/** A random permutation of 0..n−1 (n < 2^31). */
export function permutation(n: number, rng: RandomStream): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return rng.shuffle(p);
}

/**
 * mulberry32: uniform [0, 1) numbers from a 32-bit seed. A tiny generator for synthetic data in tests
 * and benchmarks (one definition for all of them); training and sampling use {@link Rng} and Philox.
 */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
