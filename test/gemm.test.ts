// Fast GEMM (matmul) against a float64 reference: every SIMD level, transposes, alpha/beta,
// batching and broadcast, cache-block boundaries, bf16, and the errors bad input gets.
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor, cudaAvailable, native } from '../lib/index.js';
import { gemmKernelName, matmul } from '../lib/kernels/gemm.js';

// Deterministic per-run seed printed on failure via the test name; fresh inputs each case.
let seed = (Date.now() % 1_000_000) + 1;
function rand(n: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    out[i] = lo + ((hi - lo) * seed) / 2147483648;
  }
  return out;
}

interface Case {
  batch?: number[];
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  broadcastB?: boolean;
}

/** float64 reference plus the elementwise error bound Σ|a||b| used for the tolerance. */
function reference(a: Float32Array, b: Float32Array, c0: Float32Array | undefined, cs: Case) {
  const { m, n, k } = cs;
  const nb = (cs.batch ?? []).reduce((x, y) => x * y, 1);
  const ref = new Float64Array(nb * m * n);
  const mag = new Float64Array(nb * m * n);
  const alpha = cs.alpha ?? 1;
  const beta = cs.beta ?? 0;
  for (let bi = 0; bi < nb; bi++) {
    const ao = bi * m * k;
    const bo = cs.broadcastB ? 0 : bi * k * n;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let acc = 0;
        let s = 0;
        for (let p = 0; p < k; p++) {
          const x = cs.transA ? a[ao + p * m + i]! : a[ao + i * k + p]!;
          const y = cs.transB ? b[bo + j * k + p]! : b[bo + p * n + j]!;
          acc += x * y;
          s += Math.abs(x * y);
        }
        const o = bi * m * n + i * n + j;
        ref[o] = alpha * acc + (beta !== 0 ? beta * c0![o]! : 0);
        mag[o] = Math.abs(alpha) * s + Math.abs(beta * (c0?.[o] ?? 0));
      }
  }
  return { ref, mag };
}

function runCase(cs: Case, dtype: 'f32' | 'bf16' = 'f32') {
  const batch = cs.batch ?? [];
  const nb = batch.reduce((x, y) => x * y, 1);
  const aShape = [...batch, cs.transA ? cs.k : cs.m, cs.transA ? cs.m : cs.k];
  const bShape = [...(cs.broadcastB ? [] : batch), cs.transB ? cs.n : cs.k, cs.transB ? cs.k : cs.n];
  let a = rand(nb * cs.m * cs.k);
  let b = rand((cs.broadcastB ? 1 : nb) * cs.k * cs.n);
  let c0 = cs.beta ? rand(nb * cs.m * cs.n) : undefined;
  const ta = Tensor.fromArray(a, aShape, { dtype });
  const tb = Tensor.fromArray(b, bShape, { dtype });
  // The reference sees exactly the (rounded) values the kernel sees.
  if (dtype === 'bf16') {
    a = ta.toArray() as Float32Array;
    b = tb.toArray() as Float32Array;
  }
  let out: Tensor | undefined;
  if (c0) {
    out = Tensor.fromArray(c0, [...batch, cs.m, cs.n], { dtype });
    c0 = out.toArray() as Float32Array;
  }
  const res = matmul(ta, tb, { transA: cs.transA, transB: cs.transB, alpha: cs.alpha, beta: cs.beta, out });
  expect(res.shape).toEqual([...batch, cs.m, cs.n]);
  const got = res.toArray();
  const { ref, mag } = reference(a, b, c0, cs);
  // f32: blocked summation error is a small multiple of eps·Σ|a||b|; bf16 adds the output rounding.
  const rtol = dtype === 'f32' ? 1e-5 : 8e-3;
  let worst = 0;
  let maxErr = 0;
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs(got[i]! - ref[i]!);
    const tol = 1e-6 + 4e-7 * mag[i]! + rtol * Math.abs(ref[i]!);
    maxErr = Math.max(maxErr, err);
    worst = Math.max(worst, err / tol);
    if (!(err <= tol)) throw new Error(`mismatch at ${i}: got ${got[i]} want ${ref[i]} (err ${err}, tol ${tol})`);
  }
  for (const t of [ta, tb, res]) t.dispose();
  return { maxErr, worst };
}

const levels = ['scalar', 'avx2', 'avx512'] as const;
const best = native().buildInfo().simd as (typeof levels)[number];
afterAll(() => {
  native().setSimdLevel(best);
});

describe('matmul (CPU) vs float64 reference', () => {
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [1, 37, 19],
    [13, 17, 29],
    [14, 32, 5],
    [29, 65, 31],
    [64, 64, 64],
    [97, 33, 130],
  ];
  for (const level of levels) {
    it(`every transpose combination, awkward shapes (${level})`, () => {
      const used = native().setSimdLevel(level);
      let maxErr = 0;
      for (const [m, n, k] of shapes)
        for (const transA of [false, true])
          for (const transB of [false, true]) maxErr = Math.max(maxErr, runCase({ m, n, k, transA, transB }).maxErr);
      expect(maxErr).toBeLessThan(1e-4);
      console.log(`matmul ${used} (${gemmKernelName()}): max abs error ${maxErr.toExponential(2)}`);
    });
  }

  it('alpha and beta (beta accumulates into out)', () => {
    native().setSimdLevel(best);
    for (const transB of [false, true]) {
      const r = runCase({ m: 45, n: 70, k: 33, alpha: -0.75, beta: 0.5, transB });
      expect(r.worst).toBeLessThanOrEqual(1);
    }
    const r = runCase({ m: 8, n: 9, k: 10, alpha: 2, beta: 1 });
    expect(r.worst).toBeLessThanOrEqual(1);
  });

  it('beta = 0 never reads out (NaN there does not leak)', () => {
    const a = Tensor.fromArray(rand(6 * 5), [6, 5]);
    const b = Tensor.fromArray(rand(5 * 40), [5, 40]);
    const out = Tensor.full([6, 40], Number.NaN);
    matmul(a, b, { out });
    const ref = matmul(a, b);
    expect(Array.from(out.toArray())).toEqual(Array.from(ref.toArray()));
    expect(out.toArray().every(Number.isFinite)).toBe(true);
  });

  it('k = 0 gives beta·out; empty m or n gives empty results', () => {
    const out = Tensor.fromArray([1, 2, 3, 4], [2, 2]);
    matmul(Tensor.zeros([2, 0]), Tensor.zeros([0, 2]), { out, beta: 3 });
    expect(Array.from(out.toArray())).toEqual([3, 6, 9, 12]);
    expect(matmul(Tensor.zeros([2, 0]), Tensor.zeros([0, 2])).toList()).toEqual([0, 0, 0, 0]);
    expect(matmul(Tensor.zeros([0, 4]), Tensor.zeros([4, 3])).shape).toEqual([0, 3]);
  });

  it('crosses every cache block boundary (K slices, B blocks, A blocks)', () => {
    // KC = 384, NB = 480, MB = 3024 for AVX-512; 256/384/4080 for AVX2.
    let maxErr = 0;
    for (const level of levels) {
      native().setSimdLevel(level);
      maxErr = Math.max(maxErr, runCase({ m: 37, n: 33, k: 901, transA: true }).maxErr);
      maxErr = Math.max(maxErr, runCase({ m: 20, n: 1001, k: 40, transB: true, beta: -1 }).maxErr);
    }
    native().setSimdLevel(best);
    maxErr = Math.max(maxErr, runCase({ m: 4100, n: 17, k: 9 }).maxErr);
    maxErr = Math.max(maxErr, runCase({ m: 130, n: 520, k: 400, alpha: 0.5, beta: 2 }).maxErr);
    expect(maxErr).toBeLessThan(1e-3);
  });

  it('a small output over a long K (the weight gradients), every transpose, alpha and beta, every SIMD level', () => {
    // Many K slices accumulating onto C, through every pack (the AVX-512 copying and transposing ones).
    let maxErr = 0;
    for (const [m, n, k] of [[37, 53, 4999], [128, 64, 6000]] as const)
      for (const transA of [false, true])
        for (const transB of [false, true])
          for (const level of levels) {
            native().setSimdLevel(level);
            maxErr = Math.max(maxErr, runCase({ m, n, k, transA, transB, alpha: 0.75, beta: transB ? 0.5 : 0 }).maxErr);
          }
    native().setSimdLevel(best);
    expect(maxErr, `max abs error ${maxErr.toExponential(2)}`).toBeLessThan(1e-3);
  });

  it('batched: own b per entry, and one b broadcast over the batch', () => {
    let maxErr = 0;
    maxErr = Math.max(maxErr, runCase({ batch: [3, 2], m: 7, n: 19, k: 11 }).maxErr);
    maxErr = Math.max(maxErr, runCase({ batch: [5], m: 33, n: 9, k: 70, transA: true, transB: true }).maxErr);
    maxErr = Math.max(maxErr, runCase({ batch: [4], m: 50, n: 40, k: 30, broadcastB: true, transB: true }).maxErr);
    maxErr = Math.max(maxErr, runCase({ batch: [3], m: 200, n: 150, k: 100, beta: 0.25 }).maxErr);
    expect(maxErr).toBeLessThan(1e-4);
  });

  it('bf16 operands accumulate in f32 (one rounding on store)', () => {
    const r1 = runCase({ m: 23, n: 41, k: 77 }, 'bf16');
    const r2 = runCase({ batch: [2], m: 15, n: 16, k: 17, transA: true, transB: true, beta: 1 }, 'bf16');
    expect(Math.max(r1.worst, r2.worst)).toBeLessThanOrEqual(1);
  });

  it('agrees with matmulReference on a model-sized problem', async () => {
    const { matmulReference } = await import('../lib/ops.js');
    const a = Tensor.randn([96, 128], { seed: 1 });
    const w = Tensor.randn([384, 128], { seed: 2 });
    const fast = matmul(a, w, { transB: true }).toArray();
    const ref = matmulReference(a, w, { transB: true }).toArray();
    let maxErr = 0;
    for (let i = 0; i < fast.length; i++) maxErr = Math.max(maxErr, Math.abs(fast[i]! - ref[i]!));
    expect(maxErr).toBeLessThan(1e-4);
  });
});

describe('matmul bad input', () => {
  const a = Tensor.zeros([3, 4]);
  const b = Tensor.zeros([4, 5]);
  it('names the argument and the expectation', () => {
    expect(() => matmul(a, Tensor.zeros([5, 4]))).toThrow(RangeError);
    expect(() => matmul(a, Tensor.zeros([5, 4]))).toThrow(/inner dimensions differ.*K=4.*K=5/);
    expect(() => matmul(a, Tensor.zeros([4]))).toThrow(/b must have at least 2 dims/);
    expect(() => matmul(a, Tensor.zeros([4, 5], { dtype: 'i32' }))).toThrow(TypeError);
    expect(() => matmul(a, Tensor.zeros([4, 5], { dtype: 'bf16' }))).toThrow(/share one dtype/);
    expect(() => matmul(a, b, { out: Tensor.zeros([3, 4]) })).toThrow(/out must have shape \(3, 5\)/);
    expect(() => matmul(a, b, { out: Tensor.zeros([3, 5], { dtype: 'bf16' }) })).toThrow(/out must have dtype f32/);
    expect(() => matmul(a, b, { beta: 1 })).toThrow(/beta = 1.* needs out/);
    expect(() => matmul(Tensor.zeros([2, 3, 4]), Tensor.zeros([3, 4, 5]))).toThrow(/batch dims of a \(2,\) and b \(3,\) differ/);
    expect(() => matmul(a, b, { transA: 'yes' as unknown as boolean })).toThrow(/transA must be a boolean/);
    expect(() => matmul(a, b, { alpha: Number.NaN })).toThrow(/alpha must not be NaN/);
    expect(() => matmul(a, {} as Tensor)).toThrow(/matmul: b must be a Tensor/);
    const sq = Tensor.zeros([4, 4]);
    expect(() => matmul(sq, sq, { out: sq })).toThrow(/must not share memory/);
    const d = Tensor.zeros([2, 2]);
    d.dispose();
    expect(() => matmul(d, d)).toThrow(/disposed/);
  });
});

describe('matmul on CUDA', () => {
  const cuda = cudaAvailable();
  it.skipIf(!cuda.available)(`matches the CPU result (f32 and bf16)${cuda.available ? '' : ` — skipped: ${cuda.reason}`}`, () => {
    for (const [m, n, k, transA, transB] of [
      [1, 1, 1, false, false],
      [67, 129, 45, false, true],
      [130, 70, 300, true, false],
      [256, 256, 256, true, true],
    ] as Array<[number, number, number, boolean, boolean]>) {
      const a = Tensor.fromArray(rand(m * k), transA ? [k, m] : [m, k]);
      const b = Tensor.fromArray(rand(k * n), transB ? [n, k] : [k, n]);
      const c0 = Tensor.fromArray(rand(m * n), [m, n]);
      const cpu = matmul(a, b, { transA, transB, alpha: 0.5, beta: -1, out: c0.clone() }).toArray();
      const gpu = matmul(a.to('cuda'), b.to('cuda'), { transA, transB, alpha: 0.5, beta: -1, out: c0.to('cuda') }).toArray();
      let maxErr = 0;
      for (let i = 0; i < cpu.length; i++) maxErr = Math.max(maxErr, Math.abs(cpu[i]! - gpu[i]!));
      expect(maxErr).toBeLessThan(1e-4 * Math.sqrt(k));
      const ab = a.cast('bf16').to('cuda');
      const bb = b.cast('bf16').to('cuda');
      const cpuB = matmul(a.cast('bf16'), b.cast('bf16'), { transA, transB }).toArray();
      const gpuB = matmul(ab, bb, { transA, transB }).toArray();
      let maxB = 0;
      for (let i = 0; i < cpuB.length; i++) maxB = Math.max(maxB, Math.abs(cpuB[i]! - gpuB[i]!) / (1e-2 + Math.abs(cpuB[i]!)));
      expect(maxB).toBeLessThan(2e-2);
    }
  });
});
