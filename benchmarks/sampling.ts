// Sampling benchmark: sampleTokens (threshold search, no sort) against the sort-based reference in
// the same native code (identical passes except the cut search, so the ratio isolates the
// algorithm) and PyTorch's sort-based top-k/top-p sampling (when python3 can import torch), over
// B ∈ {1, 16, 128, 512} × V ∈ {32000, 128256, 151936} × {greedy, top-k, top-p, top-k+top-p, min-p}.
// Reports µs per call and GB/s of logits read. Logits are 2.5·N(0, 1) f32 (a spread similar to an
// LM head's); temperature 1; top-k 50, top-p 0.9, min-p 0.05. On a CUDA machine the CUDA path is
// timed too (and torch on the GPU).
//
// Usage: npx tsx benchmarks/sampling.ts [--quick] [--no-torch] [--no-reference]
import { cudaAvailable } from '../lib/device.js';
import { sampleTokens, sampleTokensSortReference, type SampleOptions } from '../lib/kernels/sampling.js';
import { native } from '../lib/native.js';
import { Tensor } from '../lib/tensor.js';
import { args, markdownTable, printTable, runTorch, time, torchAvailable, torchTimer, writeCsv, type Row } from './harness.js';

const noReference = process.argv.includes('--no-reference');
const Bs = args.quick ? [1, 16] : [1, 16, 128, 512];
const Vs = args.quick ? [32000, 151936] : [32000, 128256, 151936];
const modes: Record<string, SampleOptions> = {
  greedy: { temperature: 0 },
  'top-k': { topK: 50 },
  'top-p': { topP: 0.9 },
  'top-k+top-p': { topK: 50, topP: 0.9 },
  'min-p': { minP: 0.05 },
};

// Fewer repetitions for the slow points keep the default grid to a few minutes on 2 cores.
function budget(B: number, V: number): { minReps: number; budgetMs: number; warmup: number } {
  const big = B * V >= 128 * 128256;
  return { warmup: 1, minReps: big ? 3 : 5, budgetMs: big ? 400 : 800 };
}

const rows: Row[] = [];
const table: Array<Array<string | number>> = [];
const device = 'cpu';
const cuda = cudaAvailable();
const simd = native().buildInfo().simd;

interface TorchPoint {
  B: number;
  V: number;
  mode: string;
  p50: number;
  p20: number;
  p80: number;
}

function torchBaseline(dev: 'cpu' | 'cuda'): Map<string, TorchPoint> {
  const out = new Map<string, TorchPoint>();
  if (args.noTorch || !torchAvailable()) return out;
  // The usual sort-based implementation (as in Hugging Face's TopK/TopP logits warpers): sort the
  // row, cumulative softmax, mask, renormalise, torch.multinomial.
  const script = `${torchTimer}
dev = ${JSON.stringify(dev)}
def sample(logits, mode):
    if mode == 'greedy':
        return torch.argmax(logits, dim=-1)
    if mode == 'min-p':
        probs = torch.softmax(logits, dim=-1)
        keep = probs >= 0.05 * probs.max(dim=-1, keepdim=True).values
        probs = torch.where(keep, probs, torch.zeros_like(probs))
        return torch.multinomial(probs, 1)
    sl, si = torch.sort(logits, dim=-1, descending=True)
    if 'top-k' in mode:
        sl[:, 50:] = float('-inf')
    sp = torch.softmax(sl, dim=-1)
    if 'top-p' in mode:
        cum = torch.cumsum(sp, dim=-1)
        drop = (cum - sp) >= 0.9
        sp = sp.masked_fill(drop, 0.0)
    idx = torch.multinomial(sp, 1)
    return si.gather(-1, idx)
res = []
for B in ${JSON.stringify(Bs)}:
    for V in ${JSON.stringify(Vs)}:
        x = (2.5 * torch.randn(B, V)).to(dev)
        for mode in ${JSON.stringify(Object.keys(modes))}:
            def fn():
                sample(x, mode)
                if dev == 'cuda': torch.cuda.synchronize()
            big = B * V >= 128 * 128256
            t = bench(fn, warmup=1, min_reps=3 if big else 5, budget_ms=400 if big else 800)
            res.append(dict(B=B, V=V, mode=mode, **t))
print(json.dumps(res))
`;
  const r = runTorch<TorchPoint[]>(script);
  for (const p of r ?? []) out.set(`${p.B},${p.V},${p.mode}`, p);
  return out;
}

const torchCpu = torchBaseline('cpu');
const torchGpu = cuda.available ? torchBaseline('cuda') : new Map<string, TorchPoint>();

for (const V of Vs) {
  for (const B of Bs) {
    const data = new Float32Array(B * V);
    for (let i = 0; i < data.length; i++) data[i] = 2.5 * Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
    const x = Tensor.fromArray(data, [B, V]);
    const xg = cuda.available ? x.to('cuda:0') : undefined;
    const gb = (B * V * 4) / 1e9;
    for (const [mode, opts] of Object.entries(modes)) {
      const shape = `B=${B},V=${V}`;
      let offset = 0;
      const fast = time(() => sampleTokens(x, { ...opts, seed: 1, offset: offset++ }), budget(B, V));
      rows.push({ op: 'sampleTokens', impl: 'mtrl', mode, shape, timing: fast, metric: 'GB/s', value: gb / (fast.p50 / 1e3), device });
      let refMs = NaN;
      if (!noReference && mode !== 'greedy') {
        const ref = time(() => sampleTokensSortReference(x, { ...opts, seed: 1, offset: offset++ }), budget(B, V));
        refMs = ref.p50;
        rows.push({ op: 'sampleTokens', impl: 'sort-reference', mode, shape, timing: ref, metric: 'GB/s', value: gb / (ref.p50 / 1e3), device });
        rows.push({ op: 'sampleTokens', impl: 'mtrl', mode, shape, timing: fast, metric: 'speedup_vs_sort', value: ref.p50 / fast.p50, device });
      }
      const tp = torchCpu.get(`${B},${V},${mode}`);
      if (tp) {
        rows.push({ op: 'sampleTokens', impl: 'torch', mode, shape, timing: { ...tp, samples: 0 }, metric: 'GB/s', value: gb / (tp.p50 / 1e3), device });
        rows.push({ op: 'sampleTokens', impl: 'mtrl', mode, shape, timing: fast, metric: 'speedup_vs_torch', value: tp.p50 / fast.p50, device });
      }
      let gpuUs: number | string = '-';
      let gpuTorchUs: number | string = '-';
      if (xg) {
        const g = time(() => sampleTokens(xg, { ...opts, seed: 1, offset: offset++ }), budget(B, V));
        gpuUs = g.p50 * 1e3;
        rows.push({ op: 'sampleTokens', impl: 'mtrl', mode, shape, timing: g, metric: 'GB/s', value: gb / (g.p50 / 1e3), device: 'cuda:0' });
        const tg = torchGpu.get(`${B},${V},${mode}`);
        if (tg) {
          gpuTorchUs = tg.p50 * 1e3;
          rows.push({ op: 'sampleTokens', impl: 'torch', mode, shape, timing: { ...tg, samples: 0 }, metric: 'GB/s', value: gb / (tg.p50 / 1e3), device: 'cuda:0' });
        }
      }
      table.push([
        B,
        V,
        mode,
        fast.p50 * 1e3,
        gb / (fast.p50 / 1e3),
        Number.isFinite(refMs) ? refMs * 1e3 : '-',
        Number.isFinite(refMs) ? refMs / fast.p50 : '-',
        tp ? tp.p50 * 1e3 : '-',
        tp ? tp.p50 / fast.p50 : '-',
        gpuUs,
        gpuTorchUs,
      ]);
    }
    x.dispose();
    xg?.dispose();
  }
}

const header = ['B', 'V', 'mode', 'mtrl µs', 'GB/s', 'sort-ref µs', '× vs sort', 'torch µs', '× vs torch', 'cuda µs', 'torch-cuda µs'];
printTable(`sampleTokens (CPU ${simd}; logits 2.5·N(0,1) f32; top-k 50, top-p 0.9, min-p 0.05; medians)`, header, table);
if (!torchAvailable() || args.noTorch) console.log('(PyTorch baseline skipped: python3 cannot import torch or --no-torch)');
if (!cuda.available) console.log(`(CUDA columns skipped: ${cuda.reason})`);
console.log('\n' + markdownTable(header, table));
console.log(`\nCSV: ${writeCsv('sampling', rows)}`);
