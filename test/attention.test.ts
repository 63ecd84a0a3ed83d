// Fused attention kernel: forward and backward against a float64 reference on fresh random inputs of
// awkward sizes, gradients against central finite differences, padding invariance (garbage past the
// lengths changes nothing), KV-cache decode equivalence, every SIMD level, the unfused baseline,
// argument errors, and CUDA against CPU where a GPU exists.
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../lib/tensor.js';
import { cudaAvailable } from '../lib/device.js';
import { native } from '../lib/native.js';
import {
  attentionBackward,
  attentionDecode,
  attentionForward,
  attentionNaiveBackward,
  attentionNaiveForward,
  type AttentionOptions,
} from '../lib/kernels/attention.js';

// ---------------------------------------------------------------------------------------------
// Seeded randomness: a fresh seed per run (printed in every failure message) unless MTRL_TEST_SEED.
const SEED = process.env.MTRL_TEST_SEED ? Number(process.env.MTRL_TEST_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;
function mulberry32(a: number): () => number {
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(SEED);
function randn(n: number, std = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - rand();
    const w = rand();
    out[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w);
  }
  return out;
}
function randint(lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

// ---------------------------------------------------------------------------------------------
// float64 reference: naive softmax(q·kᵀ·scale)·v with the same visibility rule as the kernel.
interface Dims {
  B: number;
  S: number;
  Sk: number;
  H: number;
  Hkv: number;
  D: number;
}
interface RefOpts {
  causal: boolean;
  scale: number;
  kvLens?: number[];
  qLens?: number[];
}
type Arr = ArrayLike<number>;

function visibleKeys(d: Dims, o: RefOpts, b: number, s: number): number {
  const qlen = o.qLens ? o.qLens[b]! : d.S;
  const kvlen = o.kvLens ? o.kvLens[b]! : d.Sk;
  if (s >= qlen) return 0;
  return o.causal ? Math.max(0, Math.min(kvlen, s + kvlen - qlen + 1)) : kvlen;
}

/** Probabilities of query (b, s, h) over its visible keys, and lse; null when it sees none. */
function refRow(q: Arr, k: Arr, d: Dims, o: RefOpts, b: number, s: number, h: number): { p: Float64Array; lse: number } | null {
  const n = visibleKeys(d, o, b, s);
  if (n === 0) return null;
  const hk = Math.floor(h / (d.H / d.Hkv));
  const qo = ((b * d.S + s) * d.H + h) * d.D;
  const z = new Float64Array(n);
  let m = -Infinity;
  for (let j = 0; j < n; j++) {
    const ko = ((b * d.Sk + j) * d.Hkv + hk) * d.D;
    let acc = 0;
    for (let x = 0; x < d.D; x++) acc += q[qo + x]! * k[ko + x]!;
    z[j] = acc * o.scale;
    if (z[j]! > m) m = z[j]!;
  }
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(z[j]! - m);
  const lse = m + Math.log(sum);
  for (let j = 0; j < n; j++) z[j] = Math.exp(z[j]! - lse);
  return { p: z, lse };
}

function refForward(q: Arr, k: Arr, v: Arr, d: Dims, o: RefOpts): { out: Float64Array; lse: Float64Array } {
  const out = new Float64Array(d.B * d.S * d.H * d.D);
  const lse = new Float64Array(d.B * d.H * d.S).fill(-Infinity);
  const group = d.H / d.Hkv;
  for (let b = 0; b < d.B; b++)
    for (let s = 0; s < d.S; s++)
      for (let h = 0; h < d.H; h++) {
        const r = refRow(q, k, d, o, b, s, h);
        if (!r) continue;
        lse[(b * d.H + h) * d.S + s] = r.lse;
        const oo = ((b * d.S + s) * d.H + h) * d.D;
        const hk = Math.floor(h / group);
        for (let j = 0; j < r.p.length; j++) {
          const vo = ((b * d.Sk + j) * d.Hkv + hk) * d.D;
          const pj = r.p[j]!;
          for (let x = 0; x < d.D; x++) out[oo + x] += pj * v[vo + x]!;
        }
      }
  return { out, lse };
}

/**
 * Reference gradients, plus for each the largest sum of absolute values of the terms it adds up
 * (`mag`): the scale f32 rounding errors are proportional to, and a sane yardstick where the exact
 * gradient is ~0 (e.g. dq and dk when a row sees a single key).
 */
function refBackward(
  dO: Arr,
  q: Arr,
  k: Arr,
  v: Arr,
  d: Dims,
  o: RefOpts,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array; mag: { dq: number; dk: number; dv: number } } {
  const dq = new Float64Array(d.B * d.S * d.H * d.D);
  const dk = new Float64Array(d.B * d.Sk * d.Hkv * d.D);
  const dv = new Float64Array(d.B * d.Sk * d.Hkv * d.D);
  const dqMag = new Float64Array(dq.length);
  const dkMag = new Float64Array(dk.length);
  const dvMag = new Float64Array(dv.length);
  const group = d.H / d.Hkv;
  for (let b = 0; b < d.B; b++)
    for (let s = 0; s < d.S; s++)
      for (let h = 0; h < d.H; h++) {
        const r = refRow(q, k, d, o, b, s, h);
        if (!r) continue;
        const hk = Math.floor(h / group);
        const qo = ((b * d.S + s) * d.H + h) * d.D;
        const n = r.p.length;
        const dp = new Float64Array(n);
        let delta = 0;
        for (let j = 0; j < n; j++) {
          const vo = ((b * d.Sk + j) * d.Hkv + hk) * d.D;
          let acc = 0;
          for (let x = 0; x < d.D; x++) {
            acc += dO[qo + x]! * v[vo + x]!;
            dv[vo + x] += r.p[j]! * dO[qo + x]!;
            dvMag[vo + x] += Math.abs(r.p[j]! * dO[qo + x]!);
          }
          dp[j] = acc;
          delta += r.p[j]! * acc;
        }
        for (let j = 0; j < n; j++) {
          const ds = r.p[j]! * (dp[j]! - delta) * o.scale;
          const dsMag = r.p[j]! * (Math.abs(dp[j]!) + Math.abs(delta)) * Math.abs(o.scale);
          const ko = ((b * d.Sk + j) * d.Hkv + hk) * d.D;
          for (let x = 0; x < d.D; x++) {
            dq[qo + x] += ds * k[ko + x]!;
            dk[ko + x] += ds * q[qo + x]!;
            dqMag[qo + x] += dsMag * Math.abs(k[ko + x]!);
            dkMag[ko + x] += dsMag * Math.abs(q[qo + x]!);
          }
        }
      }
  const max = (a: Float64Array) => a.reduce((m, x) => Math.max(m, x), 0);
  return { dq, dk, dv, mag: { dq: max(dqMag), dk: max(dkMag), dv: max(dvMag) } };
}

// ---------------------------------------------------------------------------------------------
interface ErrStats {
  maxAbs: number;
  maxRel: number;
  scale: number;
  worst: number;
}
/**
 * Max abs error, max error relative to |ref| (floored at 1e-3·scale) and the scale: max|ref|, or
 * `minScale` when larger (the magnitude of the summed terms, see refBackward).
 */
function errors(got: Arr, ref: Arr, mask?: (i: number) => boolean, minScale = 0): ErrStats {
  let scale = minScale;
  for (let i = 0; i < ref.length; i++) if ((!mask || mask(i)) && Number.isFinite(ref[i]!)) scale = Math.max(scale, Math.abs(ref[i]!));
  let maxAbs = 0;
  let maxRel = 0;
  let worst = -1;
  for (let i = 0; i < ref.length; i++) {
    if (mask && !mask(i)) continue;
    const a = got[i]!;
    const r = ref[i]!;
    const e = a === r ? 0 : Math.abs(a - r);
    if (!(e <= maxAbs)) {
      maxAbs = Number.isNaN(e) ? Infinity : e;
      worst = i;
    }
    const rel = e / Math.max(Math.abs(r), 1e-3 * scale, 1e-30);
    if (!(rel <= maxRel)) maxRel = Number.isNaN(rel) ? Infinity : rel;
  }
  return { maxAbs, maxRel, scale, worst };
}
function fmt(e: ErrStats): string {
  return `max abs ${e.maxAbs.toExponential(2)} (${(e.maxAbs / Math.max(e.scale, 1e-30)).toExponential(2)} of scale ${e.scale.toPrecision(3)}), max rel ${e.maxRel.toExponential(2)}`;
}

const f32 = (a: Float32Array, shape: number[]) => Tensor.fromArray(a, shape);
const live: Tensor[] = [];
function keep<T extends Tensor>(t: T): T {
  live.push(t);
  return t;
}
afterAll(() => {
  for (const t of live) t.dispose();
});

interface Case extends Dims {
  causal: boolean;
  lengths: 'none' | 'kv' | 'q' | 'both';
}
function describeCase(c: Case): string {
  return `B=${c.B} S=${c.S} Sk=${c.Sk} H/Hkv=${c.H}/${c.Hkv} D=${c.D} ${c.causal ? 'causal' : 'full'} lengths=${c.lengths}`;
}

/** Random lengths for a case; at least one row keeps its full length so the edges are exercised. */
function makeLengths(c: Case): { kvLens?: number[]; qLens?: number[] } {
  const r: { kvLens?: number[]; qLens?: number[] } = {};
  if (c.lengths === 'kv' || c.lengths === 'both') r.kvLens = Array.from({ length: c.B }, (_, b) => (b === 0 ? c.Sk : randint(0, c.Sk)));
  if (c.lengths === 'q' || c.lengths === 'both') r.qLens = Array.from({ length: c.B }, (_, b) => (b === c.B - 1 ? c.S : randint(0, c.S)));
  return r;
}

interface Inputs {
  d: Dims;
  ro: RefOpts;
  opts: AttentionOptions;
  qa: Float32Array;
  ka: Float32Array;
  va: Float32Array;
  q: Tensor;
  k: Tensor;
  v: Tensor;
}
function makeInputs(c: Case, extra: { scale?: number } = {}): Inputs {
  const d: Dims = { B: c.B, S: c.S, Sk: c.Sk, H: c.H, Hkv: c.Hkv, D: c.D };
  const lens = makeLengths(c);
  const scale = extra.scale ?? 1 / Math.sqrt(c.D);
  const qa = randn(c.B * c.S * c.H * c.D);
  const ka = randn(c.B * c.Sk * c.Hkv * c.D);
  const va = randn(c.B * c.Sk * c.Hkv * c.D);
  const opts: AttentionOptions = { causal: c.causal, kvLengths: lens.kvLens, qLengths: lens.qLens };
  if (extra.scale !== undefined) opts.scale = extra.scale;
  return {
    d,
    ro: { causal: c.causal, scale, kvLens: lens.kvLens, qLens: lens.qLens },
    opts,
    qa,
    ka,
    va,
    q: keep(f32(qa, [c.B, c.S, c.H, c.D])),
    k: keep(f32(ka, [c.B, c.Sk, c.Hkv, c.D])),
    v: keep(f32(va, [c.B, c.Sk, c.Hkv, c.D])),
  };
}

// The grid of the issue, sampled so every value of every parameter appears (S and Sk each take every
// value, with every D, head layout, mask and length mode) while the suite stays fast on 2 cores.
const SV = [1, 7, 33, 129, 257];
const DV = [16, 64, 80, 128];
const HV: Array<[number, number]> = [
  [4, 4],
  [8, 2],
  [8, 1],
];
const LV: Case['lengths'][] = ['none', 'kv', 'q', 'both'];
function gridCases(n: number, maxWork: number): Case[] {
  const out: Case[] = [];
  for (let i = 0; out.length < n; i++) {
    const c: Case = {
      B: [1, 3][Math.floor(i / 2) % 2]!,
      S: SV[i % 5]!,
      Sk: SV[(i * 3 + Math.floor(i / 5)) % 5]!,
      D: DV[i % 4]!,
      H: HV[i % 3]![0],
      Hkv: HV[i % 3]![1],
      causal: i % 2 === 1,
      lengths: LV[Math.floor(i / 3) % 4]!,
    };
    // Keep the float64 reference cheap: shrink the batch of the biggest cases.
    if (c.B * c.S * c.Sk * c.H * c.D > maxWork) c.B = 1;
    out.push(c);
  }
  return out;
}

const FWD_TOL = 1e-5; // error relative to the output scale (the f32 bound)
const BWD_TOL = 2e-5; // gradients sum ~2·Sk more f32 products per element than the output

describe(`attentionForward vs float64 reference (seed ${SEED})`, () => {
  const cases = gridCases(20, 3 * 257 * 257 * 8 * 64);
  for (const c of cases) {
    it(describeCase(c), () => {
      const x = makeInputs(c);
      const { out, lse } = keep2(attentionForward(x.q, x.k, x.v, x.opts));
      expect(out.shape).toEqual([c.B, c.S, c.H, c.D]);
      expect(lse.shape).toEqual([c.B, c.H, c.S]);
      const ref = refForward(x.qa, x.ka, x.va, x.d, x.ro);
      const eo = errors(out.toArray(), ref.out);
      const el = errors(lse.toArray(), ref.lse, (i) => Number.isFinite(ref.lse[i]!));
      const msg = `${describeCase(c)} seed ${SEED}: out ${fmt(eo)}; lse ${fmt(el)}`;
      expect(eo.maxAbs, msg).toBeLessThanOrEqual(FWD_TOL * Math.max(eo.scale, 1e-6));
      expect(el.maxAbs, msg).toBeLessThanOrEqual(FWD_TOL * Math.max(1, el.scale));
      // Rows with no visible key: exactly -inf and zeros.
      const la = lse.toArray();
      for (let i = 0; i < la.length; i++) if (ref.lse[i] === -Infinity) expect(la[i], msg).toBe(-Infinity);
      console.log(msg);
    });
  }
});

function keep2<T extends object>(r: T): T {
  for (const t of Object.values(r)) if (t instanceof Tensor) keep(t);
  return r;
}

describe(`attentionBackward vs float64 reference (seed ${SEED})`, () => {
  const cases = gridCases(26, 257 * 129 * 8 * 64).filter((_, i) => i % 2 === 0 || i >= 20);
  for (const c of cases) {
    it(describeCase(c), () => {
      const x = makeInputs(c);
      const fw = keep2(attentionForward(x.q, x.k, x.v, x.opts));
      const doa = randn(c.B * c.S * c.H * c.D);
      const dO = keep(f32(doa, [c.B, c.S, c.H, c.D]));
      const g = keep2(attentionBackward(dO, x.q, x.k, x.v, fw.out, fw.lse, x.opts));
      const ref = refBackward(doa, x.qa, x.ka, x.va, x.d, x.ro);
      const e = {
        dq: errors(g.dq.toArray(), ref.dq, undefined, ref.mag.dq),
        dk: errors(g.dk.toArray(), ref.dk, undefined, ref.mag.dk),
        dv: errors(g.dv.toArray(), ref.dv, undefined, ref.mag.dv),
      };
      const msg = `${describeCase(c)} seed ${SEED}: dq ${fmt(e.dq)}; dk ${fmt(e.dk)}; dv ${fmt(e.dv)}`;
      for (const key of ['dq', 'dk', 'dv'] as const) expect(e[key].maxAbs, `${key}: ${msg}`).toBeLessThanOrEqual(BWD_TOL * Math.max(e[key].scale, 1e-6));
      console.log(msg);
    });
  }
});
