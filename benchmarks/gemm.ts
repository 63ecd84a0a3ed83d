// GEMM benchmark: GFLOP/s of matmul (CPU micro-kernel picked at run time, and CUDA when present)
// over square and rectangular M, N, K in 64…2048 and the judge model's own shapes, against the
// naive reference matmul and against PyTorch's CPU matmul when python3 can import torch — all
// measured in this run on this machine.
//   npx tsx benchmarks/gemm.ts            default grid
//   npx tsx benchmarks/gemm.ts --quick    a few sizes
//   npx tsx benchmarks/gemm.ts --full     every M, N, K combination in {64, 256, 1024, 2048} too
//   --no-torch skips the PyTorch baseline.
import { Tensor, cudaAvailable, matmulReference, synchronize } from '../lib/index.js';
import { gemmKernelName, matmul } from '../lib/kernels/gemm.js';
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
  const sq = args.quick ? [64, 256, 1024] : [64, 128, 256, 384, 512, 768, 1024, 1536, 2048];
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
shapes = ${JSON.stringify(list.map((s) => [s.m, s.n, s.k, s.transB]))}
out = {}
torch.manual_seed(0)
for m, n, k, tb in shapes:
    a = torch.randn(m, k)
    b = torch.randn(n, k).t() if tb else torch.randn(k, n)
    c = torch.empty(m, n)
    out[f"{m}x{n}x{k}{'T' if tb else ''}"] = bench(lambda: torch.matmul(a, b, out=c))
print(json.dumps(out))
`;
  const r = runTorch<Record<string, { p50: number; p20: number; p80: number; samples: number }>>(script);
  for (const [k, v] of Object.entries(r ?? {})) res.set(k, v);
  return res;
}

function main() {
  const list = shapes();
  const rows: Row[] = [];
  const table: Array<Array<string | number>> = [];
  const torch = torchTimes(list);
  const kernel = gemmKernelName();
  const ratios: number[] = [];
  for (const s of list) {
    const a = Tensor.randn([s.m, s.k], { seed: 1 });
    const b = Tensor.randn(s.transB ? [s.n, s.k] : [s.k, s.n], { seed: 2 });
    const c = Tensor.empty([s.m, s.n]);
    const flops = 2 * s.m * s.n * s.k;
    const shape = `${s.label} ${key(s)}`;
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
    table.push([shape, t.p50, gflops, naive, torchGflops, vsTorch]);
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
        table.push([`cuda ${dtype} ${s.label} ${key(s)}`, t.p50, gflops, '', '', '']);
        for (const x of [a, b, c]) x.dispose();
      }
    }
  }
  printTable(`matmul (${kernel}), f32 unless noted`, ['shape', 'p50 ms', 'GFLOP/s', 'vs naive', 'torch GFLOP/s', 'torch ms / ours'], table);
  if (ratios.length) {
    const gm = Math.exp(ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length);
    console.log(`\nsizes >= 256: geometric mean of torch_ms / ours_ms = ${gm.toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}); target >= 0.9`);
  } else if (!args.noTorch) {
    console.log('\nPyTorch baseline skipped: python3 cannot import torch.');
  }
  console.log(`CSV: ${writeCsv('gemm', rows)}`);
}

main();
