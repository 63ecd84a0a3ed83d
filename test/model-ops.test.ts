// Model ops against float64 references (fresh random inputs of awkward sizes), backward passes
// against central finite differences of the float64 forward, bf16 paths, determinism of the
// reductions, CUDA-vs-CPU parity where a GPU exists, and the errors bad input gets.
import { describe, expect, it } from 'vitest';
import { Tensor, cudaAvailable, native } from '../lib/index.js';
import {
  adamwStep,
  addBias,
  addInPlace,
  clipGradNorm,
  embeddingBackward,
  embeddingForward,
  geluBackward,
  geluForward,
  gradNorm,
  layernormBackward,
  layernormForward,
  patchEmbed,
  patchEmbedBackward,
  rmsnormBackward,
  rmsnormForward,
  ropeBackward,
  ropeForward,
  sumRows,
  sumSquares,
  swigluBackward,
  swigluForward,
} from '../lib/kernels/model-ops.js';

let seed = (Date.now() % 1_000_000) + 7;
function rand(n: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    out[i] = lo + ((hi - lo) * seed) / 2147483648;
  }
  return out;
}
function randInt(n: number, hi: number): Int32Array {
  return Int32Array.from(rand(n, 0, hi), (v) => Math.min(hi - 1, Math.floor(v)));
}
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
const t32 = (a: Float32Array, shape: number[], dtype: 'f32' | 'bf16' = 'f32') => Tensor.fromArray(a, shape, { dtype });

/** max |got − ref| and max of |got − ref| / (atol + rtol·|ref|) (≤ 1 passes). */
function compare(got: ArrayLike<number>, ref: ArrayLike<number>, atol: number, rtol: number) {
  expect(got.length).toBe(ref.length);
  let maxErr = 0;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(got[i]! - ref[i]!);
    maxErr = Math.max(maxErr, Number.isNaN(e) ? Infinity : e);
    worst = Math.max(worst, Number.isNaN(e) ? Infinity : e / (atol + rtol * Math.abs(ref[i]!)));
  }
  return { maxErr, worst };
}
function expectClose(got: ArrayLike<number>, ref: ArrayLike<number>, atol: number, rtol: number, what: string) {
  const r = compare(got, ref, atol, rtol);
  if (r.worst > 1) throw new Error(`${what}: max error ${r.maxErr.toExponential(3)} exceeds atol ${atol} + rtol ${rtol}·|ref|`);
  return r.maxErr;
}

/**
 * Gradient of L = Σ F(inputs)·c with respect to inputs[which], by central differences in float64.
 */
function numericGrad(F: (inputs: Float64Array[]) => Float64Array, inputs: Float64Array[], c: Float64Array, which: number, h = 1e-6) {
  const x = inputs[which]!;
  const g = new Float64Array(x.length);
  const L = () => F(inputs).reduce((s, v, i) => s + v * c[i]!, 0);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i]!;
    x[i] = keep + h;
    const lp = L();
    x[i] = keep - h;
    const lm = L();
    x[i] = keep;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

// ---------------------------------------------------------------------------------------------
// float64 references
function rmsnormRef([x, w]: Float64Array[], rows: number, d: number, eps: number) {
  const y = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x![r * d + j]! ** 2;
    const rs = 1 / Math.sqrt(ss / d + eps);
    for (let j = 0; j < d; j++) y[r * d + j] = x![r * d + j]! * rs * w![j]!;
  }
  return y;
}
function layernormRef([x, w, b]: Float64Array[], rows: number, d: number, eps: number) {
  const y = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x![r * d + j]!;
    const mu = s / d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x![r * d + j]! - mu) ** 2;
    const rs = 1 / Math.sqrt(v / d + eps);
    for (let j = 0; j < d; j++) y[r * d + j] = (x![r * d + j]! - mu) * rs * w![j]! + b![j]!;
  }
  return y;
}
interface RopeCfg {
  B: number;
  S: number;
  H: number;
  D: number;
  pos: (b: number, s: number) => number;
  base: number;
  rd: number;
  interleaved: boolean;
}
function ropeRef(x: Float64Array, c: RopeCfg, sign = 1) {
  const y = Float64Array.from(x);
  const half = c.rd / 2;
  for (let b = 0; b < c.B; b++)
    for (let s = 0; s < c.S; s++)
      for (let hh = 0; hh < c.H; hh++) {
        const o = ((b * c.S + s) * c.H + hh) * c.D;
        for (let i = 0; i < half; i++) {
          const ang = c.pos(b, s) * Math.pow(c.base, (-2 * i) / c.rd);
          const cs = Math.cos(ang);
          const sn = sign * Math.sin(ang);
          const i0 = c.interleaved ? 2 * i : i;
          const i1 = c.interleaved ? 2 * i + 1 : i + half;
          y[o + i0] = x[o + i0]! * cs - x[o + i1]! * sn;
          y[o + i1] = x[o + i1]! * cs + x[o + i0]! * sn;
        }
      }
  return y;
}
const silu = (g: number) => g / (1 + Math.exp(-g));
function swigluRef([g, u]: Float64Array[]) {
  return g!.map((v, i) => silu(v) * u![i]!);
}
function geluRef([x]: Float64Array[]) {
  return x!.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
}

// ---------------------------------------------------------------------------------------------

describe('RMSNorm', () => {
  it('forward vs float64 (awkward D, f32 and bf16)', () => {
    let maxErr = 0;
    for (const [rows, d] of [
      [1, 1],
      [7, 33],
      [65, 80],
      [300, 129],
    ] as Array<[number, number]>) {
      const x = rand(rows * d, -2, 2);
      const w = rand(d, 0.5, 1.5);
      const { y, rstd } = rmsnormForward(t32(x, [rows, d]), t32(w, [d]), { eps: 1e-5 });
      expect(rstd.shape).toEqual([rows]);
      maxErr = Math.max(maxErr, expectClose(y.toArray(), rmsnormRef([f64(x), f64(w)], rows, d, 1e-5), 1e-6, 1e-5, 'rmsnorm f32'));
      // bf16: the reference sees the rounded inputs; the kernel rounds the output once.
      const xb = t32(x, [rows, d], 'bf16');
      const wb = t32(w, [d], 'bf16');
      const yb = rmsnormForward(xb, wb, { eps: 1e-5 }).y;
      expect(yb.dtype).toBe('bf16');
      expectClose(yb.toArray(), rmsnormRef([f64(xb.toArray()), f64(wb.toArray())], rows, d, 1e-5), 1e-3, 8e-3, 'rmsnorm bf16');
    }
    console.log(`rmsnorm forward max abs error ${maxErr.toExponential(2)}`);
  });

  it('backward vs finite differences (dx, dw), and accumulate', () => {
    const rows = 5;
    const d = 7;
    const x = rand(rows * d, -2, 2);
    const w = rand(d, 0.5, 1.5);
    const c = rand(rows * d);
    const xt = t32(x, [rows, d]);
    const wt = t32(w, [d]);
    const { rstd } = rmsnormForward(xt, wt, { eps: 1e-5 });
    const { dx, dw } = rmsnormBackward(t32(c, [rows, d]), xt, wt, rstd);
    const F = (inp: Float64Array[]) => rmsnormRef(inp, rows, d, 1e-5);
    const inputs = [f64(x), f64(w)];
    const e1 = expectClose(dx.toArray(), numericGrad(F, inputs, f64(c), 0), 1e-5, 1e-4, 'rmsnorm dx');
    const e2 = expectClose(dw.toArray(), numericGrad(F, inputs, f64(c), 1), 1e-5, 1e-4, 'rmsnorm dw');
    // accumulate adds into dw
    const dw2 = Tensor.fromArray(new Float32Array(d).fill(1), [d]);
    rmsnormBackward(t32(c, [rows, d]), xt, wt, rstd, { dw: dw2, accumulate: true });
    expectClose(dw2.toArray(), Array.from(dw.toArray(), (v) => v + 1), 1e-6, 1e-6, 'rmsnorm dw accumulate');
    console.log(`rmsnorm backward vs finite differences: dx ${e1.toExponential(2)}, dw ${e2.toExponential(2)}`);
  });

  it('large row counts give bit-identical gradients on every call (fixed reduction order)', () => {
    const rows = 3000;
    const d = 64;
    const x = t32(rand(rows * d), [rows, d]);
    const w = t32(rand(d), [d]);
    const dy = t32(rand(rows * d), [rows, d]);
    const { rstd } = rmsnormForward(x, w);
    const a = rmsnormBackward(dy, x, w, rstd).dw.toArray();
    const b = rmsnormBackward(dy, x, w, rstd).dw.toArray();
    expect(Array.from(a)).toEqual(Array.from(b));
    // and the sum itself is right
    const ref = new Float64Array(d);
    const xs = x.toArray();
    const dys = dy.toArray();
    const rs = rstd.toArray();
    for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) ref[j]! += dys[r * d + j]! * xs[r * d + j]! * rs[r]!;
    expectClose(a, ref, 1e-4, 1e-5, 'rmsnorm dw, 3000 rows');
  });
});

describe('LayerNorm', () => {
  it('forward vs float64', () => {
    let maxErr = 0;
    for (const [rows, d] of [
      [3, 2],
      [17, 31],
      [129, 96],
    ] as Array<[number, number]>) {
      const x = rand(rows * d, -3, 1);
      const w = rand(d);
      const b = rand(d);
      const { y, mean, rstd } = layernormForward(t32(x, [rows, d]), t32(w, [d]), t32(b, [d]));
      expect(mean.shape).toEqual([rows]);
      expect(rstd.dtype).toBe('f32');
      maxErr = Math.max(maxErr, expectClose(y.toArray(), layernormRef([f64(x), f64(w), f64(b)], rows, d, 1e-5), 1e-5, 1e-5, 'layernorm'));
    }
    console.log(`layernorm forward max abs error ${maxErr.toExponential(2)}`);
  });

  it('backward vs finite differences (dx, dw, db)', () => {
    const shape = [2, 3, 6];
    const rows = 6;
    const d = 6;
    const x = rand(rows * d, -2, 2);
    const w = rand(d);
    const b = rand(d);
    const c = rand(rows * d);
    const xt = t32(x, shape);
    const wt = t32(w, [d]);
    const { mean, rstd } = layernormForward(xt, wt, t32(b, [d]));
    expect(mean.shape).toEqual([2, 3]);
    const g = layernormBackward(t32(c, shape), xt, wt, mean, rstd);
    const F = (inp: Float64Array[]) => layernormRef(inp, rows, d, 1e-5);
    const inputs = [f64(x), f64(w), f64(b)];
    const errs = [
      expectClose(g.dx.toArray(), numericGrad(F, inputs, f64(c), 0), 1e-5, 1e-4, 'layernorm dx'),
      expectClose(g.dw.toArray(), numericGrad(F, inputs, f64(c), 1), 1e-5, 1e-4, 'layernorm dw'),
      expectClose(g.db.toArray(), numericGrad(F, inputs, f64(c), 2), 1e-5, 1e-4, 'layernorm db'),
    ];
    console.log(`layernorm backward vs finite differences: ${errs.map((e) => e.toExponential(2)).join(', ')}`);
  });
});

describe('RoPE', () => {
  const cases: Array<Omit<RopeCfg, 'pos'> & { offsets: boolean }> = [
    { B: 2, S: 5, H: 3, D: 16, base: 10000, rd: 16, interleaved: false, offsets: true },
    { B: 3, S: 4, H: 2, D: 80, base: 500000, rd: 80, interleaved: true, offsets: false },
    { B: 1, S: 7, H: 1, D: 34, base: 10000, rd: 20, interleaved: false, offsets: false },
  ];
  it('forward vs float64: half and interleaved pairs, offsets and explicit positions, partial rotaryDim', () => {
    let maxErr = 0;
    for (const cs of cases) {
      const { B, S, H, D } = cs;
      const offs = Int32Array.from({ length: B }, (_, b) => 1000 * b + 3);
      const explicit = randInt(B * S, 4096);
      const pos = cs.offsets ? (b: number, s: number) => offs[b]! + s : (b: number, s: number) => explicit[b * S + s]!;
      const posT = cs.offsets ? Tensor.fromArray(offs, [B]) : Tensor.fromArray(explicit, [B, S]);
      const x = rand(B * S * H * D);
      const y = ropeForward(t32(x, [B, S, H, D]), posT, { base: cs.base, rotaryDim: cs.rd, interleaved: cs.interleaved });
      const ref = ropeRef(f64(x), { ...cs, pos });
      maxErr = Math.max(maxErr, expectClose(y.toArray(), ref, 2e-6, 1e-5, 'rope'));
      // in place gives the same values
      const xt = t32(x, [B, S, H, D]);
      const same = ropeForward(xt, posT, { base: cs.base, rotaryDim: cs.rd, interleaved: cs.interleaved, inPlace: true });
      expect(same).toBe(xt);
      expect(Array.from(xt.toArray())).toEqual(Array.from(y.toArray()));
      // bf16
      const xb = t32(x, [B, S, H, D], 'bf16');
      const yb = ropeForward(xb, posT, { base: cs.base, rotaryDim: cs.rd, interleaved: cs.interleaved });
      expectClose(yb.toArray(), ropeRef(f64(xb.toArray()), { ...cs, pos }), 1e-2, 1e-2, 'rope bf16');
    }
    console.log(`rope forward max abs error ${maxErr.toExponential(2)}`);
  });

  it('decode with an offset equals the matching row of a full-sequence call', () => {
    const [B, S, H, D] = [2, 9, 2, 32];
    const x = rand(B * S * H * D);
    const full = ropeForward(t32(x, [B, S, H, D]), Tensor.fromArray(new Int32Array([0, 0]), [B])).toArray();
    const step = new Float32Array(B * H * D);
    for (let b = 0; b < B; b++) step.set(x.subarray((b * S + S - 1) * H * D, (b * S + S) * H * D), b * H * D);
    const one = ropeForward(t32(step, [B, 1, H, D]), Tensor.fromArray(new Int32Array([S - 1, S - 1]), [B])).toArray();
    for (let b = 0; b < B; b++)
      for (let e = 0; e < H * D; e++) expect(one[b * H * D + e]).toBe(full[(b * S + S - 1) * H * D + e]);
  });

  it('backward vs finite differences', () => {
    for (const cs of cases) {
      const { B, S, H, D } = cs;
      const explicit = randInt(B * S, 300);
      const pos = (b: number, s: number) => explicit[b * S + s]!;
      const posT = Tensor.fromArray(explicit, [B, S]);
      const x = rand(B * S * H * D);
      const c = rand(B * S * H * D);
      const dx = ropeBackward(t32(c, [B, S, H, D]), posT, { base: cs.base, rotaryDim: cs.rd, interleaved: cs.interleaved });
      const num = numericGrad((inp) => ropeRef(inp[0]!, { ...cs, pos }), [f64(x)], f64(c), 0);
      const e = expectClose(dx.toArray(), num, 1e-5, 1e-4, 'rope dx');
      expect(e).toBeLessThan(1e-4);
    }
  });
});

describe('SwiGLU and GELU', () => {
  it('forward vs float64 (f32 and bf16)', () => {
    const nEl = 1037;
    const g = rand(nEl, -8, 8);
    const u = rand(nEl, -2, 2);
    const e1 = expectClose(swigluForward(t32(g, [nEl]), t32(u, [nEl])).toArray(), swigluRef([f64(g), f64(u)]), 1e-6, 1e-5, 'swiglu');
    const e2 = expectClose(geluForward(t32(g, [17, 61])).toArray(), geluRef([f64(g)]), 1e-6, 1e-5, 'gelu');
    const gb = t32(g, [nEl], 'bf16');
    const ub = t32(u, [nEl], 'bf16');
    expectClose(swigluForward(gb, ub).toArray(), swigluRef([f64(gb.toArray()), f64(ub.toArray())]), 1e-3, 8e-3, 'swiglu bf16');
    expectClose(geluForward(gb).toArray(), geluRef([f64(gb.toArray())]), 1e-3, 8e-3, 'gelu bf16');
    console.log(`swiglu max abs error ${e1.toExponential(2)}, gelu ${e2.toExponential(2)}`);
  });

  it('backward vs finite differences', () => {
    const nEl = 203;
    const g = rand(nEl, -6, 6);
    const u = rand(nEl, -2, 2);
    const c = rand(nEl);
    const r = swigluBackward(t32(c, [nEl]), t32(g, [nEl]), t32(u, [nEl]));
    const inputs = [f64(g), f64(u)];
    const e1 = expectClose(r.dgate.toArray(), numericGrad(swigluRef, inputs, f64(c), 0), 1e-5, 1e-4, 'swiglu dgate');
    const e2 = expectClose(r.dup.toArray(), numericGrad(swigluRef, inputs, f64(c), 1), 1e-5, 1e-4, 'swiglu dup');
    const dx = geluBackward(t32(c, [nEl]), t32(g, [nEl]));
    const e3 = expectClose(dx.toArray(), numericGrad(geluRef, [f64(g)], f64(c), 0), 1e-5, 1e-4, 'gelu dx');
    // dgate may overwrite dout in place
    const dout = t32(c, [nEl]);
    swigluBackward(dout, t32(g, [nEl]), t32(u, [nEl]), { dgate: dout });
    expect(Array.from(dout.toArray())).toEqual(Array.from(r.dgate.toArray()));
    console.log(`swiglu/gelu backward errors ${[e1, e2, e3].map((e) => e.toExponential(2)).join(', ')}`);
  });
});

describe('every SIMD level (the row and elementwise loops are compiled per level)', () => {
  it('norms, activations and AdamW agree with float64 at scalar, avx2 and avx512', () => {
    const best = native().buildInfo().simd as 'scalar' | 'avx2' | 'avx512';
    const [rows, d] = [37, 83];
    const x = rand(rows * d, -3, 3);
    const w = rand(d);
    const b = rand(d);
    const c = rand(rows * d);
    const nEl = rows * d;
    try {
      for (const level of ['scalar', 'avx2', 'avx512'] as const) {
        const used = native().setSimdLevel(level);
        const xt = t32(x, [rows, d]);
        const wt = t32(w, [d]);
        const { y, rstd } = rmsnormForward(xt, wt);
        expectClose(y.toArray(), rmsnormRef([f64(x), f64(w)], rows, d, 1e-6), 1e-6, 1e-5, `rmsnorm ${used}`);
        const F = (inp: Float64Array[]) => rmsnormRef(inp, rows, d, 1e-6);
        const g = rmsnormBackward(t32(c, [rows, d]), xt, wt, rstd);
        // float64 analytic gradient through the reference (finite differences are checked above)
        const num = numericGrad(F, [f64(x), f64(w)], f64(c), 1);
        expectClose(g.dw.toArray(), num, 1e-4, 1e-4, `rmsnorm dw ${used}`);
        const ln = layernormForward(xt, wt, t32(b, [d]));
        expectClose(ln.y.toArray(), layernormRef([f64(x), f64(w), f64(b)], rows, d, 1e-5), 1e-5, 1e-5, `layernorm ${used}`);
        expectClose(swigluForward(xt, t32(c, [rows, d])).toArray(), swigluRef([f64(x), f64(c)]), 1e-6, 1e-5, `swiglu ${used}`);
        expectClose(geluForward(xt).toArray(), geluRef([f64(x)]), 1e-6, 1e-5, `gelu ${used}`);
        const sb = swigluBackward(t32(c, [nEl]), t32(x, [nEl]), t32(c, [nEl]));
        const ref = x.map((gv, i) => {
          const sg = 1 / (1 + Math.exp(-gv));
          return c[i]! * c[i]! * sg * (1 + gv * (1 - sg));
        });
        expectClose(sb.dgate.toArray(), ref, 1e-6, 1e-5, `swiglu dgate ${used}`);
        const param = t32(x, [nEl]);
        const m = Tensor.zeros([nEl]);
        const v = Tensor.zeros([nEl]);
        adamwStep(param, t32(c, [nEl]), m, v, { step: 1, lr: 0.1, weightDecay: 0 });
        // step 1 with zero state: p − lr·g/(|g| + eps) = p − lr·sign(g)
        expectClose(param.toArray(), Array.from(x, (p, i) => p - 0.1 * Math.sign(c[i]!) * (Math.abs(c[i]!) / (Math.abs(c[i]!) + 1e-8))), 1e-6, 1e-5, `adamw ${used}`);
      }
    } finally {
      native().setSimdLevel(best);
    }
  });

  it('activations at extreme inputs: saturate cleanly, NaN propagates', () => {
    const g = Float32Array.from([-100, -30, -1e-4, 0, 1e-4, 30, 100, Number.NaN]);
    const u = new Float32Array(g.length).fill(2);
    const out = swigluForward(t32(g, [g.length]), t32(u, [g.length])).toArray();
    const ref = swigluRef([f64(g), f64(u)]);
    for (let i = 0; i < g.length - 1; i++) expect(Math.abs(out[i]! - ref[i]!)).toBeLessThanOrEqual(1e-6 + 1e-6 * Math.abs(ref[i]!));
    expect(Number.isNaN(out[g.length - 1]!)).toBe(true);
    const ge = geluForward(t32(g, [g.length])).toArray();
    const gr = geluRef([f64(g)]);
    for (let i = 0; i < g.length - 1; i++) expect(Math.abs(ge[i]! - gr[i]!)).toBeLessThanOrEqual(1e-6 + 1e-6 * Math.abs(gr[i]!));
    expect(Number.isNaN(ge[g.length - 1]!)).toBe(true);
  });
});

describe('addInPlace, addBias, sumRows, sumSquares', () => {
  it('match float64 references', () => {
    const [rows, d] = [301, 37];
    const a = rand(rows * d);
    const b = rand(rows * d);
    const at = t32(a, [rows, d]);
    expect(addInPlace(at, t32(b, [rows, d]), -0.5)).toBe(at);
    expectClose(at.toArray(), Array.from(a, (v, i) => v - 0.5 * b[i]!), 1e-7, 1e-6, 'addInPlace');
    const bias = rand(d);
    const xt = t32(a, [rows, d]);
    addBias(xt, t32(bias, [d]));
    expectClose(xt.toArray(), Array.from(a, (v, i) => v + bias[i % d]!), 1e-7, 1e-6, 'addBias');
    const ref = new Float64Array(d);
    for (let i = 0; i < rows * d; i++) ref[i % d]! += a[i]!;
    const e = expectClose(sumRows(t32(a, [rows, d])).toArray(), ref, 1e-5, 1e-6, 'sumRows');
    const out = Tensor.full([d], 2);
    sumRows(t32(a, [rows, d]), { out, accumulate: true });
    expectClose(out.toArray(), Array.from(ref, (v) => v + 2), 1e-5, 1e-6, 'sumRows accumulate');
    const ss = a.reduce((s, v) => s + v * v, 0);
    expect(Math.abs(sumSquares(t32(a, [rows, d])) - ss)).toBeLessThan(1e-9 * ss);
    console.log(`sumRows max abs error ${e.toExponential(2)}`);
  });

  it('addBias gradient (sumRows) vs finite differences', () => {
    const [rows, d] = [4, 5];
    const x = rand(rows * d);
    const bias = rand(d);
    const c = rand(rows * d);
    const F = ([xx, bb]: Float64Array[]) => xx!.map((v, i) => v + bb![i % d]!);
    const num = numericGrad(F, [f64(x), f64(bias)], f64(c), 1);
    expectClose(sumRows(t32(c, [rows, d])).toArray(), num, 1e-6, 1e-5, 'bias grad');
  });
});

describe('embedding', () => {
  it('forward gathers rows exactly (f32 and bf16)', () => {
    const [V, D] = [37, 19];
    const table = rand(V * D);
    const ids = randInt(2 * 11, V);
    const out = embeddingForward(Tensor.fromArray(ids, [2, 11]), t32(table, [V, D]));
    expect(out.shape).toEqual([2, 11, D]);
    const o = out.toArray();
    for (let t = 0; t < ids.length; t++) for (let j = 0; j < D; j++) expect(o[t * D + j]).toBe(table[ids[t]! * D + j]);
    const tb = t32(table, [V, D], 'bf16');
    const ob = embeddingForward(Tensor.fromArray(ids, [22]), tb);
    expect(ob.dtype).toBe('bf16');
    const tbv = tb.toArray();
    const obv = ob.toArray();
    for (let t = 0; t < ids.length; t++) for (let j = 0; j < D; j++) expect(obv[t * D + j]).toBe(tbv[ids[t]! * D + j]);
  });

  it('backward: scatter-add in token order, bit-exact against an f32 in-order sum; finite differences', () => {
    const [V, D] = [29, 13];
    const nTok = 500; // many repeats of each id
    const ids = randInt(nTok, V);
    const g = rand(nTok * D);
    const dt = embeddingBackward(t32(g, [nTok, D]), Tensor.fromArray(ids, [nTok]), { vocabSize: V });
    const want = new Float32Array(V * D);
    for (let t = 0; t < nTok; t++) for (let j = 0; j < D; j++) want[ids[t]! * D + j] = Math.fround(want[ids[t]! * D + j]! + g[t * D + j]!);
    expect(Array.from(dt.toArray())).toEqual(Array.from(want));
    // accumulate
    const acc = Tensor.full([V, D], 1);
    embeddingBackward(t32(g, [nTok, D]), Tensor.fromArray(ids, [nTok]), { dtable: acc, accumulate: true });
    expectClose(acc.toArray(), Array.from(want, (v) => v + 1), 1e-5, 1e-6, 'embedding accumulate');
    // finite differences of the gather
    const idsS = randInt(9, 5);
    const tab = rand(5 * 3);
    const c = rand(9 * 3);
    const F = ([tt]: Float64Array[]) => {
      const y = new Float64Array(9 * 3);
      for (let t = 0; t < 9; t++) for (let j = 0; j < 3; j++) y[t * 3 + j] = tt![idsS[t]! * 3 + j]!;
      return y;
    };
    const got = embeddingBackward(t32(c, [9, 3]), Tensor.fromArray(idsS, [9]), { vocabSize: 5 });
    expectClose(got.toArray(), numericGrad(F, [f64(tab)], f64(c), 0), 1e-6, 1e-5, 'embedding fd');
  });
});

describe('patch embedding', () => {
  it('u8 → [-1, 1] patches in (py, px, c) order; f32 copied; backward is the inverse layout', () => {
    const [B, H, W, C, P] = [2, 6, 9, 3, 3];
    const img = Uint8Array.from(rand(B * H * W * C, 0, 256), (v) => Math.min(255, Math.floor(v)));
    const out = patchEmbed(Tensor.fromArray(img, [B, H, W, C], { dtype: 'u8' }), { patchSize: P });
    const gh = H / P;
    const gw = W / P;
    expect(out.shape).toEqual([B, gh * gw, P * P * C]);
    const ref = new Float64Array(out.numel);
    for (let b = 0; b < B; b++)
      for (let py = 0; py < gh; py++)
        for (let px = 0; px < gw; px++)
          for (let iy = 0; iy < P; iy++)
            for (let ix = 0; ix < P; ix++)
              for (let c = 0; c < C; c++)
                ref[((b * gh + py) * gw + px) * P * P * C + (iy * P + ix) * C + c] = img[((b * H + py * P + iy) * W + px * P + ix) * C + c]! / 127.5 - 1;
    const e = expectClose(out.toArray(), ref, 1e-6, 1e-6, 'patchEmbed u8');
    const o = out.toArray();
    expect(Math.min(...o)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...o)).toBeLessThanOrEqual(1);
    // f32 image with a custom affine map, and its gradient by finite differences
    const fimg = rand(B * H * W * C);
    const fo = patchEmbed(t32(fimg, [B, H, W, C]), { patchSize: P, scale: 2, shift: -0.5 });
    const F = ([x]: Float64Array[]) => {
      const y = new Float64Array(ref.length);
      for (let i = 0; i < ref.length; i++) y[i] = 0;
      for (let b = 0; b < B; b++)
        for (let py = 0; py < gh; py++)
          for (let px = 0; px < gw; px++)
            for (let iy = 0; iy < P; iy++)
              for (let ix = 0; ix < P; ix++)
                for (let c = 0; c < C; c++)
                  y[((b * gh + py) * gw + px) * P * P * C + (iy * P + ix) * C + c] = 2 * x![((b * H + py * P + iy) * W + px * P + ix) * C + c]! - 0.5;
      return y;
    };
    expectClose(fo.toArray(), F([f64(fimg)]), 1e-6, 1e-6, 'patchEmbed f32');
    const c = rand(ref.length);
    const di = patchEmbedBackward(t32(c, [B, gh * gw, P * P * C]), [B, H, W, C], { patchSize: P, scale: 2 });
    expectClose(di.toArray(), numericGrad(F, [f64(fimg)], f64(c), 0), 1e-6, 1e-5, 'patchEmbed backward');
    console.log(`patchEmbed max abs error ${e.toExponential(2)}`);
  });

  it('overlapping windows (K > P, zero outside the image) match a float64 reference; backward by finite differences', () => {
    for (const [B, H, W, C, P, K] of [[2, 8, 12, 3, 4, 8], [1, 6, 9, 2, 3, 5], [1, 4, 4, 1, 2, 6]] as const) {
      const gh = H / P;
      const gw = W / P;
      const pd = K * K * C;
      const pad = (K - P) / 2;
      // F maps an image to its windows (x·2 − 0.5 inside, 0 outside): the float64 reference.
      const F = ([x]: Float64Array[]) => {
        const y = new Float64Array(B * gh * gw * pd);
        for (let b = 0; b < B; b++)
          for (let py = 0; py < gh; py++)
            for (let px = 0; px < gw; px++)
              for (let wy = 0; wy < K; wy++)
                for (let wx = 0; wx < K; wx++)
                  for (let c = 0; c < C; c++) {
                    const yy = py * P - pad + wy;
                    const xx = px * P - pad + wx;
                    const inside = yy >= 0 && yy < H && xx >= 0 && xx < W;
                    y[((b * gh + py) * gw + px) * pd + (wy * K + wx) * C + c] = inside ? 2 * x![((b * H + yy) * W + xx) * C + c]! - 0.5 : 0;
                  }
        return y;
      };
      const fimg = rand(B * H * W * C);
      const fo = patchEmbed(t32(fimg, [B, H, W, C]), { patchSize: P, patchWindow: K, scale: 2, shift: -0.5 });
      expect(fo.shape).toEqual([B, gh * gw, pd]);
      const e = expectClose(fo.toArray(), F([f64(fimg)]), 1e-6, 1e-6, `patchEmbed window ${K}`);
      const c = rand(B * gh * gw * pd);
      const di = patchEmbedBackward(t32(c, [B, gh * gw, pd]), [B, H, W, C], { patchSize: P, patchWindow: K, scale: 2 });
      const eb = expectClose(di.toArray(), numericGrad(F, [f64(fimg)], f64(c), 0), 1e-6, 1e-5, `patchEmbed window ${K} backward`);
      // u8 images: the centre P×P of each window is the plain patch.
      const img = Uint8Array.from(rand(B * H * W * C, 0, 256), (v) => Math.min(255, Math.floor(v)));
      const u8 = Tensor.fromArray(img, [B, H, W, C], { dtype: 'u8' });
      const wide = patchEmbed(u8, { patchSize: P, patchWindow: K }).toArray();
      const plain = patchEmbed(u8, { patchSize: P }).toArray();
      let centreErr = 0;
      for (let g = 0; g < B * gh * gw; g++)
        for (let iy = 0; iy < P; iy++)
          for (let ix = 0; ix < P; ix++)
            for (let ch = 0; ch < C; ch++)
              centreErr = Math.max(centreErr, Math.abs(wide[g * pd + ((iy + pad) * K + ix + pad) * C + ch]! - plain[g * P * P * C + (iy * P + ix) * C + ch]!));
      expect(centreErr).toBe(0);
      console.log(`patchEmbed window ${K} over ${P}: max abs error ${e.toExponential(2)}, backward ${eb.toExponential(2)}`);
    }
    const img = Tensor.zeros([1, 8, 8, 3], { dtype: 'u8' });
    expect(() => patchEmbed(img, { patchSize: 4, patchWindow: 7 })).toThrow(/patchWindow must be 0 \(= patchSize\) or an integer ≥ patchSize=4 that differs from it by an even number.*got 7/);
    expect(() => patchEmbed(img, { patchSize: 4, patchWindow: 2 })).toThrow(/patchWindow .*got 2/);
  });
});

describe('AdamW and gradient norms', () => {
  it('AdamW matches a float64 PyTorch-semantics reference over several steps', () => {
    const nEl = 1001;
    const p0 = rand(nEl);
    const param = t32(p0, [nEl]);
    const m = Tensor.zeros([nEl]);
    const v = Tensor.zeros([nEl]);
    const rp = f64(p0);
    const rm = new Float64Array(nEl);
    const rv = new Float64Array(nEl);
    const o = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    for (let step = 1; step <= 5; step++) {
      const g = rand(nEl, -3, 3);
      adamwStep(param, t32(g, [nEl]), m, v, { ...o, step, gradScale: 0.5 });
      for (let i = 0; i < nEl; i++) {
        const gi = g[i]! * 0.5;
        rm[i] = o.beta1 * rm[i]! + (1 - o.beta1) * gi;
        rv[i] = o.beta2 * rv[i]! + (1 - o.beta2) * gi * gi;
        rp[i] = rp[i]! * (1 - o.lr * o.weightDecay);
        const mh = rm[i]! / (1 - o.beta1 ** step);
        const vh = rv[i]! / (1 - o.beta2 ** step);
        rp[i] = rp[i]! - (o.lr * mh) / (Math.sqrt(vh) + o.eps);
      }
    }
    const e = expectClose(param.toArray(), rp, 1e-6, 1e-5, 'adamw param');
    expectClose(m.toArray(), rm, 1e-6, 1e-5, 'adamw m');
    expectClose(v.toArray(), rv, 1e-7, 1e-5, 'adamw v');
    console.log(`adamw max abs error after 5 steps ${e.toExponential(2)}`);
  });

  it('gradNorm over a list, clipGradNorm scales in place (PyTorch rule) and reports the pre-clip norm', () => {
    const a = rand(1000);
    const b = rand(77, -5, 5);
    const ta = t32(a, [10, 100]);
    const tb = t32(b, [77], 'bf16');
    const bb = tb.toArray() as Float32Array;
    const norm = Math.sqrt(a.reduce((s, v) => s + v * v, 0) + bb.reduce((s, v) => s + v * v, 0));
    expect(Math.abs(gradNorm([ta, tb]) - norm)).toBeLessThan(1e-9 * norm);
    const got = clipGradNorm([ta, tb], 1);
    expect(Math.abs(got - norm)).toBeLessThan(1e-9 * norm);
    const coef = 1 / (norm + 1e-6);
    expectClose(ta.toArray(), Array.from(a, (v) => v * coef), 1e-7, 1e-6, 'clip f32');
    expectClose(tb.toArray(), Array.from(bb, (v) => v * coef), 1e-4, 8e-3, 'clip bf16');
    expect(Math.abs(gradNorm([ta, tb]) - 1)).toBeLessThan(5e-3);
    // below the threshold nothing changes
    const small = t32(Float32Array.from([0.1, 0.2]), [2]);
    clipGradNorm([small], 10);
    expect(Array.from(small.toArray())).toEqual([Math.fround(0.1), Math.fround(0.2)]);
    // a NaN gradient reports NaN and scales nothing
    const bad = t32(Float32Array.from([1, Number.NaN]), [2]);
    expect(Number.isNaN(clipGradNorm([bad, small], 1))).toBe(true);
    expect(small.toArray()[0]).toBe(Math.fround(0.1));
    expect(gradNorm([])).toBe(0);
  });
});

describe('model ops bad input', () => {
  const x = Tensor.zeros([4, 8]);
  const w = Tensor.zeros([8]);
  it('errors name the function, the argument and the expectation', () => {
    expect(() => rmsnormForward(x, Tensor.zeros([7]))).toThrow(/rmsnormForward: w must have shape \(8,\)/);
    expect(() => rmsnormForward(x, Tensor.zeros([8], { dtype: 'bf16' }))).toThrow(TypeError);
    expect(() => rmsnormForward(Tensor.zeros([4, 8], { dtype: 'i32' }), w)).toThrow(/x must have dtype f32 or bf16/);
    expect(() => rmsnormForward(x, w, { eps: -1 })).toThrow(/eps must be/);
    expect(() => rmsnormForward(x, w, { out: Tensor.zeros([4, 9]) })).toThrow(/out must have the shape of x/);
    const { rstd } = rmsnormForward(x, w);
    expect(() => rmsnormBackward(Tensor.zeros([4, 7]), x, w, rstd)).toThrow(/dy must have the shape of x/);
    expect(() => rmsnormBackward(x, x, w, Tensor.zeros([3]))).toThrow(/rstd must have shape \(4,\)/);
    expect(() => rmsnormBackward(x, x, w, rstd, { accumulate: true })).toThrow(/accumulate = true needs dw/);
    expect(() => layernormForward(x, w, Tensor.zeros([3]))).toThrow(/layernormForward: b must have shape \(8,\)/);
    const pos = Tensor.fromArray(new Int32Array([0, 0]), [2]);
    expect(() => ropeForward(x, pos)).toThrow(/ropeForward: x must have shape \(B, S, H, D\)/);
    const q = Tensor.zeros([2, 3, 2, 8]);
    expect(() => ropeForward(q, Tensor.fromArray(new Int32Array([0, 0, 0]), [3]))).toThrow(/positions must have shape \(B=2,\)/);
    expect(() => ropeForward(q, Tensor.zeros([2]))).toThrow(/positions must have dtype i32/);
    expect(() => ropeForward(q, pos, { rotaryDim: 5 })).toThrow(/rotaryDim must be even/);
    expect(() => ropeForward(q, pos, { base: 1 })).toThrow(/base must be/);
    expect(() => ropeBackward(q, pos, { rotaryDim: 10 })).toThrow(/ropeBackward: rotaryDim/);
    expect(() => swigluForward(x, Tensor.zeros([4, 7]))).toThrow(/swigluForward: up must have the shape of gate/);
    expect(() => swigluBackward(x, x, x, { dgate: x })).toThrow(/must not share memory/);
    expect(() => geluBackward(x, Tensor.zeros([8]))).toThrow(/geluBackward: dout must have the shape of x/);
    expect(() => addInPlace(x, Tensor.zeros([4, 8], { dtype: 'bf16' }))).toThrow(/addInPlace: b must have dtype f32/);
    expect(() => addBias(x, Tensor.zeros([4]))).toThrow(/addBias: bias must have shape \(8,\)/);
    const table = Tensor.zeros([10, 4]);
    expect(() => embeddingForward(Tensor.fromArray(new Int32Array([3, 10]), [2]), table)).toThrow(/ids\[1\] = 10 is out of range \[0, V=10\)/);
    expect(() => embeddingForward(Tensor.fromArray(new Int32Array([-1]), [1]), table)).toThrow(RangeError);
    expect(() => embeddingForward(Tensor.zeros([2]), table)).toThrow(/ids must have dtype i32/);
    expect(() => embeddingBackward(Tensor.zeros([2, 4]), Tensor.fromArray(new Int32Array([0, 1]), [2]), {})).toThrow(/pass dtable or vocabSize/);
    expect(() => embeddingBackward(Tensor.zeros([2, 5]), Tensor.fromArray(new Int32Array([0, 1]), [2]), { vocabSize: 3 })).not.toThrow();
    expect(() => embeddingBackward(Tensor.zeros([3, 4]), Tensor.fromArray(new Int32Array([0, 1]), [2]), { dtable: table })).toThrow(/dout must have shape \(2, 4\)/);
    const img = Tensor.zeros([1, 10, 12, 3], { dtype: 'u8' });
    expect(() => patchEmbed(img, { patchSize: 4 })).toThrow(/multiples of patchSize=4/);
    expect(() => patchEmbed(img, { patchSize: 0 })).toThrow(/patchSize must be a positive integer/);
    expect(() => patchEmbed(Tensor.zeros([10, 12, 3]), { patchSize: 2 })).toThrow(/image must have shape \(B, H, W, C\)/);
    expect(() => patchEmbed(Tensor.zeros([1, 4, 4, 1], { dtype: 'i32' }), { patchSize: 2 })).toThrow(/image must have dtype u8 or f32/);
    expect(() => patchEmbedBackward(Tensor.zeros([1, 4, 4]), [1, 4, 4, 1], { patchSize: 2, dimage: Tensor.zeros([1, 4, 4, 1], { dtype: 'u8' }) })).toThrow(
      /dimage must have dtype f32/,
    );
    const p = Tensor.zeros([5]);
    expect(() => adamwStep(p, Tensor.zeros([5]), Tensor.zeros([5]), Tensor.zeros([4]), { step: 1 })).toThrow(/adamwStep: v must have the shape of param/);
    expect(() => adamwStep(p, Tensor.zeros([5]), Tensor.zeros([5]), Tensor.zeros([5]), { step: 0 })).toThrow(/step must be an integer >= 1/);
    expect(() => adamwStep(p, Tensor.zeros([5]), Tensor.zeros([5]), Tensor.zeros([5]), {} as { step: number })).toThrow(/step is required/);
    expect(() => adamwStep(p, Tensor.zeros([5]), Tensor.zeros([5]), Tensor.zeros([5]), { step: 1, beta1: 1 })).toThrow(/beta1 must be in \[0, 1\)/);
    const mm = Tensor.zeros([5]);
    expect(() => adamwStep(p, Tensor.zeros([5]), mm, mm, { step: 1 })).toThrow(/m and v must not share memory/);
    expect(() => clipGradNorm([x], 0)).toThrow(/maxNorm must be a finite number > 0/);
    expect(() => gradNorm([x, 3 as unknown as Tensor])).toThrow(/gradNorm: tensors\[1\] must be a Tensor/);
    expect(() => gradNorm([Tensor.zeros([2], { dtype: 'i32' })])).toThrow(/tensors\[0\] must have dtype f32 or bf16/);
  });
});

describe('model ops on CUDA', () => {
  const cuda = cudaAvailable();
  it.skipIf(!cuda.available)(`match the CPU results${cuda.available ? '' : ` — skipped: ${cuda.reason}`}`, () => {
    const dev = 'cuda:0' as const;
    const close = (a: Tensor, b: Tensor, tol: number, what: string) => expectClose(a.toArray(), b.toArray(), tol, tol, what);
    for (const dtype of ['f32', 'bf16'] as const) {
      const tol = dtype === 'f32' ? 1e-5 : 2e-2;
      const [rows, d] = [67, 96];
      const x = t32(rand(rows * d, -2, 2), [rows, d], dtype);
      const w = t32(rand(d), [d], dtype);
      const b = t32(rand(d), [d], dtype);
      const dy = t32(rand(rows * d), [rows, d], dtype);
      const c1 = rmsnormForward(x, w);
      const g1 = rmsnormForward(x.to(dev), w.to(dev));
      close(g1.y, c1.y, tol, `rmsnorm ${dtype}`);
      close(rmsnormBackward(dy.to(dev), x.to(dev), w.to(dev), g1.rstd).dx, rmsnormBackward(dy, x, w, c1.rstd).dx, tol, 'rmsnorm dx');
      close(rmsnormBackward(dy.to(dev), x.to(dev), w.to(dev), g1.rstd).dw, rmsnormBackward(dy, x, w, c1.rstd).dw, tol * 10, 'rmsnorm dw');
      const c2 = layernormForward(x, w, b);
      const g2 = layernormForward(x.to(dev), w.to(dev), b.to(dev));
      close(g2.y, c2.y, tol, 'layernorm');
      const lc = layernormBackward(dy, x, w, c2.mean, c2.rstd);
      const lg = layernormBackward(dy.to(dev), x.to(dev), w.to(dev), g2.mean, g2.rstd);
      close(lg.dx, lc.dx, tol, 'layernorm dx');
      close(lg.dw, lc.dw, tol * 10, 'layernorm dw');
      close(lg.db, lc.db, tol * 10, 'layernorm db');
      const q = t32(rand(2 * 5 * 3 * 32), [2, 5, 3, 32], dtype);
      const pos = Tensor.fromArray(new Int32Array([7, 1000]), [2]);
      close(ropeForward(q.to(dev), pos.to(dev), { interleaved: true }), ropeForward(q, pos, { interleaved: true }), tol, 'rope');
      close(ropeBackward(q.to(dev), pos.to(dev)), ropeBackward(q, pos), tol, 'rope backward');
      close(swigluForward(x.to(dev), dy.to(dev)), swigluForward(x, dy), tol, 'swiglu');
      const sc = swigluBackward(w.to(dev), w.to(dev), b.to(dev));
      const sg = swigluBackward(w, w, b);
      close(sc.dgate, sg.dgate, tol, 'swiglu dgate');
      close(geluForward(x.to(dev)), geluForward(x), tol, 'gelu');
      close(geluBackward(dy.to(dev), x.to(dev)), geluBackward(dy, x), tol, 'gelu backward');
      close(sumRows(x.to(dev)), sumRows(x), tol * 10, 'sumRows');
      const ids = Tensor.fromArray(randInt(300, 50), [300]);
      const table = t32(rand(50 * 24), [50, 24], dtype);
      close(embeddingForward(ids.to(dev), table.to(dev)), embeddingForward(ids, table), 0, 'embedding');
      const gout = t32(rand(300 * 24), [300, 24], dtype);
      const ec = embeddingBackward(gout, ids, { vocabSize: 50 });
      const eg = embeddingBackward(gout.to(dev), ids.to(dev), { vocabSize: 50 });
      close(eg, ec, dtype === 'f32' ? 0 : tol, 'embedding backward (same order, same bits)');
      expect(sumSquares(x.to(dev))).toBeCloseTo(sumSquares(x), 3);
    }
    const img = Tensor.fromArray(Uint8Array.from(rand(2 * 8 * 8 * 3, 0, 255), Math.floor), [2, 8, 8, 3], { dtype: 'u8' });
    close(patchEmbed(img.to(dev), { patchSize: 4 }), patchEmbed(img, { patchSize: 4 }), 1e-6, 'patchEmbed');
    close(patchEmbed(img.to(dev), { patchSize: 4, patchWindow: 8 }), patchEmbed(img, { patchSize: 4, patchWindow: 8 }), 1e-6, 'patchEmbed window 8');
    const pc = t32(rand(64), [64]);
    const pg = pc.to(dev);
    const grads = t32(rand(64), [64]);
    const st = [Tensor.zeros([64]), Tensor.zeros([64]), Tensor.zeros([64], { device: dev }), Tensor.zeros([64], { device: dev })] as const;
    adamwStep(pc, grads, st[0], st[1], { step: 1, lr: 0.1 });
    adamwStep(pg, grads.to(dev), st[2], st[3], { step: 1, lr: 0.1 });
    close(pg, pc, 1e-6, 'adamw');
    expect(gradNorm([pg])).toBeCloseTo(gradNorm([pc]), 5);
  });
});
