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
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { args, benchDir, benchThreads, clock, markdownTable, printTable, runTorch, time, torchAvailable, torchBlasOk, torchLine, torchTimer, writeCsv, type Row } from './harness.js';

// Ratios against torch only when torch runs an optimised BLAS (never against the reference BLAS).
const blasOk = torchAvailable() && !args.noTorch ? torchBlasOk() : false;

const full = process.argv.includes('--full');

interface Shape {
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB: boolean;
  label: string;
}

function shapes(): Shape[] {
  const out: Shape[] = [];
  const sq = args.quick ? [256, 1024] : full ? [64, 128, 256, 384, 512, 768, 1024, 1536, 2048] : [256, 512, 1024, 2048];
  for (const v of sq) out.push({ m: v, n: v, k: v, transB: false, label: 'square' });
  if (full) {
    const dims = [64, 256, 1024, 2048];
    for (const m of dims) for (const n of dims) for (const k of dims) if (!(m === n && n === k)) out.push({ m, n, k, transB: false, label: 'rect' });
  }
  // The judge model's own GEMMs (models/base/config.json) on the GRPO batch of model.ts (16 prompts
  // x 8 completions x 118 tokens): every Linear y = x W^T (forward, transB), its input gradient
  // dX = dY W and its weight gradient dW = dY^T X (transA; K = tokens).
  const cfg = JSON.parse(readFileSync(path.join(benchDir, '..', 'models', 'base', 'config.json'), 'utf8')) as Record<string, number>;
  const d = cfg.dModel!, hd = d / cfg.nHeads!, kv = cfg.nKvHeads! * hd, ff = cfg.dFF!, V = cfg.vocabSize!;
  const N = args.quick ? 2048 : 16 * 8 * 118;
  const linears: Array<[string, number, number]> = [
    ['q/o proj', d, d],
    ['k/v proj', kv, d],
    ['mlp gate/up', ff, d],
    ['mlp down', d, ff],
    ['lm head', V, d],
  ];
  for (const [name, o, i] of linears) {
    out.push({ m: N, n: o, k: i, transB: true, label: `${name} fwd` });
    out.push({ m: N, n: i, k: o, transB: false, label: `${name} dX` });
    out.push({ m: o, n: i, k: N, transA: true, transB: false, label: `${name} dW` });
  }
  out.push({ m: 128, n: V, k: d, transB: true, label: 'decode lm head' });
  return out;
}

const key = (s: Shape) => `${s.transA ? 'T' : ''}${s.m}x${s.n}x${s.k}${s.transB ? 'T' : ''}`;

/** torch.matmul on one shape in a fresh python3 (interleaved with ours by the caller). */
function torchTime(s: Shape): { p50: number; p20: number; p80: number; samples: number } | undefined {
  if (args.noTorch || !torchAvailable() || !blasOk) return undefined;
  const script = `${torchTimer}
m, n, k, ta, tb = ${s.m}, ${s.n}, ${s.k}, ${s.transA ? 1 : 0}, ${s.transB ? 1 : 0}
torch.manual_seed(0)
a = torch.randn(k, m).t() if ta else torch.randn(m, k)
b = torch.randn(n, k).t() if tb else torch.randn(k, n)
c = torch.empty(m, n)
big = 2 * m * n * k > 2e9
print(json.dumps(bench(lambda: torch.matmul(a, b, out=c), warmup=1 if big else 2, min_reps=3 if big else 5)))
`;
  return runTorch<{ p50: number; p20: number; p80: number; samples: number }>(script);
}

/**
 * The machine's measured f32 FMA peak (GFLOP/s) at benchThreads(): 12 independent FMA chains per
 * thread on the widest vectors (zmm with AVX-512, else ymm), compiled here with cc; undefined
 * without a compiler.
 */
function fmaPeak(): number | undefined {
  const src = `#include <immintrin.h>
#include <stdio.h>
#include <omp.h>
#include <stdlib.h>
#include <time.h>
#define CH 12
// Twelve named accumulators (an array would live on the stack and bound the loop by store forwarding).
#define FMA12(f) a0 = f(a0, x, y); a1 = f(a1, x, y); a2 = f(a2, x, y); a3 = f(a3, x, y); a4 = f(a4, x, y); a5 = f(a5, x, y); \\
  a6 = f(a6, x, y); a7 = f(a7, x, y); a8 = f(a8, x, y); a9 = f(a9, x, y); a10 = f(a10, x, y); a11 = f(a11, x, y);
__attribute__((target("avx512f"))) static double run512(long it) {
  __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(0.001f);
  __m512 a0 = x, a1 = y, a2 = x, a3 = y, a4 = x, a5 = y, a6 = x, a7 = y, a8 = x, a9 = y, a10 = x, a11 = y;
  for (long r = 0; r < it; ++r) { FMA12(_mm512_fmadd_ps) }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  return _mm512_reduce_add_ps(s);
}
__attribute__((target("avx2,fma"))) static double run256(long it) {
  __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(0.001f);
  __m256 a0 = x, a1 = y, a2 = x, a3 = y, a4 = x, a5 = y, a6 = x, a7 = y, a8 = x, a9 = y, a10 = x, a11 = y;
  for (long r = 0; r < it; ++r) { FMA12(_mm256_fmadd_ps) }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  float t[8], r = 0; _mm256_storeu_ps(t, s); for (int j = 0; j < 8; ++j) r += t[j];
  return r;
}
static double cpu_s(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char** argv) {
  int use_cpu = argc > 1 && argv[1][0] == 'c';
  int w512 = __builtin_cpu_supports("avx512f");
  long it = 20000000; double best = 0, sink = 0;
  for (int rep = 0; rep < 5; ++rep) {
    double t0 = omp_get_wtime(), c0 = cpu_s();
    #pragma omp parallel reduction(+:sink)
    sink += w512 ? run512(it) : run256(it);
    double dt = use_cpu ? (cpu_s() - c0) / omp_get_max_threads() : omp_get_wtime() - t0;
    double flops = 2.0 * CH * (w512 ? 16 : 8) * it * omp_get_max_threads();
    if (flops / dt > best) best = flops / dt;
  }
  printf("%f %g\\n", best / 1e9, sink);
  return 0;
}
`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mtrl-peak-'));
  try {
    writeFileSync(path.join(dir, 'peak.c'), src);
    const cc = spawnSync('cc', ['-O2', '-fopenmp', '-o', path.join(dir, 'peak'), path.join(dir, 'peak.c')], { encoding: 'utf8' });
    if (cc.status !== 0) return undefined;
    // The best of 5 runs (on the benchmark clock; with --clock cpu, CPU seconds per thread).
    const r = spawnSync(path.join(dir, 'peak'), [clock], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(benchThreads()) } });
    const v = Number(r.stdout.trim().split(' ')[0]);
    return Number.isFinite(v) && v > 0 ? v : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
  const kernel = gemmKernelName();
  const peak = fmaPeak();
  console.log(`${torchLine()}; measured FMA peak ${peak ? peak.toFixed(1) + ' GFLOP/s' : 'unknown (no cc)'} at ${benchThreads()} thread(s)`);
  const ratios: number[] = [];
  const blasRatios: number[] = [];
  for (const s of list) {
    const a = Tensor.randn(s.transA ? [s.k, s.m] : [s.m, s.k], { seed: 1 });
    const b = Tensor.randn(s.transB ? [s.n, s.k] : [s.k, s.n], { seed: 2 });
    const c = Tensor.empty([s.m, s.n]);
    const flops = 2 * s.m * s.n * s.k;
    const shape = `${s.label} ${key(s)}`;
    const tbNumpy = s.transA ? undefined : numpyTime(s);
    // Interleaved: ours (first half), torch in a fresh python3, ours (second half).
    const topt = { warmup: 2, warmupMs: 100, minReps: 5, budgetMs: args.quick ? 300 : 1000 };
    const run = () => matmul(a, b, { transA: s.transA, transB: s.transB, out: c });
    const t1 = time(run, topt);
    const tt = torchTime(s);
    const t2 = time(run, topt);
    const t = { ...t2, p50: (t1.p50 + t2.p50) / 2 };
    const gflops = flops / t.p50 / 1e6;
    rows.push({ op: 'matmul', impl: kernel, mode: 'f32', shape, timing: t, metric: 'GFLOP/s', value: gflops });
    let naive = '';
    if (!s.transA && flops <= 2 * 256 ** 3 * (args.quick ? 1 : 8)) {
      const tn = time(() => matmulReference(a, b, { transB: s.transB, out: c }), { warmup: 1, minReps: 3, budgetMs: 300, maxReps: 10 });
      rows.push({ op: 'matmul', impl: 'naive', mode: 'f32', shape, timing: tn, metric: 'speedup_vs_naive', value: tn.p50 / t.p50 });
      naive = `${(tn.p50 / t.p50).toFixed(0)}x`;
    }
    let vsTorch = '';
    let torchGflops = '';
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
    const pct = peak ? `${((100 * gflops) / peak).toFixed(0)}%` : '';
    if (peak) rows.push({ op: 'matmul', impl: kernel, mode: 'f32', shape, timing: t, metric: 'pct_of_fma_peak', value: (100 * gflops) / peak });
    table.push([shape, t.p50, gflops, pct, naive, torchGflops, vsTorch, vsBlas]);
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
        table.push([`cuda ${dtype} ${s.label} ${key(s)}`, t.p50, gflops, '', '', '', '', '']);
        for (const x of [a, b, c]) x.dispose();
      }
    }
  }
  const header = ['shape', 'p50 ms', 'GFLOP/s', '% FMA peak', 'vs naive', 'torch GFLOP/s', 'torch ms / ours', 'numpy ms / ours'];
  printTable(`matmul (${kernel}), f32 unless noted, ${benchThreads()} thread(s), ${clock} clock`, header, table);
  console.log('\n' + markdownTable(header, table));
  if (ratios.length) {
    const gm = Math.exp(ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length);
    console.log(`\nsizes >= 256: geometric mean of torch_ms / ours_ms = ${gm.toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}); target >= 1.1`);
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
