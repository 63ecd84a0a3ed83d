// Seeded pseudo-random numbers for the data generator: xoshiro128** streams keyed by a 128-bit hash
// of (seed, purpose, split, task, index). Every example draws from its own stream, so example i of a
// split is the same whatever the requested sizes are, and nothing depends on Math.random.

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
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | undefined;
  private readonly keys: readonly StreamKey[];

  private constructor(state: [number, number, number, number], keys: readonly StreamKey[]) {
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
  int(n: number): number {
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

  /** Fisher–Yates shuffle in place; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }

  /** k distinct elements in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    return this.shuffle(items.slice()).slice(0, k);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

