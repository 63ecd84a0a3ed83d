// Sampling benchmark: sampleTokens against the strongest PyTorch CPU approach for each mode and a
// sort-based reference in the same native code (identical passes except the cut search), over
// B ∈ {1, 16, 128, 512} × V ∈ {32000, 128256, 151936} × {greedy, top-k, top-p, top-k+top-p, min-p}.
// PyTorch (when python3 can import torch), per mode, the approach a user would pick:
//   greedy       argmax
//   top-k        torch.topk(k) -> softmax -> multinomial -> gather
//   top-k+top-p  torch.topk(k) -> softmax -> cumsum mask -> multinomial -> gather
//   top-p        the faster of: torch.topk(1024) with a full-sort fallback when some row's top-1024
//                mass is below p, and a full sort (Hugging Face's TopP warper)
//   min-p        softmax -> mask p < minP * p_max -> multinomial
// Interleaved per shape: ours, then torch (a fresh python3 per shape), then ours again; our time
// is the mean of the two medians. Reports µs per call, GB/s of logits read and the load average.
// Logits are 2.5·N(0, 1) f32; temperature 1; top-k 50, top-p 0.9, min-p 0.05. On a CUDA machine
// the CUDA path is timed too.
//
// Usage: npx tsx benchmarks/sampling.ts [--clock cpu] [--quick] [--B 1,16] [--V 32000,151936] [--no-torch] [--no-reference]
import { cudaAvailable } from '../lib/device.js';
import { sampleTokens, sampleTokensSortReference, type SampleOptions } from '../lib/kernels/sampling.js';
import { native } from '../lib/native.js';
import { Tensor } from '../lib/tensor.js';
import os from 'node:os';
import { args, markdownTable, printTable, runTorch, time, torchAvailable, torchLine, torchTimer, clock, benchThreads, writeCsv, type Row } from './harness.js';

const noReference = process.argv.includes('--no-reference');
// --B 1,16 / --V 32000 pick a subset of the grid.
const listArg = (flag: string) => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1]!.split(',').map(Number) : undefined;
};
const Bs = listArg('--B') ?? (args.quick ? [1, 16] : [1, 16, 128, 512]);
const Vs = listArg('--V') ?? (args.quick ? [32000, 151936] : [32000, 128256, 151936]);
const modes: Record<string, SampleOptions> = {
  greedy: { temperature: 0 },
  'top-k': { topK: 50 },
  'top-p': { topP: 0.9 },
  'top-k+top-p': { topK: 50, topP: 0.9 },
  'min-p': { minP: 0.05 },
};

// Fewer repetitions for the slow points keep the default grid to a few minutes on 2 cores.
function budget(B: number, V: number): { minReps: number; budgetMs: number; warmup: number; warmupMs: number } {
  const big = B * V >= 128 * 128256;
  return { warmup: 1, warmupMs: 100, minReps: big ? 3 : 5, budgetMs: big ? 400 : 800 };
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
  impl: string;
}

function torchShape(dev: 'cpu' | 'cuda', B: number, V: number): Map<string, TorchPoint> {
  const out = new Map<string, TorchPoint>();
  if (args.noTorch || !torchAvailable()) return out;
  const script = `${torchTimer}
dev = ${JSON.stringify(dev)}
B, V = ${B}, ${V}
def topk_sample(x, k, p=None):
    v, i = torch.topk(x, k, dim=-1)
    pr = torch.softmax(v, dim=-1)
    if p is not None:
        c = torch.cumsum(pr, dim=-1)
        pr = pr.masked_fill(c - pr >= p, 0.0)
    return i.gather(-1, torch.multinomial(pr, 1))
def sort_top_p(x, p):
    sl, si = torch.sort(x, dim=-1, descending=True)
    sp = torch.softmax(sl, dim=-1)
    c = torch.cumsum(sp, dim=-1)
    sp = sp.masked_fill(c - sp >= p, 0.0)
    return si.gather(-1, torch.multinomial(sp, 1))
def bounded_top_p(x, p, K=1024):
    K = min(K, x.shape[-1])
    v, i = torch.topk(x, K, dim=-1)
    pr = torch.exp(v - torch.logsumexp(x, dim=-1, keepdim=True))
    c = torch.cumsum(pr, dim=-1)
    if bool((c[:, -1] >= p).all()):
        pr = pr.masked_fill(c - pr >= p, 0.0)
        return i.gather(-1, torch.multinomial(pr, 1))
    return sort_top_p(x, p)
def min_p(x, mp):
    pr = torch.softmax(x, dim=-1)
    pr = pr.masked_fill(pr < mp * pr.max(dim=-1, keepdim=True).values, 0.0)
    return torch.multinomial(pr, 1)
modes = {
    'greedy': [('argmax', lambda x: torch.argmax(x, dim=-1))],
    'top-k': [('topk', lambda x: topk_sample(x, 50))],
    'top-p': [('topk1024+sort fallback', lambda x: bounded_top_p(x, 0.9)), ('sort', lambda x: sort_top_p(x, 0.9))],
    'top-k+top-p': [('topk', lambda x: topk_sample(x, 50, 0.9))],
    'min-p': [('softmax+mask', lambda x: min_p(x, 0.05))],
}
x = (2.5 * torch.randn(B, V)).to(dev)
big = B * V >= 128 * 128256
res = []
for mode, impls in modes.items():
    best = None
    for name, f in impls:
        def fn():
            f(x)
            if dev == 'cuda': torch.cuda.synchronize()
        t = bench(fn, warmup=1, min_reps=2 if big else 5, budget_ms=400 if big else 800)
        if best is None or t['p50'] < best['p50']: best = dict(t, impl=name)
    res.append(dict(B=B, V=V, mode=mode, **best))
print(json.dumps(res))
`;
  try {
    const r = runTorch<TorchPoint[]>(script);
    for (const p of r ?? []) out.set(p.mode, p);
  } catch (e) {
    // e.g. killed for memory at B = 512 (the full sort holds several copies of the row): say so, go on.
    console.log(`torch baseline at B=${B}, V=${V} gave no result: ${(e as Error).message.split('\n')[0]}`);
  }
  return out;
}

function loadAvg(): string {
  return os.loadavg().map((l) => l.toFixed(1)).join(' / ');
}

const loads: string[] = [];
console.log(`${torchLine()}; load average at start ${loadAvg()}`);

for (const V of Vs) {
  for (const B of Bs) {
    const data = new Float32Array(B * V);
    for (let i = 0; i < data.length; i++) data[i] = 2.5 * Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
    const x = Tensor.fromArray(data, [B, V]);
    const xg = cuda.available ? x.to('cuda:0') : undefined;
    const gb = (B * V * 4) / 1e9;
    const shape = `B=${B},V=${V}`;
    let offset = 0;
    // Interleaved: ours (first half), torch, ours (second half).
    const first = new Map<string, number>();
    for (const [mode, opts] of Object.entries(modes))
      first.set(mode, time(() => sampleTokens(x, { ...opts, seed: 1, offset: offset++ }), budget(B, V)).p50);
    const torchCpu = torchShape('cpu', B, V);
    const torchGpu = cuda.available ? torchShape('cuda', B, V) : new Map<string, TorchPoint>();
    loads.push(`${shape}: ${loadAvg()}`);
    for (const [mode, opts] of Object.entries(modes)) {
      const second = time(() => sampleTokens(x, { ...opts, seed: 1, offset: offset++ }), budget(B, V));
      const p50 = (first.get(mode)! + second.p50) / 2;
      const fast = { ...second, p50 };
      rows.push({ op: 'sampleTokens', impl: 'mtrl', mode, shape, timing: fast, metric: 'GB/s', value: gb / (fast.p50 / 1e3), device });
      let refMs = NaN;
      if (!noReference && mode !== 'greedy' && B * V <= 16 * 151936) {
        const ref = time(() => sampleTokensSortReference(x, { ...opts, seed: 1, offset: offset++ }), budget(B, V));
        refMs = ref.p50;
        rows.push({ op: 'sampleTokens', impl: 'sort-reference', mode, shape, timing: ref, metric: 'GB/s', value: gb / (ref.p50 / 1e3), device });
        rows.push({ op: 'sampleTokens', impl: 'mtrl', mode, shape, timing: fast, metric: 'speedup_vs_sort', value: ref.p50 / fast.p50, device });
      }
      // One row, several threads: the row's first pass split over them (forced) against the default
      // (split only from MTRL_SAMPLING_SPLIT_MIN_VOCAB), same run, so the threshold is measured.
      let splitMs = NaN;
      if (B < benchThreads() && V >= 16384) {
        const prev = native().setSamplingSplitMinVocab(0);
        const sp = time(() => sampleTokens(x, { ...opts, seed: 1, offset: offset++ }), budget(B, V));
        native().setSamplingSplitMinVocab(prev);
        splitMs = sp.p50;
        rows.push({ op: 'sampleTokens', impl: 'mtrl split-row', mode, shape, timing: sp, metric: 'GB/s', value: gb / (sp.p50 / 1e3), device });
      }
      const tp = torchCpu.get(mode);
      if (tp) {
        rows.push({ op: 'sampleTokens', impl: `torch ${tp.impl}`, mode, shape, timing: { ...tp, samples: 0 }, metric: 'GB/s', value: gb / (tp.p50 / 1e3), device });
        rows.push({ op: 'sampleTokens', impl: 'mtrl', mode, shape, timing: fast, metric: 'speedup_vs_torch', value: tp.p50 / fast.p50, device });
      }
      let gpuUs: number | string = '-';
      let gpuTorchUs: number | string = '-';
      if (xg) {
        const g = time(() => sampleTokens(xg, { ...opts, seed: 1, offset: offset++ }), budget(B, V));
        gpuUs = g.p50 * 1e3;
        rows.push({ op: 'sampleTokens', impl: 'mtrl', mode, shape, timing: g, metric: 'GB/s', value: gb / (g.p50 / 1e3), device: 'cuda:0' });
        const tg = torchGpu.get(mode);
        if (tg) {
          gpuTorchUs = tg.p50 * 1e3;
          rows.push({ op: 'sampleTokens', impl: `torch ${tg.impl}`, mode, shape, timing: { ...tg, samples: 0 }, metric: 'GB/s', value: gb / (tg.p50 / 1e3), device: 'cuda:0' });
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
        tp ? tp.impl : '-',
        tp ? tp.p50 / fast.p50 : '-',
        Number.isFinite(splitMs) ? splitMs * 1e3 : '-',
        gpuUs,
        gpuTorchUs,
      ]);
    }
    x.dispose();
    xg?.dispose();
  }
}

const header = ['B', 'V', 'mode', 'mtrl µs', 'GB/s', 'sort-ref µs', '× vs sort', 'torch µs', 'torch approach', '× vs torch', 'row split µs', 'cuda µs', 'torch-cuda µs'];
printTable(`sampleTokens (CPU ${simd}, ${benchThreads()} thread(s), ${clock} clock; logits 2.5·N(0,1) f32; top-k 50, top-p 0.9, min-p 0.05; medians)`, header, table);
if (!torchAvailable() || args.noTorch) console.log('(PyTorch baseline skipped: python3 cannot import torch or --no-torch)');
if (!cuda.available) console.log(`(CUDA columns skipped: ${cuda.reason})`);
console.log(`Load average (1 / 5 / 15 min) after each shape's torch run: ${loads.join('; ')}`);
console.log('\n' + markdownTable(header, table));
console.log(`\nCSV: ${writeCsv('sampling', rows)}`);
