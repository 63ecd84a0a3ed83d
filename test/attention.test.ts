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
import { mulberry32 } from '../lib/rng.js';

// ---------------------------------------------------------------------------------------------
// Seeded randomness: a fresh seed per run (printed in every failure message) unless MTRL_TEST_SEED.
const SEED = process.env.MTRL_TEST_SEED ? Number(process.env.MTRL_TEST_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;
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
          for (let x = 0; x < d.D; x++) out[oo + x] = out[oo + x]! + pj * v[vo + x]!;
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
            dv[vo + x] = dv[vo + x]! + r.p[j]! * dO[qo + x]!;
            dvMag[vo + x] = dvMag[vo + x]! + Math.abs(r.p[j]! * dO[qo + x]!);
          }
          dp[j] = acc;
          delta += r.p[j]! * acc;
        }
        for (let j = 0; j < n; j++) {
          const ds = r.p[j]! * (dp[j]! - delta) * o.scale;
          const dsMag = r.p[j]! * (Math.abs(dp[j]!) + Math.abs(delta)) * Math.abs(o.scale);
          const ko = ((b * d.Sk + j) * d.Hkv + hk) * d.D;
          for (let x = 0; x < d.D; x++) {
            dq[qo + x] = dq[qo + x]! + ds * k[ko + x]!;
            dk[ko + x] = dk[ko + x]! + ds * q[qo + x]!;
            dqMag[qo + x] = dqMag[qo + x]! + dsMag * Math.abs(k[ko + x]!);
            dkMag[ko + x] = dkMag[ko + x]! + dsMag * Math.abs(q[qo + x]!);
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

const FWD_TOL = 1e-5; // error relative to the output scale (the issue's f32 bound)
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
      let badInf = 0;
      for (let i = 0; i < la.length; i++) if (ref.lse[i] === -Infinity && la[i] !== -Infinity) badInf++;
      expect(badInf, `rows without visible keys must have lse = -inf: ${msg}`).toBe(0);
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

// ---------------------------------------------------------------------------------------------
describe(`attentionBackward vs central finite differences (seed ${SEED})`, () => {
  const cases: Array<{ name: string; d: Dims; causal: boolean; scale?: number; kvLens?: number[]; qLens?: number[] }> = [
    { name: 'GQA causal with lengths', d: { B: 2, S: 3, Sk: 5, H: 4, Hkv: 2, D: 16 }, causal: true, kvLens: [5, 3], qLens: [3, 2] },
    { name: 'MQA full, custom scale, S > Sk', d: { B: 1, S: 6, Sk: 4, H: 2, Hkv: 1, D: 16 }, causal: false, scale: 0.7 },
    { name: 'causal S < Sk (bottom-right)', d: { B: 1, S: 2, Sk: 5, H: 2, Hkv: 2, D: 16 }, causal: true },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { d } = c;
      const scale = c.scale ?? 1 / Math.sqrt(d.D);
      const ro: RefOpts = { causal: c.causal, scale, kvLens: c.kvLens, qLens: c.qLens };
      const qa = randn(d.B * d.S * d.H * d.D);
      const ka = randn(d.B * d.Sk * d.Hkv * d.D);
      const va = randn(d.B * d.Sk * d.Hkv * d.D);
      const w = randn(d.B * d.S * d.H * d.D); // L = Σ out ⊙ w, so dOut = w
      const opts: AttentionOptions = { causal: c.causal, kvLengths: c.kvLens, qLengths: c.qLens, scale: c.scale };
      const q = keep(f32(qa, [d.B, d.S, d.H, d.D]));
      const k = keep(f32(ka, [d.B, d.Sk, d.Hkv, d.D]));
      const v = keep(f32(va, [d.B, d.Sk, d.Hkv, d.D]));
      const fw = keep2(attentionForward(q, k, v, opts));
      const g = keep2(attentionBackward(keep(f32(w, [d.B, d.S, d.H, d.D])), q, k, v, fw.out, fw.lse, opts));
      const loss = (qq: Arr, kk: Arr, vv: Arr) => {
        const o = refForward(qq, kk, vv, d, ro).out;
        let s = 0;
        for (let i = 0; i < o.length; i++) s += o[i]! * w[i]!;
        return s;
      };
      const h = 1e-6;
      const report: string[] = [];
      const inputs: Array<[string, Float32Array, Float32Array]> = [
        ['dq', qa, g.dq.toArray() as Float32Array],
        ['dk', ka, g.dk.toArray() as Float32Array],
        ['dv', va, g.dv.toArray() as Float32Array],
      ];
      for (const [name, base, got] of inputs) {
        const x = Float64Array.from(base);
        const fd = new Float64Array(x.length);
        for (let i = 0; i < x.length; i++) {
          const x0 = x[i]!;
          x[i] = x0 + h;
          const lp = name === 'dq' ? loss(x, ka, va) : name === 'dk' ? loss(qa, x, va) : loss(qa, ka, x);
          x[i] = x0 - h;
          const lm = name === 'dq' ? loss(x, ka, va) : name === 'dk' ? loss(qa, x, va) : loss(qa, ka, x);
          x[i] = x0;
          fd[i] = (lp - lm) / (2 * h);
        }
        const e = errors(got, fd);
        report.push(`${name} vs FD: ${fmt(e)}`);
        expect(e.maxAbs, `${c.name} seed ${SEED}: ${report.join('; ')}`).toBeLessThanOrEqual(1e-4 * Math.max(e.scale, 1e-3));
      }
      console.log(`${c.name} seed ${SEED}: ${report.join('; ')}`);
    });
  }
});

// ---------------------------------------------------------------------------------------------
describe(`padding invariance: garbage past the lengths changes nothing (seed ${SEED})`, () => {
  const garbage = [NaN, 1e30, -Infinity, Infinity, -3e38, NaN];
  for (const [D, causal] of [
    [64, true],
    [80, false],
  ] as Array<[number, boolean]>) {
    it(`D=${D} ${causal ? 'causal' : 'full'}: out, lse, dq, dk, dv identical; padded rows exactly zero`, () => {
      const d: Dims = { B: 3, S: 70, Sk: 135, H: 8, Hkv: 2, D };
      const kvLens = [135, 71, 0];
      const qLens = [70, 33, 5];
      const opts: AttentionOptions = { causal, kvLengths: kvLens, qLengths: qLens };
      const qa = randn(d.B * d.S * d.H * d.D);
      const ka = randn(d.B * d.Sk * d.Hkv * d.D);
      const va = randn(d.B * d.Sk * d.Hkv * d.D);
      const doa = randn(d.B * d.S * d.H * d.D);
      const dirty = (a: Float32Array, L: number, lens: number[], rowElems: number) => {
        const c = Float32Array.from(a);
        for (let b = 0; b < d.B; b++)
          for (let s = lens[b]!; s < L; s++)
            for (let x = 0; x < rowElems; x++) c[(b * L + s) * rowElems + x] = garbage[(s + x) % garbage.length]!;
        return c;
      };
      const run = (qx: Float32Array, kx: Float32Array, vx: Float32Array, dox: Float32Array, poison: boolean) => {
        const q = keep(f32(qx, [d.B, d.S, d.H, d.D]));
        const k = keep(f32(kx, [d.B, d.Sk, d.Hkv, d.D]));
        const v = keep(f32(vx, [d.B, d.Sk, d.Hkv, d.D]));
        const fw = keep2(attentionForward(q, k, v, opts));
        const outArr = fw.out.toArray();
        const lseArr = fw.lse.toArray();
        // The backward must not read out/lse rows past qLengths either.
        const outIn = keep(f32(poison ? dirty(outArr as Float32Array, d.S, qLens, d.H * d.D) : (outArr as Float32Array), [d.B, d.S, d.H, d.D]));
        const lseIn = Float32Array.from(lseArr);
        if (poison) for (let b = 0; b < d.B; b++) for (let h = 0; h < d.H; h++) for (let s = qLens[b]!; s < d.S; s++) lseIn[(b * d.H + h) * d.S + s] = NaN;
        const g = keep2(attentionBackward(keep(f32(dox, [d.B, d.S, d.H, d.D])), q, k, v, outIn, keep(f32(lseIn, [d.B, d.H, d.S])), opts));
        return { out: outArr, lse: lseArr, dq: g.dq.toArray(), dk: g.dk.toArray(), dv: g.dv.toArray() };
      };
      const clean = run(qa, ka, va, doa, false);
      const dirtyRun = run(dirty(qa, d.S, qLens, d.H * d.D), dirty(ka, d.Sk, kvLens, d.Hkv * d.D), dirty(va, d.Sk, kvLens, d.Hkv * d.D), dirty(doa, d.S, qLens, d.H * d.D), true);
      let compared = 0;
      for (const key of ['out', 'lse', 'dq', 'dk', 'dv'] as const) {
        const a = clean[key];
        const b = dirtyRun[key];
        for (let i = 0; i < a.length; i++) {
          if (!Object.is(a[i], b[i])) throw new Error(`${key}[${i}] differs with garbage in the padding: ${a[i]} vs ${b[i]} (seed ${SEED})`);
          compared++;
        }
      }
      // Padded positions: zeros (and -inf lse), in both runs (compared equal above).
      const qRow = d.H * d.D;
      const kRow = d.Hkv * d.D;
      const wrong: string[] = [];
      const want = (arr: ArrayLike<number>, i: number, v: number, what: string) => {
        if (!Object.is(arr[i], v) && wrong.length < 5) wrong.push(`${what}[${i}] = ${arr[i]}, expected ${v}`);
      };
      for (let b = 0; b < d.B; b++) {
        for (let s = qLens[b]!; s < d.S; s++)
          for (let x = 0; x < qRow; x++) {
            want(clean.out, (b * d.S + s) * qRow + x, 0, 'out');
            want(clean.dq, (b * d.S + s) * qRow + x, 0, 'dq');
          }
        for (let j = kvLens[b]!; j < d.Sk; j++)
          for (let x = 0; x < kRow; x++) {
            want(clean.dk, (b * d.Sk + j) * kRow + x, 0, 'dk');
            want(clean.dv, (b * d.Sk + j) * kRow + x, 0, 'dv');
          }
        for (let h = 0; h < d.H; h++) for (let s = qLens[b]!; s < d.S; s++) want(clean.lse, (b * d.H + h) * d.S + s, -Infinity, 'lse');
      }
      // Row 2 has kvLength 0: it sees no key at all.
      for (let s = 0; s < d.S; s++) for (let x = 0; x < qRow; x++) want(clean.out, (2 * d.S + s) * qRow + x, 0, 'out');
      expect(wrong, `padded positions (seed ${SEED})`).toEqual([]);
      console.log(`padding invariance D=${D}: ${compared} values compared bit for bit`);
    });
  }
});

// ---------------------------------------------------------------------------------------------
describe(`attentionDecode (seed ${SEED})`, () => {
  it('prefill + decode steps equal one causal forward over the whole sequence; lengths advance', () => {
    const B = 2;
    const H = 8;
    const Hkv = 2;
    const D = 64;
    const P = 37;
    const steps = [1, 1, 1, 1, 1, 1, 3];
    const T = P + steps.reduce((a, b) => a + b, 0);
    const Smax = 64;
    const qa = randn(B * T * H * D);
    const ka = randn(B * T * Hkv * D);
    const va = randn(B * T * Hkv * D);
    const slice = (a: Float32Array, heads: number, s0: number, n: number) => {
      const out = new Float32Array(B * n * heads * D);
      for (let b = 0; b < B; b++) out.set(a.subarray((b * T + s0) * heads * D, (b * T + s0 + n) * heads * D), b * n * heads * D);
      return keep(f32(out, [B, n, heads, D]));
    };
    // NaN everywhere the kernel has not written yet: decode must never read past the lengths.
    const kCache = keep(Tensor.full([B, Smax, Hkv, D], NaN));
    const vCache = keep(Tensor.full([B, Smax, Hkv, D], NaN));
    const lengths = keep(Tensor.fromArray(new Int32Array([0, 0]), [B]));
    const outs: Float32Array[] = [];
    let s0 = 0;
    for (const n of [P, ...steps]) {
      const o = keep(attentionDecode(slice(qa, H, s0, n), kCache, vCache, { cacheLengths: lengths, kNew: slice(ka, Hkv, s0, n), vNew: slice(va, Hkv, s0, n) }));
      expect(o.shape).toEqual([B, n, H, D]);
      outs.push(o.toArray() as Float32Array);
      s0 += n;
      expect(Array.from(lengths.toArray())).toEqual([s0, s0]);
    }
    const full = keep2(attentionForward(keep(f32(qa, [B, T, H, D])), keep(f32(ka, [B, T, Hkv, D])), keep(f32(va, [B, T, Hkv, D])), { causal: true }));
    const fo = full.out.toArray();
    // Reassemble the decode outputs in (B, T, H, D) order and compare.
    const dec = new Float32Array(B * T * H * D);
    let t0 = 0;
    [P, ...steps].forEach((n, i) => {
      for (let b = 0; b < B; b++) dec.set(outs[i]!.subarray(b * n * H * D, (b + 1) * n * H * D), (b * T + t0) * H * D);
      t0 += n;
    });
    const e = errors(dec, fo);
    console.log(`decode vs full forward: ${fmt(e)}`);
    expect(e.maxAbs, `seed ${SEED}: ${fmt(e)}`).toBeLessThanOrEqual(1e-6 * e.scale);
  });

  it('ragged batch (different cache lengths per row) against the float64 reference', () => {
    const d = { B: 3, H: 4, Hkv: 1, D: 80, Smax: 40 };
    const init = [5, 0, 19];
    const kCache = keep(Tensor.full([d.B, d.Smax, d.Hkv, d.D], NaN));
    const vCache = keep(Tensor.full([d.B, d.Smax, d.Hkv, d.D], NaN));
    const kd = kCache.data as Float32Array;
    const vd = vCache.data as Float32Array;
    for (let b = 0; b < d.B; b++) {
      kd.set(randn(init[b]! * d.Hkv * d.D), b * d.Smax * d.Hkv * d.D);
      vd.set(randn(init[b]! * d.Hkv * d.D), b * d.Smax * d.Hkv * d.D);
    }
    const lengths = keep(Tensor.fromArray(new Int32Array(init), [d.B]));
    const cur = [...init];
    for (const n of [1, 1, 2, 1]) {
      const qa = randn(d.B * n * d.H * d.D);
      const out = keep(
        attentionDecode(keep(f32(qa, [d.B, n, d.H, d.D])), kCache, vCache, {
          cacheLengths: lengths,
          kNew: keep(f32(randn(d.B * n * d.Hkv * d.D), [d.B, n, d.Hkv, d.D])),
          vNew: keep(f32(randn(d.B * n * d.Hkv * d.D), [d.B, n, d.Hkv, d.D])),
          scale: 0.3,
        }),
      );
      for (let b = 0; b < d.B; b++) cur[b]! += n;
      expect(Array.from(lengths.toArray())).toEqual(cur);
      const ref = refForward(qa, kCache.toArray(), vCache.toArray(), { B: d.B, S: n, Sk: d.Smax, H: d.H, Hkv: d.Hkv, D: d.D }, { causal: true, scale: 0.3, kvLens: cur });
      const e = errors(out.toArray(), ref.out);
      expect(e.maxAbs, `ragged decode Snew=${n} lengths ${cur} seed ${SEED}: ${fmt(e)}`).toBeLessThanOrEqual(1e-5 * e.scale);
    }
  });

  it('a step that would overflow a row throws a RangeError and changes nothing', () => {
    const kCache = keep(Tensor.zeros([2, 4, 1, 16]));
    const vCache = keep(Tensor.zeros([2, 4, 1, 16]));
    const lengths = keep(Tensor.fromArray(new Int32Array([1, 3]), [2]));
    const kNew = keep(Tensor.full([2, 2, 1, 16], 1));
    const q = keep(Tensor.full([2, 2, 2, 16], 1));
    expect(() => attentionDecode(q, kCache, vCache, { cacheLengths: lengths, kNew, vNew: kNew })).toThrow(
      /attentionDecode: the cache of row 1 is full: cacheLengths\[1\] = 3 plus Snew=2 new entries exceeds Smax=4/,
    );
    expect(Array.from(lengths.toArray())).toEqual([1, 3]);
    expect((kCache.toArray() as Float32Array).every((x) => x === 0)).toBe(true);
    expect(() => attentionDecode(q, kCache, vCache, { cacheLengths: keep(Tensor.fromArray([0, 0], [2])), kNew, vNew: kNew })).toThrow(TypeError);
  });

  it('kCache and vCache that share storage are refused before anything is written', () => {
    const cache = keep(Tensor.zeros([2, 4, 1, 16]));
    const lengths = keep(Tensor.fromArray(new Int32Array([0, 0]), [2]));
    const kNew = keep(Tensor.full([2, 1, 1, 16], 1));
    const q = keep(Tensor.full([2, 1, 2, 16], 1));
    expect(() => attentionDecode(q, cache, cache, { cacheLengths: lengths, kNew, vNew: kNew })).toThrow(/kCache and vCache share storage/);
    const view = keep(cache.reshape([2, 4, 1, 16]));
    expect(() => attentionDecode(q, cache, view, { cacheLengths: lengths, kNew, vNew: kNew })).toThrow(/share storage/);
    expect(Array.from(lengths.toArray())).toEqual([0, 0]);
    expect((cache.toArray() as Float32Array).every((x) => x === 0)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
describe(`SIMD levels and the unfused baseline (seed ${SEED})`, () => {
  const levels = ['scalar', 'avx2', 'avx512'] as const;
  for (const level of levels) {
    it(`${level}: forward and backward match the float64 reference`, () => {
      const before = native().buildInfo().simd as (typeof levels)[number];
      const got = native().setSimdLevel(level);
      try {
        const c: Case = { B: 2, S: 45, Sk: 77, H: 6, Hkv: 2, D: 40, causal: true, lengths: 'both' };
        const x = makeInputs(c);
        const fw = keep2(attentionForward(x.q, x.k, x.v, x.opts));
        const doa = randn(c.B * c.S * c.H * c.D);
        const g = keep2(attentionBackward(keep(f32(doa, [c.B, c.S, c.H, c.D])), x.q, x.k, x.v, fw.out, fw.lse, x.opts));
        const rf = refForward(x.qa, x.ka, x.va, x.d, x.ro);
        const rb = refBackward(doa, x.qa, x.ka, x.va, x.d, x.ro);
        const e = {
          out: errors(fw.out.toArray(), rf.out),
          dq: errors(g.dq.toArray(), rb.dq, undefined, rb.mag.dq),
          dk: errors(g.dk.toArray(), rb.dk, undefined, rb.mag.dk),
          dv: errors(g.dv.toArray(), rb.dv, undefined, rb.mag.dv),
        };
        const msg = `level ${got} (asked ${level}) seed ${SEED}: out ${fmt(e.out)}; dq ${fmt(e.dq)}; dk ${fmt(e.dk)}; dv ${fmt(e.dv)}`;
        expect(e.out.maxAbs, msg).toBeLessThanOrEqual(FWD_TOL * e.out.scale);
        for (const key of ['dq', 'dk', 'dv'] as const) expect(e[key].maxAbs, msg).toBeLessThanOrEqual(BWD_TOL * e[key].scale);
        console.log(msg);
      } finally {
        native().setSimdLevel(before);
      }
    });
  }

  it('unfused baseline gives the fused results (forward and backward)', () => {
    const c: Case = { B: 2, S: 70, Sk: 100, H: 4, Hkv: 2, D: 64, causal: true, lengths: 'both' };
    const x = makeInputs(c);
    const a = keep2(attentionForward(x.q, x.k, x.v, x.opts));
    const n = keep2(attentionNaiveForward(x.q, x.k, x.v, x.opts));
    const dO = keep(f32(randn(c.B * c.S * c.H * c.D), [c.B, c.S, c.H, c.D]));
    const ga = keep2(attentionBackward(dO, x.q, x.k, x.v, a.out, a.lse, x.opts));
    const gn = keep2(attentionNaiveBackward(dO, x.q, x.k, x.v, a.out, a.lse, x.opts));
    const pairs: Array<[string, Tensor, Tensor]> = [
      ['out', a.out, n.out],
      ['dq', ga.dq, gn.dq],
      ['dk', ga.dk, gn.dk],
      ['dv', ga.dv, gn.dv],
    ];
    for (const [name, f, u] of pairs) {
      const e = errors(f.toArray(), u.toArray());
      expect(e.maxAbs, `${name} fused vs unfused: ${fmt(e)}`).toBeLessThanOrEqual(2e-5 * e.scale);
    }
    const nl = n.lse.toArray();
    const el = errors(a.lse.toArray(), nl, (i) => Number.isFinite(nl[i]!));
    expect(el.maxAbs).toBeLessThanOrEqual(1e-5 * Math.max(1, el.scale));
  });
});

// ---------------------------------------------------------------------------------------------
describe('argument errors name the function, the tensor and what was expected', () => {
  const q = keep(Tensor.zeros([2, 5, 4, 64]));
  const k = keep(Tensor.zeros([2, 7, 2, 64]));
  const v = keep(Tensor.zeros([2, 7, 2, 64]));
  it('shapes', () => {
    const bad = keep(Tensor.zeros([2, 7, 3, 32]));
    expect(() => attentionForward(q, bad, bad)).toThrow(RangeError);
    expect(() => attentionForward(q, bad, bad)).toThrow('attentionForward: k must have shape (B=2, Sk, Hkv, D=64), got (2, 7, 3, 32)');
    expect(() => attentionForward(q, k, keep(Tensor.zeros([2, 6, 2, 64])))).toThrow(/attentionForward: v must have the shape of k \(2, 7, 2, 64\), got \(2, 6, 2, 64\)/);
    expect(() => attentionForward(q, keep(Tensor.zeros([2, 7, 3, 64])), keep(Tensor.zeros([2, 7, 3, 64])))).toThrow(/H=4 heads, which must be a multiple of the Hkv=3/);
    expect(() => attentionForward(keep(Tensor.zeros([2, 5, 64])), k, v)).toThrow(/attentionForward: q must have shape \(B, S, H, D\)/);
    const big = keep(Tensor.zeros([1, 1, 1, 257]));
    expect(() => attentionForward(big, big, big)).toThrow(/head dim D must be in \[1, 256\], got 257/);
  });
  it('dtypes and types', () => {
    expect(() => attentionForward(q, k.cast('bf16'), v)).toThrow(TypeError);
    const qb = keep(q.cast('bf16'));
    expect(() => attentionForward(qb, keep(k.cast('bf16')), keep(v.cast('bf16')))).toThrow(/bf16 attention runs on CUDA only/);
    expect(() => attentionForward(q, k, {} as Tensor)).toThrow(/attentionForward: v must be a Tensor/);
    expect(() => attentionForward(q, k, v, 'causal' as unknown as AttentionOptions)).toThrow(/options must be an object/);
    expect(() => attentionForward(q, k, v, { causal: 1 as unknown as boolean })).toThrow(/causal must be a boolean/);
    expect(() => attentionForward(q, k, v, { scale: NaN })).toThrow(RangeError);
  });
  it('lengths', () => {
    expect(() => attentionForward(q, k, v, { kvLengths: [7, 9] })).toThrow('attentionForward: kvLengths[1] = 9 is out of range [0, Sk=7]');
    expect(() => attentionForward(q, k, v, { qLengths: [6, 1] })).toThrow(/qLengths\[0\] = 6 is out of range \[0, S=5\]/);
    expect(() => attentionForward(q, k, v, { kvLengths: [7] })).toThrow(/kvLengths must have shape \(B=2,\), got \(1,\)/);
    expect(() => attentionForward(q, k, v, { kvLengths: [1.5, 2] })).toThrow(TypeError);
    expect(() => attentionForward(q, k, v, { kvLengths: [-1, 2] })).toThrow(RangeError);
    expect(() => attentionForward(q, k, v, { kvLengths: keep(Tensor.fromArray([1, 2], [2])) })).toThrow(/kvLengths must have dtype i32, got f32/);
    // i32 tensors and Int32Array are accepted as well as arrays.
    const a = keep2(attentionForward(q, k, v, { kvLengths: keep(Tensor.fromArray(new Int32Array([3, 7]), [2])) }));
    const b = keep2(attentionForward(q, k, v, { kvLengths: new Int32Array([3, 7]) }));
    expect(Array.from(a.out.toArray())).toEqual(Array.from(b.out.toArray()));
  });
  it('backward arguments', () => {
    const fw = keep2(attentionForward(q, k, v));
    expect(() => attentionBackward(keep(Tensor.zeros([2, 5, 4, 32])), q, k, v, fw.out, fw.lse)).toThrow(/attentionBackward: dOut must have the shape of q \(2, 5, 4, 64\)/);
    expect(() => attentionBackward(fw.out, q, k, v, fw.out, keep(Tensor.zeros([2, 5, 4])))).toThrow(/attentionBackward: lse must have shape \(B, H, S\) = \(2, 4, 5\), got \(2, 5, 4\)/);
    expect(() => attentionBackward(fw.out, q, k, v, fw.out, fw.out)).toThrow(/lse must have shape/);
  });
});

// ---------------------------------------------------------------------------------------------
const cuda = cudaAvailable();
describe(`CUDA vs CPU${cuda.available ? '' : ` (skipped: ${cuda.reason})`}`, () => {
  const cases: Case[] = [
    { B: 2, S: 129, Sk: 257, H: 8, Hkv: 2, D: 64, causal: true, lengths: 'both' },
    { B: 3, S: 33, Sk: 33, H: 4, Hkv: 4, D: 80, causal: false, lengths: 'kv' },
    { B: 1, S: 7, Sk: 129, H: 8, Hkv: 1, D: 128, causal: true, lengths: 'none' },
    { B: 1, S: 65, Sk: 70, H: 2, Hkv: 1, D: 256, causal: false, lengths: 'q' },
    { B: 2, S: 40, Sk: 40, H: 2, Hkv: 2, D: 16, causal: true, lengths: 'none' },
  ];
  for (const dtype of ['f32', 'bf16'] as const)
    for (const c of cases) {
      it.skipIf(!cuda.available)(`${dtype} ${describeCase(c)}: forward, backward`, () => {
        const x = makeInputs(c);
        const dev = 'cuda:0' as const;
        const toDev = (t: Tensor) => keep(dtype === 'f32' ? t.to(dev) : keep(t.cast('bf16')).to(dev));
        // CPU reference on the same (bf16-rounded where applicable) values.
        const asCpu = (t: Tensor) => keep(dtype === 'f32' ? t : keep(t.cast('bf16')).cast('f32'));
        const [qc, kc, vc] = [asCpu(x.q), asCpu(x.k), asCpu(x.v)];
        const dOc = asCpu(keep(f32(randn(c.B * c.S * c.H * c.D), [c.B, c.S, c.H, c.D])));
        const cf = keep2(attentionForward(qc, kc, vc, x.opts));
        const cb = keep2(attentionBackward(dOc, qc, kc, vc, cf.out, cf.lse, x.opts));
        const [qg, kg, vg, dOg] = [toDev(qc), toDev(kc), toDev(vc), toDev(dOc)];
        const gf = keep2(attentionForward(qg, kg, vg, x.opts));
        const gb = keep2(attentionBackward(dOg, qg, kg, vg, gf.out, gf.lse, x.opts));
        expect(gf.out.dtype).toBe(dtype);
        // bf16 outputs are rounded to 8 bits of mantissa: 2^-8 relative, plus f32-vs-f32 noise.
        const tol = dtype === 'f32' ? 2e-5 : 1.6e-2;
        const pairs: Array<[string, Tensor, Tensor]> = [
          ['out', gf.out, cf.out],
          ['dq', gb.dq, cb.dq],
          ['dk', gb.dk, cb.dk],
          ['dv', gb.dv, cb.dv],
        ];
        const msgs: string[] = [];
        for (const [name, g, r] of pairs) {
          const e = errors(g.toArray(), r.toArray());
          msgs.push(`${name} ${fmt(e)}`);
          expect(e.maxAbs, `${dtype} ${describeCase(c)} ${name}: ${fmt(e)}`).toBeLessThanOrEqual(tol * Math.max(e.scale, 1e-6));
        }
        const cl = cf.lse.toArray();
        const el = errors(gf.lse.toArray(), cl, (i) => Number.isFinite(cl[i]!));
        expect(el.maxAbs).toBeLessThanOrEqual((dtype === 'f32' ? 1e-5 : 1e-3) * Math.max(1, el.scale));
        console.log(`CUDA ${dtype} ${describeCase(c)}: ${msgs.join('; ')}`);
      });
    }
  it.skipIf(!cuda.available)('decode on CUDA (split-KV, and the forward kernel for 12 new tokens) matches CPU decode, f32 and bf16', () => {
    for (const dtype of ['f32', 'bf16'] as const) {
      const B = 3;
      const H = 8;
      const Hkv = 2;
      const D = 128;
      const Smax = 3000;
      const init = [2500, 17, 0];
      const mk = (shape: number[]) => keep(f32(randn(shape.reduce((a, b) => a * b, 1)), shape));
      const round = (t: Tensor) => (dtype === 'f32' ? t : keep(keep(t.cast('bf16')).cast('f32')));
      const kc = round(mk([B, Smax, Hkv, D]));
      const vc = round(mk([B, Smax, Hkv, D]));
      const lc = keep(Tensor.fromArray(new Int32Array(init), [B]));
      const lg = keep(lc.to('cuda:0'));
      const dev = (t: Tensor) => keep(dtype === 'f32' ? t.to('cuda:0') : keep(t.cast('bf16')).to('cuda:0'));
      const kg = dev(kc);
      const vg = dev(vc);
      for (const n of [1, 1, 4, 12]) {
        const q = round(mk([B, n, H, D]));
        const kn = round(mk([B, n, Hkv, D]));
        const vn = round(mk([B, n, Hkv, D]));
        const oc = keep(attentionDecode(q, kc, vc, { cacheLengths: lc, kNew: kn, vNew: vn }));
        const og = keep(attentionDecode(dev(q), kg, vg, { cacheLengths: lg, kNew: dev(kn), vNew: dev(vn) }));
        expect(Array.from(lg.toArray())).toEqual(Array.from(lc.toArray()));
        const e = errors(og.toArray(), oc.toArray());
        expect(e.maxAbs, `decode ${dtype} Snew=${n}: ${fmt(e)}`).toBeLessThanOrEqual((dtype === 'f32' ? 2e-5 : 1.6e-2) * e.scale);
      }
    }
  });
});
