// GEMM benchmark: GFLOP/s of matmul (CPU micro-kernel picked at run time, and CUDA when present)
// over square and rectangular M, N, K in 64…2048 and the judge model's own shapes, against the
// naive reference matmul and against PyTorch's CPU matmul when python3 can import torch — all
// measured in this run on this machine.
//   npx tsx benchmarks/gemm.ts            default grid
//   npx tsx benchmarks/gemm.ts --quick    a few sizes
//   npx tsx benchmarks/gemm.ts --full     every M, N, K combination in {64, 256, 1024, 2048} too
//   --no-torch skips the Python baselines (PyTorch, and NumPy's BLAS; --numpy-python=PATH picks
//   the interpreter for the latter, e.g. one whose NumPy links OpenBLAS).
import { Tensor, cudaAvailable, matmulReference, synchronize } from '../lib/index.js';
import { gemmKernelName, matmul } from '../lib/kernels/gemm.js';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { args, printTable, runTorch, time, torchAvailable, torchTimer, writeCsv, type Row } from './harness.js';

const full = process.argv.includes('--full');

interface Shape {
  m: number;
  n: number;
  k: number;
  transB: boolean;
  label: string;
}

function shapes(): Shape[] {
  const out: Shape[] = [];
  const sq = args.quick ? [64, 256, 1024] : full ? [64, 128, 256, 384, 512, 768, 1024, 1536, 2048] : [64, 128, 256, 512, 1024, 2048];
  for (const v of sq) out.push({ m: v, n: v, k: v, transB: false, label: 'square' });
  if (full) {
    const dims = [64, 256, 1024, 2048];
    for (const m of dims) for (const n of dims) for (const k of dims) if (!(m === n && n === k)) out.push({ m, n, k, transB: false, label: 'rect' });
  }
  // The judge model's GEMMs: tokens × d_model against (out, in) weights (transB), the MLP, and the
  // LM head; the "tiny" config is d=256, d_ff=1024 (x4 SwiGLU halves), vocab 4096, 16×8 rollouts.
  const tokens = args.quick ? 1024 : 2048;
  out.push({ m: tokens, n: 768, k: 256, transB: true, label: 'model qkv' });
  out.push({ m: tokens, n: 2048, k: 256, transB: true, label: 'model mlp up+gate' });
  out.push({ m: tokens, n: 256, k: 1024, transB: true, label: 'model mlp down' });
  out.push({ m: tokens, n: 4096, k: 256, transB: true, label: 'model lm head' });
  out.push({ m: 128, n: 4096, k: 256, transB: true, label: 'decode lm head' });
  return out;
}

const key = (s: Shape) => `${s.m}x${s.n}x${s.k}${s.transB ? 'T' : ''}`;

function torchTimes(list: Shape[]): Map<string, { p50: number; p20: number; p80: number; samples: number }> {
  const res = new Map<string, { p50: number; p20: number; p80: number; samples: number }>();
  if (args.noTorch || !torchAvailable()) return res;
  const script = `${torchTimer}
shapes = ${JSON.stringify(list.map((s) => [s.m, s.n, s.k, s.transB ? 1 : 0]))}
out = {}
torch.manual_seed(0)
for m, n, k, tb in shapes:
    a = torch.randn(m, k)
    b = torch.randn(n, k).t() if tb else torch.randn(k, n)
    c = torch.empty(m, n)
    big = 2 * m * n * k > 2e9  # a torch without an optimised BLAS needs seconds per call here
    out[f"{m}x{n}x{k}{'T' if tb else ''}"] = bench(lambda: torch.matmul(a, b, out=c), warmup=1 if big else 2, min_reps=3 if big else 5)
print(json.dumps(out))
`;
  const r = runTorch<Record<string, { p50: number; p20: number; p80: number; samples: number }>>(script);
  for (const [k, v] of Object.entries(r ?? {})) res.set(k, v);
  return res;
}

type T3 = { p50: number; p20: number; p80: number; samples: number };

/**
 * NumPy's float32 matmul (whatever BLAS that NumPy links; OpenBLAS in most wheels) as a second
 * optimised baseline, timed one shape at a time right before ours so both see the same machine
 * load. The interpreter is `--numpy-python=PATH`, else $MTRL_NUMPY_PYTHON, else python3; skipped
 * when it has no numpy.
 */
const numpyPython =
  process.argv.find((a) => a.startsWith('--numpy-python='))?.slice('--numpy-python='.length) ?? process.env.MTRL_NUMPY_PYTHON ?? 'python3';
let numpyOk: boolean | undefined;
function numpyTime(s: Shape): T3 | undefined {
  if (args.noTorch) return undefined;
  if (numpyOk === undefined) numpyOk = spawnSync(numpyPython, ['-c', 'import numpy'], { timeout: 60_000 }).status === 0;
  if (!numpyOk) return undefined;
  const script = `import json, time
import numpy as np
${torchTimer}
m, n, k, tb = ${s.m}, ${s.n}, ${s.k}, ${s.transB ? 1 : 0}
rng = np.random.default_rng(0)
a = rng.standard_normal((m, k), dtype=np.float32)
b = rng.standard_normal((n, k), dtype=np.float32).T if tb else rng.standard_normal((k, n), dtype=np.float32)
c = np.empty((m, n), dtype=np.float32)
print(json.dumps(bench(lambda: np.matmul(a, b, out=c))))
`;
  const threads = String(os.cpus().length);
  const env = { ...process.env, OPENBLAS_NUM_THREADS: threads, OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads };
  const r = spawnSync(numpyPython, ['-c', script], { encoding: 'utf8', timeout: 600_000, env });
  if (r.status !== 0) return undefined;
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T3;
}

function main() {
  const list = shapes();
  const rows: Row[] = [];
  const table: Array<Array<string | number>> = [];
  const torch = torchTimes(list);
  const kernel = gemmKernelName();
  const ratios: number[] = [];
  const blasRatios: number[] = [];
  for (const s of list) {
    const a = Tensor.randn([s.m, s.k], { seed: 1 });
    const b = Tensor.randn(s.transB ? [s.n, s.k] : [s.k, s.n], { seed: 2 });
    const c = Tensor.empty([s.m, s.n]);
    const flops = 2 * s.m * s.n * s.k;
    const shape = `${s.label} ${key(s)}`;
    const tbNumpy = numpyTime(s);
    const t = time(() => matmul(a, b, { transB: s.transB, out: c }), { warmup: 2, minReps: 5, budgetMs: args.quick ? 300 : 1000 });
    const gflops = flops / t.p50 / 1e6;
    rows.push({ op: 'matmul', impl: kernel, mode: 'f32', shape, timing: t, metric: 'GFLOP/s', value: gflops });
    let naive = '';
    if (flops <= 2 * 256 ** 3 * (args.quick ? 1 : 8)) {
      const tn = time(() => matmulReference(a, b, { transB: s.transB, out: c }), { warmup: 1, minReps: 3, budgetMs: 300, maxReps: 10 });
      rows.push({ op: 'matmul', impl: 'naive', mode: 'f32', shape, timing: tn, metric: 'speedup_vs_naive', value: tn.p50 / t.p50 });
      naive = `${(tn.p50 / t.p50).toFixed(0)}x`;
    }
    let vsTorch = '';
    let torchGflops = '';
    const tt = torch.get(key(s));
    if (tt) {
      const ratio = tt.p50 / t.p50; // > 1: ours is faster
      rows.push({ op: 'matmul', impl: 'torch', mode: 'f32', shape, timing: tt, metric: 'ours_vs_torch', value: ratio });
      vsTorch = ratio.toFixed(2);
      torchGflops = (flops / tt.p50 / 1e6).toFixed(1);
      if (Math.min(s.m, s.n, s.k) >= 256) ratios.push(ratio);
    }
    let vsBlas = '';
    const tb = tbNumpy;
    if (tb) {
      const ratio = tb.p50 / t.p50;
      rows.push({ op: 'matmul', impl: 'numpy-blas', mode: 'f32', shape, timing: tb, metric: 'ours_vs_numpy', value: ratio });
      vsBlas = ratio.toFixed(2);
      if (Math.min(s.m, s.n, s.k) >= 256) blasRatios.push(ratio);
    }
    table.push([shape, t.p50, gflops, naive, torchGflops, vsTorch, vsBlas]);
    for (const x of [a, b, c]) x.dispose();
  }
  if (cudaAvailable().available) {
    for (const s of list.filter((x) => x.label === 'square' || x.label.startsWith('model'))) {
      for (const dtype of ['f32', 'bf16'] as const) {
        const a = Tensor.randn([s.m, s.k], { seed: 1, dtype, device: 'cuda:0' });
        const b = Tensor.randn(s.transB ? [s.n, s.k] : [s.k, s.n], { seed: 2, dtype, device: 'cuda:0' });
        const c = Tensor.empty([s.m, s.n], { dtype, device: 'cuda:0' });
        const t = time(() => {
          matmul(a, b, { transB: s.transB, out: c });
          synchronize('cuda:0');
        });
        const gflops = (2 * s.m * s.n * s.k) / t.p50 / 1e6;
        rows.push({ op: 'matmul', impl: dtype === 'bf16' ? 'cuda-wmma' : 'cuda-tiled', mode: dtype, shape: `${s.label} ${key(s)}`, timing: t, metric: 'GFLOP/s', value: gflops, device: 'cuda:0' });
        table.push([`cuda ${dtype} ${s.label} ${key(s)}`, t.p50, gflops, '', '', '', '']);
        for (const x of [a, b, c]) x.dispose();
      }
    }
  }
  printTable(`matmul (${kernel}), f32 unless noted`, ['shape', 'p50 ms', 'GFLOP/s', 'vs naive', 'torch GFLOP/s', 'torch ms / ours', 'numpy ms / ours'], table);
  if (ratios.length) {
    const gm = Math.exp(ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length);
    console.log(`\nsizes >= 256: geometric mean of torch_ms / ours_ms = ${gm.toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}); target >= 0.9`);
  } else if (!args.noTorch) {
    console.log('\nPyTorch baseline skipped: python3 cannot import torch.');
  }
  if (blasRatios.length) {
    const gm = Math.exp(blasRatios.reduce((s, r) => s + Math.log(r), 0) / blasRatios.length);
    console.log(`sizes >= 256: geometric mean of numpy_ms / ours_ms = ${gm.toFixed(3)} (min ${Math.min(...blasRatios).toFixed(3)})`);
  }
  console.log(`CSV: ${writeCsv('gemm', rows)}`);
}

main();
