// Token sampling: statistics against a float64 reference of the documented definition (>= 1e5
// draws per case, chi-square bound stated below, zero draws outside the reference mask), logprob
// semantics, determinism (seed/offset, batch composition, SIMD level), fast path vs the sort-based
// reference, edge cases and every bad-input error. CUDA-vs-CPU runs only where a GPU exists.
import { afterAll, describe, expect, it } from 'vitest';
import { cudaAvailable } from '../lib/device.js';
import { gatherLogprobs, logSoftmax, sampleTokens, sampleTokensSortReference, type SampleOptions } from '../lib/kernels/sampling.js';
import { native } from '../lib/native.js';
import { Tensor } from '../lib/tensor.js';
import { mulberry32 } from '../lib/rng.js';

// ---------------------------------------------------------------------------------------------
// Float64 reference of the definition (written from the documentation, not from the native code)

interface RefOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  history?: readonly number[];
}

interface RefResult {
  /** Penalised logits. */
  y: Float64Array;
  /** Kept tokens. */
  mask: Uint8Array;
  /** Final renormalised probabilities (0 outside the mask). */
  probs: Float64Array;
  /** log p under the final distribution (-inf outside the mask). */
  logp: Float64Array;
  /** log_softmax of the raw logits. */
  rawLogp: Float64Array;
  /** Smallest relative gap between a cumulative mass and the top-p threshold (boundary closeness). */
  topPMargin: number;
}

function logSoftmax64(x: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]!);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i]! - m);
  const out = new Float64Array(x.length);
  const ls = Math.log(s);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! - m - ls;
  return out;
}

function referenceDistribution(x: ArrayLike<number>, o: RefOptions = {}): RefResult {
  const V = x.length;
  const T = o.temperature ?? 1;
  const y = Float64Array.from(x as ArrayLike<number>);
  const counts = new Map<number, number>();
  for (const t of o.history ?? []) if (t >= 0) counts.set(t, (counts.get(t) ?? 0) + 1);
  const rep = o.repetitionPenalty ?? 1;
  const pres = o.presencePenalty ?? 0;
  const freq = o.frequencyPenalty ?? 0;
  for (const [t, c] of counts) {
    let v = y[t]!;
    if (rep !== 1) v = v > 0 ? v / rep : v * rep;
    v -= pres + freq * c;
    y[t] = v;
  }
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, y[i]!);
  const order = Array.from({ length: V }, (_, i) => i)
    .filter((i) => y[i]! > -Infinity)
    .sort((a, b) => (y[b]! - y[a]! !== 0 ? y[b]! - y[a]! : a - b));
  const mask = new Uint8Array(V);
  const probs = new Float64Array(V);
  const logp = new Float64Array(V).fill(-Infinity);
  let topPMargin = Infinity;
  if (T === 0) {
    const tok = order[0]!;
    mask[tok] = 1;
    probs[tok] = 1;
    logp[tok] = 0;
  } else {
    const w = new Float64Array(V);
    for (let i = 0; i < V; i++) w[i] = y[i]! > -Infinity ? Math.exp((y[i]! - m) / T) : 0;
    let n = o.topK && o.topK > 0 ? Math.min(o.topK, order.length) : order.length;
    const p = o.topP ?? 1;
    if (p < 1) {
      let total = 0;
      for (let j = 0; j < n; j++) total += w[order[j]!]!;
      let cum = 0;
      let j = 0;
      for (; j < n; j++) {
        topPMargin = Math.min(topPMargin, Math.abs(cum / total - p));
        if (cum >= p * total) break;
        cum += w[order[j]!]!;
      }
      n = j;
    }
    const minP = o.minP ?? 0;
    let z = 0;
    for (let j = 0; j < n; j++) {
      const i = order[j]!;
      if (minP > 0 && w[i]! < minP) continue; // w of the top token is 1, so this is p_i >= minP * p_max
      mask[i] = 1;
      z += w[i]!;
    }
    for (let i = 0; i < V; i++)
      if (mask[i]) {
        probs[i] = w[i]! / z;
        logp[i] = (y[i]! - m) / T - Math.log(z);
      }
  }
  return { y, mask, probs, logp, rawLogp: logSoftmax64(x), topPMargin };
}

// ---------------------------------------------------------------------------------------------
// Helpers

const rand = mulberry32((Math.random() * 2 ** 32) >>> 0);
function randn(): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}
/** A row of logits of one of the statistical families, rounded to f32. */
function makeRow(kind: 'flat' | 'peaked' | 'gumbel', V: number): Float32Array {
  const r = new Float32Array(V);
  for (let i = 0; i < V; i++) {
    if (kind === 'flat') r[i] = 0.05 * randn();
    else if (kind === 'peaked') r[i] = 3 * randn();
    else r[i] = -2 * Math.log(-Math.log(Math.max(rand(), 1e-12)));
  }
  return r;
}
/** B copies of one row as a (B, V) tensor. */
function repeatRows(row: Float32Array, B: number): Tensor {
  const V = row.length;
  const data = new Float32Array(B * V);
  for (let b = 0; b < B; b++) data.set(row, b * V);
  return Tensor.fromArray(data, [B, V]);
}
function rows2d(rows: Float32Array[]): Tensor {
  const V = rows[0]!.length;
  const data = new Float32Array(rows.length * V);
  rows.forEach((r, i) => data.set(r, i * V));
  return Tensor.fromArray(data, [rows.length, V]);
}
const maxErr = (a: number, b: number, atol: number, rtol: number) => Math.abs(a - b) / (atol + rtol * Math.abs(b));

/**
 * Chi-square statistic of `counts` against `probs` (categories with expected count < 5 pooled),
 * and the degrees of freedom. The bound used below, df + 6·sqrt(2·df) + 10, is beyond the
 * 1 − 1e-6 quantile for every df here, so a correct sampler fails it about once in a million runs.
 */
function chiSquare(counts: Float64Array, probs: Float64Array, N: number): { chi2: number; df: number; bound: number; poolOk: boolean } {
  let chi2 = 0;
  let cells = 0;
  let poolE = 0;
  let poolO = 0;
  for (let i = 0; i < probs.length; i++) {
    const e = probs[i]! * N;
    if (e === 0) continue;
    if (e < 5) {
      poolE += e;
      poolO += counts[i]!;
      continue;
    }
    chi2 += (counts[i]! - e) ** 2 / e;
    cells++;
  }
  // A pool too small for the chi-square approximation is checked against a generous Poisson tail.
  let poolOk = true;
  if (poolE >= 5) {
    chi2 += (poolO - poolE) ** 2 / poolE;
    cells++;
  } else {
    poolOk = poolO <= 10 + 4 * poolE;
  }
  const df = Math.max(cells - 1, 1);
  return { chi2, df, bound: df + 6 * Math.sqrt(2 * df) + 10, poolOk };
}

const simdLevels = ['scalar', 'avx2', 'avx512'] as const;
const bestSimd = native().buildInfo().simd as (typeof simdLevels)[number];
afterAll(() => {
  native().setSimdLevel(bestSimd);
});

// ---------------------------------------------------------------------------------------------
describe('sampleTokens statistics (1e5 draws per case vs float64 reference)', () => {
  const N = 100_000;
  const V = 111;
  const history = [3, 3, 7, 20, 20, 20, 50];
  const cases: Array<{ name: string; opts: RefOptions }> = [
    { name: 'plain', opts: {} },
    { name: 'temperature 0.6', opts: { temperature: 0.6 } },
    { name: 'topK 10', opts: { topK: 10 } },
    { name: 'topP 0.8', opts: { topP: 0.8 } },
    { name: 'minP 0.1', opts: { minP: 0.1 } },
    { name: 'topK 40 + topP 0.9 + T 1.3', opts: { topK: 40, topP: 0.9, temperature: 1.3 } },
    { name: 'topK 25 + minP 0.02', opts: { topK: 25, minP: 0.02 } },
    { name: 'penalties + topP 0.95', opts: { repetitionPenalty: 1.3, presencePenalty: 0.4, frequencyPenalty: 0.25, history, topP: 0.95 } },
  ];
  for (const kind of ['flat', 'peaked', 'gumbel'] as const) {
    for (const c of cases) {
      it(`${kind} row, ${c.name}`, () => {
        // Redraw rows whose top-p cut sits within 1e-5 of a cumulative boundary: there float32 and
        // float64 may legitimately disagree about one token, which is not what this test measures.
        let row: Float32Array;
        let ref: RefResult;
        do {
          row = makeRow(kind, V);
          ref = referenceDistribution(row, c.opts);
        } while (ref.topPMargin < 1e-5);
        const logits = repeatRows(row, N);
        const { history: hist, ...rest } = c.opts;
        const opts: SampleOptions = { ...rest, seed: 1 + Math.floor(rand() * 1e9), offset: 17 };
        if (hist) opts.history = Array.from({ length: N }, () => hist);
        const r = sampleTokens(logits, opts);
        logits.dispose();
        const counts = new Float64Array(V);
        let outside = 0;
        let lpErr = 0;
        let rawErr = 0;
        for (let i = 0; i < N; i++) {
          const t = r.tokens[i]!;
          counts[t]!++;
          if (!ref.mask[t]) outside++;
          lpErr = Math.max(lpErr, maxErr(r.logprobs[i]!, ref.logp[t]!, 1e-5, 1e-5));
          rawErr = Math.max(rawErr, maxErr(r.rawLogprobs[i]!, ref.rawLogp[t]!, 1e-5, 1e-5));
        }
        const { chi2, df, bound, poolOk } = chiSquare(counts, ref.probs, N);
        const msg = `chi2 ${chi2.toFixed(1)} (df ${df}, bound ${bound.toFixed(1)}), outside-mask ${outside}, kept ${ref.mask.reduce((a, b) => a + b, 0)}, logprob err ${lpErr.toFixed(3)}, raw err ${rawErr.toFixed(3)} (units of 1e-5 + 1e-5·|ref|)`;
        console.info(`${kind}/${c.name}: ${msg}`);
        expect(outside, msg).toBe(0);
        expect(chi2, msg).toBeLessThan(bound);
        expect(poolOk, msg).toBe(true);
        expect(lpErr, msg).toBeLessThanOrEqual(1);
        expect(rawErr, msg).toBeLessThanOrEqual(1);
      });
    }
  }

  it('ties at the top-k and top-p boundary follow the token-id order', () => {
    // Four equal best logits: top-k 2 keeps ids 0 and 1; top-p 0.5 of four equal tokens keeps two.
    const row = new Float32Array(37).fill(-3);
    for (const i of [5, 9, 12, 30]) row[i] = 2;
    for (const opts of [{ topK: 2 }, { topP: 0.5, topK: 4 }, { topP: 0.45 }]) {
      const logits = repeatRows(row, N);
      const r = sampleTokens(logits, { ...opts, seed: 99 });
      logits.dispose();
      const c5 = r.tokens.filter((t) => t === 5).length;
      const c9 = r.tokens.filter((t) => t === 9).length;
      expect(c5 + c9, JSON.stringify(opts)).toBe(N);
      // Binomial(N, 1/2): 6 sigma is 949.
      expect(Math.abs(c5 - N / 2), `${JSON.stringify(opts)}: ${c5} vs ${c9}`).toBeLessThan(950);
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('sampleTokens determinism', () => {
  const V = 1000;
  const rows = Array.from({ length: 100 }, () => makeRow('gumbel', V));
  const opts: SampleOptions = { temperature: 0.9, topK: 200, topP: 0.95, minP: 0.001, seed: 424242, offset: 5 };

  it('same (seed, offset) gives the same tokens; another offset or seed another stream', () => {
    const x = rows2d(rows);
    const a = sampleTokens(x, opts);
    const b = sampleTokens(x, opts);
    expect(Array.from(b.tokens)).toEqual(Array.from(a.tokens));
    expect(Array.from(b.logprobs)).toEqual(Array.from(a.logprobs));
    const flat = repeatRows(makeRow('flat', V), 400);
    const s1 = sampleTokens(flat, { seed: 1, offset: 0 });
    const s2 = sampleTokens(flat, { seed: 1, offset: 1 });
    const s3 = sampleTokens(flat, { seed: 2, offset: 0 });
    const same12 = s1.tokens.filter((t, i) => t === s2.tokens[i]).length;
    const same13 = s1.tokens.filter((t, i) => t === s3.tokens[i]).length;
    // Independent streams agree on ~1/1000 of the rows.
    expect(same12).toBeLessThan(20);
    expect(same13).toBeLessThan(20);
    // Rows with the same logits but different row ids draw different tokens too.
    expect(new Set(s1.tokens).size).toBeGreaterThan(250);
    x.dispose();
    flat.dispose();
  });

  it('a row gives the same token alone as inside a batch of 100 (rowIds keep its stream)', () => {
    const x = rows2d(rows);
    const all = sampleTokens(x, opts);
    for (const j of [0, 37, 99]) {
      const one = Tensor.fromArray(rows[j]!, [1, V]);
      const r = sampleTokens(one, { ...opts, rowIds: [j] });
      expect(r.tokens[0]).toBe(all.tokens[j]);
      expect(r.logprobs[0]).toBe(all.logprobs[j]);
      expect(r.rawLogprobs[0]).toBe(all.rawLogprobs[j]);
    }
    // Reversing the batch with matching row ids reverses the tokens.
    const rev = rows2d([...rows].reverse());
    const r = sampleTokens(rev, { ...opts, rowIds: rows.map((_, i) => 99 - i) });
    expect(Array.from(r.tokens).reverse()).toEqual(Array.from(all.tokens));
  });

  it('identical tokens and logprobs at every SIMD level', () => {
    const x = rows2d(rows.slice(0, 30));
    const results = simdLevels.map((lvl) => {
      native().setSimdLevel(lvl);
      return sampleTokens(x, opts);
    });
    native().setSimdLevel(bestSimd);
    for (const r of results.slice(1)) {
      expect(Array.from(r.tokens)).toEqual(Array.from(results[0]!.tokens));
      expect(Array.from(r.logprobs)).toEqual(Array.from(results[0]!.logprobs));
    }
  });

  it('CUDA draws the same tokens as the CPU', (ctx) => {
    const cuda = cudaAvailable();
    if (!cuda.available) {
      ctx.skip(cuda.reason);
      return;
    }
    for (const V2 of [111, 32000, 151936]) {
      const rs = Array.from({ length: 16 }, (_, i) => makeRow(i % 2 ? 'peaked' : 'gumbel', V2));
      const x = rows2d(rs);
      const xg = x.to('cuda:0');
      for (const o of [{}, { temperature: 0 }, { topK: 50 }, { topP: 0.9 }, { minP: 0.05 }, { topK: 1000, topP: 0.95, temperature: 0.7 }]) {
        const hist = Array.from({ length: 16 }, (_, i) => [i, i, 2 * i + 1]);
        const full = { ...o, seed: 7, offset: 3, history: hist, repetitionPenalty: 1.2, presencePenalty: 0.1 };
        const a = sampleTokens(x, full);
        const b = sampleTokens(xg, full);
        expect(Array.from(b.tokens), `V=${V2} ${JSON.stringify(o)}`).toEqual(Array.from(a.tokens));
        for (let i = 0; i < 16; i++) {
          expect(Math.abs(b.logprobs[i]! - a.logprobs[i]!)).toBeLessThan(1e-5);
          expect(Math.abs(b.rawLogprobs[i]! - a.rawLogprobs[i]!)).toBeLessThan(1e-5);
        }
      }
      const lg = logSoftmax(xg).toArray();
      const lc = logSoftmax(x).toArray();
      let e = 0;
      for (let i = 0; i < lc.length; i++) e = Math.max(e, Math.abs(lg[i]! - lc[i]!));
      expect(e).toBeLessThan(1e-5);
      const bf = x.cast('bf16');
      const bfg = bf.to('cuda:0');
      expect(Array.from(sampleTokens(bfg, { seed: 3, topP: 0.9 }).tokens)).toEqual(Array.from(sampleTokens(bf, { seed: 3, topP: 0.9 }).tokens));
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('fast path vs sort-based reference', () => {
  it('identical tokens and logprobs on random rows and options (small and large buckets)', () => {
    let checked = 0;
    for (const [B, V, kind] of [
      [64, 111, 'gumbel'],
      [32, 5003, 'peaked'],
      [16, 20011, 'flat'],
      [8, 32000, 'gumbel'],
    ] as const) {
      const rows = Array.from({ length: B }, () => makeRow(kind, V));
      const x = rows2d(rows);
      for (let trial = 0; trial < 4; trial++) {
        const opts: SampleOptions = {
          temperature: rows.map(() => (rand() < 0.15 ? 0 : 0.3 + 1.5 * rand())),
          topK: rows.map(() => (rand() < 0.3 ? 0 : Math.floor(rand() * V * (rand() < 0.5 ? 0.05 : 1.2)))),
          topP: rows.map(() => (rand() < 0.3 ? 1 : 0.05 + 0.95 * rand())),
          minP: rows.map(() => (rand() < 0.5 ? 0 : 0.2 * rand())),
          repetitionPenalty: 1.1,
          frequencyPenalty: 0.2,
          history: rows.map(() => Array.from({ length: 20 }, () => Math.floor(rand() * V))),
          seed: Math.floor(rand() * 1e9),
          offset: trial,
        };
        const a = sampleTokens(x, opts);
        const b = sampleTokensSortReference(x, opts);
        expect(Array.from(a.tokens), `B=${B} V=${V} trial ${trial}`).toEqual(Array.from(b.tokens));
        expect(Array.from(a.logprobs)).toEqual(Array.from(b.logprobs));
        expect(Array.from(a.rawLogprobs)).toEqual(Array.from(b.rawLogprobs));
        checked += B;
      }
      x.dispose();
    }
    expect(checked).toBe(4 * (64 + 32 + 16 + 8));
  });
  it('one-pass top-k / min-p path: identical tokens and both logprobs to the sort reference (ties, -inf, every SIMD level)', () => {
    // Rows without penalties take the streaming path for top-k <= 4096 and for min-p without top-p.
    // Coarsely quantised logits give long runs of equal values at the cut (id tie-break), masked
    // tokens are never candidates, V > 8192 spans several scan segments.
    let checked = 0;
    for (const [B, V] of [
      [24, 257],
      [12, 9000],
      [6, 40000],
    ] as const) {
      const rows = Array.from({ length: B }, (_, b) => {
        const kind = (['flat', 'peaked', 'gumbel'] as const)[b % 3]!;
        const r = makeRow(kind, V);
        if (b % 4 === 1) for (let i = 0; i < V; i++) r[i] = Math.round(r[i]! * 2) / 2; // ties
        if (b % 5 === 2) for (let i = 0; i < V; i += 3) r[i] = -Infinity; // masked tokens
        return r;
      });
      const x = rows2d(rows);
      for (let trial = 0; trial < 6; trial++) {
        const kMax = trial < 3 ? 100 : 6000;
        const temperature = rows.map(() => 0.3 + 1.5 * rand());
        const topK = rows.map(() => (rand() < 0.2 ? 0 : 1 + Math.floor(rand() * kMax)));
        const topP = rows.map(() => (rand() < 0.5 ? 1 : 0.05 + 0.95 * rand()));
        const minP = rows.map(() => (rand() < 0.5 ? 0 : 0.3 * rand()));
        const opts: SampleOptions = { temperature, topK, topP, minP, seed: Math.floor(rand() * 1e9), offset: trial };
        const b = sampleTokensSortReference(x, opts);
        for (const lvl of simdLevels) {
          if (simdLevels.indexOf(lvl) > simdLevels.indexOf(bestSimd)) continue;
          native().setSimdLevel(lvl);
          const a = sampleTokens(x, opts);
          native().setSimdLevel(bestSimd);
          const b2 = lvl === bestSimd ? b : (native().setSimdLevel(lvl), sampleTokensSortReference(x, opts));
          native().setSimdLevel(bestSimd);
          expect(Array.from(a.tokens), `${lvl} B=${B} V=${V} trial ${trial}`).toEqual(Array.from(b.tokens));
          expect(Array.from(a.logprobs)).toEqual(Array.from(b.logprobs));
          expect(Array.from(a.rawLogprobs)).toEqual(Array.from(b2.rawLogprobs));
        }
        if (V > 16384) {
          // A single row's first pass is split over the threads (forced here for every V of the test):
          // same results as inside the batch.
          const all = sampleTokens(x, opts);
          const prevSplit = native().setSamplingSplitMinVocab(0);
          for (const j of [0, 1, 4]) {
            const one = Tensor.fromArray(rows[j]!, [1, V]);
            const r = sampleTokens(one, { ...opts, temperature: temperature[j]!, topK: topK[j]!, topP: topP[j]!, minP: minP[j]!, rowIds: [j] });
            expect(r.tokens[0]).toBe(all.tokens[j]);
            expect(r.logprobs[0]).toBe(all.logprobs[j]);
            expect(r.rawLogprobs[0]).toBe(all.rawLogprobs[j]);
            one.dispose();
          }
          native().setSamplingSplitMinVocab(prevSplit);
        }
        checked += B;
      }
      x.dispose();
    }
    expect(checked).toBe(6 * (24 + 12 + 6));
  });
});

// ---------------------------------------------------------------------------------------------
describe('sampleTokens edge cases', () => {
  it('all but one token -inf: always that token, logprobs 0', () => {
    const row = new Float32Array(50).fill(-Infinity);
    row[17] = -3;
    const r = sampleTokens(repeatRows(row, 200), { topP: 0.3, topK: 5, minP: 0.5, seed: 3 });
    expect(new Set(r.tokens)).toEqual(new Set([17]));
    expect(Math.max(...r.logprobs.map(Math.abs))).toBe(0);
    expect(Math.max(...r.rawLogprobs.map(Math.abs))).toBe(0);
  });

  it('-inf tokens are never drawn and do not count for top-k', () => {
    const row = makeRow('flat', 64);
    for (let i = 0; i < 64; i += 2) row[i] = -Infinity;
    const r = sampleTokens(repeatRows(row, 5000), { topK: 40, seed: 5 });
    expect(r.tokens.every((t) => t % 2 === 1)).toBe(true);
    expect(new Set(r.tokens).size).toBe(32);
  });

  it('topK >= V and topP = 1 are the same as off', () => {
    const x = rows2d(Array.from({ length: 50 }, () => makeRow('gumbel', 301)));
    const base = sampleTokens(x, { seed: 11 });
    for (const o of [{ topK: 301 }, { topK: 10_000 }, { topP: 1 }, { topK: 0, topP: 1, minP: 0 }]) {
      const r = sampleTokens(x, { ...o, seed: 11 });
      expect(Array.from(r.tokens), JSON.stringify(o)).toEqual(Array.from(base.tokens));
      expect(Array.from(r.logprobs)).toEqual(Array.from(base.logprobs));
    }
  });

  it('minP that keeps one token, and topK 1, are deterministic with logprob 0', () => {
    const row = makeRow('peaked', 200);
    row[123] = 40;
    for (const o of [{ minP: 0.9 }, { topK: 1 }, { topP: 1e-9 }]) {
      const r = sampleTokens(repeatRows(row, 300), { ...o, seed: 8 });
      expect(new Set(r.tokens), JSON.stringify(o)).toEqual(new Set([123]));
      expect(r.logprobs.every((v) => v === 0)).toBe(true);
      const ref = logSoftmax64(row)[123]!;
      expect(Math.abs(r.rawLogprobs[0]! - ref)).toBeLessThan(1e-5);
    }
  });

  it('temperature 0 is the exact argmax, lowest id on ties, whatever the filters', () => {
    const x = Tensor.fromArray([1, 3, 3, 2, /**/ -1, -1, -1, -1, /**/ 0, 0, 5, 5], [3, 4]);
    const r = sampleTokens(x, { temperature: 0, topK: 2, topP: 0.1, seed: 1 });
    expect(Array.from(r.tokens)).toEqual([1, 0, 2]);
    expect(Array.from(r.logprobs)).toEqual([0, 0, 0]);
    const raw = [logSoftmax64([1, 3, 3, 2])[1]!, logSoftmax64([-1, -1, -1, -1])[0]!, logSoftmax64([0, 0, 5, 5])[2]!];
    raw.forEach((v, i) => expect(Math.abs(r.rawLogprobs[i]! - v)).toBeLessThan(1e-6));
    // Per-row temperature: only row 1 greedy.
    const big = rows2d(Array.from({ length: 3 }, () => makeRow('flat', 500)));
    const g = sampleTokens(big, { temperature: [1, 0, 1], seed: 2 });
    const d = big.toArray().subarray(500, 1000);
    expect(g.tokens[1]).toBe(d.indexOf(Math.max(...d)));
  });

  it('V = 1, B = 1, B = 1000, V odd', () => {
    const one = sampleTokens(Tensor.fromArray([0.3, -2, 7], [3, 1]), { topP: 0.5, topK: 3, seed: 4 });
    expect(Array.from(one.tokens)).toEqual([0, 0, 0]);
    expect(Array.from(one.logprobs)).toEqual([0, 0, 0]);
    expect(Array.from(one.rawLogprobs)).toEqual([0, 0, 0]);
    const row = makeRow('gumbel', 111);
    const b1 = sampleTokens(Tensor.fromArray(row, [1, 111]), { topP: 0.9, seed: 9 });
    const b1000 = sampleTokens(repeatRows(row, 1000), { topP: 0.9, seed: 9 });
    expect(b1000.tokens[0]).toBe(b1.tokens[0]);
    expect(b1000.tokens.length).toBe(1000);
    const ref = referenceDistribution(row, { topP: 0.9 });
    expect(b1000.tokens.every((t) => ref.mask[t] === 1)).toBe(true);
    const empty = sampleTokens(Tensor.zeros([0, 5]), {});
    expect(empty.tokens.length).toBe(0);
  });

  it('bf16 logits sample exactly like their f32 widening', () => {
    const x = rows2d(Array.from({ length: 20 }, () => makeRow('gumbel', 777)));
    const bf = x.cast('bf16');
    const widened = bf.cast('f32');
    const o = { topK: 100, topP: 0.9, temperature: 0.8, seed: 12 };
    const a = sampleTokens(bf, o);
    const b = sampleTokens(widened, o);
    expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
    expect(Array.from(a.rawLogprobs)).toEqual(Array.from(b.rawLogprobs));
  });

  it('penalties follow the usual definitions (history as a Tensor or ragged arrays)', () => {
    // Greedy picks reveal the penalised logits: token 0 (logit 2.0, seen twice) vs token 1 (1.7).
    const x = Tensor.fromArray([2, 1.7, -1, 0.5, /**/ 2, 1.7, -1, 0.5], [2, 4]);
    const hist = Tensor.fromArray(new Int32Array([0, 0, -1, /**/ 2, -1, -1]), [2, 3], { dtype: 'i32' });
    expect(Array.from(sampleTokens(x, { temperature: 0, history: hist, repetitionPenalty: 1.2 }).tokens)).toEqual([1, 0]); // 2/1.2 < 1.7
    expect(Array.from(sampleTokens(x, { temperature: 0, history: hist, presencePenalty: 0.2 }).tokens)).toEqual([0, 0]); // 1.8 > 1.7
    expect(Array.from(sampleTokens(x, { temperature: 0, history: [[0, 0], [2]], frequencyPenalty: 0.2 }).tokens)).toEqual([1, 0]); // 1.6
    // Processed logprob under penalties equals the float64 reference.
    const row = makeRow('peaked', 300);
    const h = [5, 5, 9, 200, 5];
    const o = { repetitionPenalty: 1.5, presencePenalty: 0.3, frequencyPenalty: 0.1, temperature: 0.7 };
    const r = sampleTokens(repeatRows(row, 2000), { ...o, history: Array.from({ length: 2000 }, () => h), seed: 3 });
    const ref = referenceDistribution(row, { ...o, history: h });
    let e = 0;
    r.tokens.forEach((t, i) => (e = Math.max(e, maxErr(r.logprobs[i]!, ref.logp[t]!, 1e-5, 1e-5))));
    expect(e).toBeLessThanOrEqual(1);
  });
});

// ---------------------------------------------------------------------------------------------
describe('logSoftmax and gatherLogprobs', () => {
  it('match the float64 reference (f32 and bf16, leading dims)', () => {
    const rows = Array.from({ length: 6 }, (_, i) => makeRow(i % 2 ? 'peaked' : 'gumbel', 1001));
    rows[2]![5] = -Infinity;
    const x = rows2d(rows).reshape([2, 3, 1001]);
    const ls = logSoftmax(x);
    expect(ls.shape).toEqual([2, 3, 1001]);
    const out = ls.toArray();
    let e = 0;
    rows.forEach((r, i) => {
      const ref = logSoftmax64(r);
      for (let j = 0; j < r.length; j++) {
        if (ref[j] === -Infinity) expect(out[i * 1001 + j]).toBe(-Infinity);
        else e = Math.max(e, maxErr(out[i * 1001 + j]!, ref[j]!, 1e-5, 1e-6));
      }
    });
    console.info(`logSoftmax max err ${e.toFixed(3)} (units of 1e-5 + 1e-6·|ref|)`);
    expect(e).toBeLessThanOrEqual(1);
    const toks = [0, 17, 1000, 5, 999, 3];
    const g = gatherLogprobs(x, toks);
    const gt = gatherLogprobs(x, Tensor.fromArray(new Int32Array(toks), [2, 3], { dtype: 'i32' }));
    expect(Array.from(gt)).toEqual(Array.from(g));
    toks.forEach((t, i) => expect(maxErr(g[i]!, logSoftmax64(rows[i]!)[t]!, 1e-5, 1e-6)).toBeLessThanOrEqual(1));
    const bf = x.cast('bf16');
    const gb = gatherLogprobs(bf, toks);
    const wid = bf.cast('f32').toArray();
    toks.forEach((t, i) => expect(maxErr(gb[i]!, logSoftmax64(wid.subarray(i * 1001, (i + 1) * 1001))[t]!, 1e-5, 1e-6)).toBeLessThanOrEqual(1));
  });
});

// ---------------------------------------------------------------------------------------------
describe('bad input', () => {
  const x = Tensor.fromArray(Float32Array.from({ length: 12 }, (_, i) => i * 0.1), [3, 4]);
  const err = (f: () => unknown, type: typeof TypeError | typeof RangeError, re: RegExp) => {
    let thrown: unknown;
    try {
      f();
    } catch (e) {
      thrown = e;
    }
    expect(thrown, String(re)).toBeInstanceOf(type);
    expect(String((thrown as Error).message)).toMatch(re);
  };

  it('NaN / +Infinity / all -Infinity rows name the row', () => {
    const bad = (v: number, at: number) => {
      const d = Float32Array.from({ length: 12 }, (_, i) => i);
      d[at] = v;
      return Tensor.fromArray(d, [3, 4]);
    };
    err(() => sampleTokens(bad(NaN, 6)), RangeError, /sampleTokens: logits row 1 contains NaN \(at index 2\)/);
    err(() => sampleTokens(bad(Infinity, 11)), RangeError, /logits row 2 contains \+Infinity \(at index 3\)/);
    err(() => sampleTokens(bad(NaN, 0), { temperature: 0 }), RangeError, /row 0 contains NaN/);
    const masked = Tensor.fromArray([1, 2, -Infinity, -Infinity], [2, 2]);
    err(() => sampleTokens(masked), RangeError, /logits row 1 has no finite logit/);
    err(() => logSoftmax(bad(NaN, 5)), RangeError, /logSoftmax: logits row 1 contains NaN/);
    err(() => gatherLogprobs(bad(Infinity, 0), [0, 0, 0]), RangeError, /gatherLogprobs: logits row 0 contains \+Infinity/);
    // Penalties that overflow a logit to +inf.
    const big = Tensor.fromArray([3e38, 1], [1, 2]);
    err(() => sampleTokens(big, { history: [[0]], presencePenalty: -3e38 }), RangeError, /penalties turned the logit of token 0 in row 0/);
  });

  it('option ranges', () => {
    err(() => sampleTokens(x, { topP: 0 }), RangeError, /topP must be in \(0, 1\]/);
    err(() => sampleTokens(x, { topP: 1.5 }), RangeError, /topP must be in \(0, 1\]/);
    err(() => sampleTokens(x, { topP: [1, 1, -0.1] }), RangeError, /topP .* got -0.1 \(row 2\)/);
    err(() => sampleTokens(x, { minP: 1 }), RangeError, /minP must be in \[0, 1\)/);
    err(() => sampleTokens(x, { minP: -0.01 }), RangeError, /minP/);
    err(() => sampleTokens(x, { temperature: -1 }), RangeError, /temperature must be a finite number >= 0/);
    err(() => sampleTokens(x, { temperature: Infinity }), RangeError, /temperature/);
    err(() => sampleTokens(x, { temperature: NaN }), RangeError, /temperature/);
    err(() => sampleTokens(x, { topK: -1 }), RangeError, /topK must be an integer >= 0/);
    err(() => sampleTokens(x, { topK: 2.5 }), RangeError, /topK must be an integer/);
    err(() => sampleTokens(x, { repetitionPenalty: 0 }), RangeError, /repetitionPenalty must be a positive/);
    err(() => sampleTokens(x, { presencePenalty: Infinity }), RangeError, /presencePenalty/);
    err(() => sampleTokens(x, { frequencyPenalty: 1e300 }), RangeError, /frequencyPenalty/);
    err(() => sampleTokens(x, { topK: [1, 2] }), RangeError, /topK must be a number or an array with one value per row \(B=3\)/);
    err(() => sampleTokens(x, { seed: -1 }), RangeError, /seed must be a non-negative integer/);
    err(() => sampleTokens(x, { offset: 1.5 }), RangeError, /offset must be a non-negative integer/);
    err(() => sampleTokens(x, { rowIds: [0, 1] }), RangeError, /rowIds must have one id per row/);
    err(() => sampleTokens(x, { rowIds: [0, 1, -2] }), RangeError, /rowIds\[2\]/);
  });

  it('types and shapes', () => {
    err(() => sampleTokens(x, { topK: '3' as unknown as number }), TypeError, /topK must be a number or an array/);
    err(() => sampleTokens(x, { topp: 0.5 } as unknown as SampleOptions), TypeError, /unknown option 'topp'/);
    err(() => sampleTokens(null as unknown as Tensor), TypeError, /sampleTokens: logits must be a Tensor/);
    err(() => sampleTokens(Tensor.zeros([12])), RangeError, /logits must have shape \(B, V\)/);
    err(() => sampleTokens(Tensor.zeros([3, 0])), RangeError, /V >= 1/);
    err(() => sampleTokens(Tensor.zeros([3, 4], { dtype: 'i32' })), TypeError, /logits must have dtype f32 or bf16/);
    const h = (d: number[], s: number[], dtype: 'i32' | 'f32' = 'i32') => Tensor.fromArray(dtype === 'i32' ? new Int32Array(d) : d, s, { dtype });
    err(() => sampleTokens(x, { history: h([0, 1], [2, 1]), presencePenalty: 1 }), RangeError, /history must have shape \(B=3, L\)/);
    err(() => sampleTokens(x, { history: h([0, 1, 2], [3]) }), RangeError, /history must have shape \(B, L\)/);
    err(() => sampleTokens(x, { history: h([0, 1, 2], [3, 1], 'f32') }), TypeError, /history must have dtype i32/);
    err(() => sampleTokens(x, { history: h([0, 4, 2], [3, 1]) }), RangeError, /history\[1\]\[0\] = 4 is neither a token id in \[0, V=4\)/);
    err(() => sampleTokens(x, { history: h([0, -2, 2], [3, 1]) }), RangeError, /history\[1\]\[0\] = -2/);
    err(() => sampleTokens(x, { history: [[0], [1]] }), RangeError, /history must have one array of token ids per row \(B=3\)/);
    err(() => sampleTokens(x, { history: [[0], [1.5], []] }), TypeError, /history\[1\]\[0\] must be an integer/);
    err(() => gatherLogprobs(x, [0, 1]), RangeError, /tokens must have one id per row/);
    err(() => gatherLogprobs(x, [0, 4, 1]), RangeError, /tokens\[1\] = 4 is not a token id in \[0, V=4\)/);
    err(() => gatherLogprobs(x, [0, 1.5, 1]), TypeError, /tokens\[1\] must be an integer/);
    err(() => sampleTokensSortReference(x, { topP: 2 }), RangeError, /sampleTokensSortReference: topP/);
  });
});
