// Policy-loss benchmark: forward + backward time and peak extra memory of
//   (a) fused-linear  policyLoss({ hidden, weight })       — logits never materialised (default chunks,
//                     and "c512": chunkSize 512, more memory for speed)
//   (b) logits path   matmul → policyLoss({ logits }) → two matmuls for dH, dW
//   (c) unfused       policyLossUnfused: logits, log-softmax, dlogp, dlogits all materialised (native)
//   (d) PyTorch       autograd on the same formula (when python3 can import torch)
// over N·T ∈ {1024, 4096} × V ∈ {32000, 151936} × d ∈ {512, 2048} (`--quick`: N·T = 1024, V = 32000,
// d = 512). Each (impl, shape) runs in a fresh process so its peak memory is its own: native peak
// bytes over the live bytes before the call (tensors) and peak RSS growth (everything).
// Usage: npx tsx benchmarks/policy-loss.ts [--clock cpu] [--quick] [--no-torch] [--shape NTxVxd ...]
// Also times our matmul on the loss's three products alone ('gemm3') and reports the fused loss's
// rate as a % of that (it is GEMM-bound).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Tensor, memoryStats } from '../lib/index.js';
import { matmul } from '../lib/kernels/gemm.js';
import { policyLoss, policyLossUnfused, type PolicyLossBatch } from '../lib/kernels/policy-loss.js';
import { args, benchThreads, clock, markdownTable, printTable, runTorch, time, torchAvailable, torchLine, torchTimer, writeCsv, type Row, type Timing } from './harness.js';

type Impl = 'fused-linear' | 'fused-linear c512' | 'logits-path' | 'unfused' | 'torch' | 'gemm3';
interface Shape {
  NT: number;
  V: number;
  d: number;
}
interface Measured {
  timing: Timing;
  peakExtraBytes: number;
  rssGrowthBytes: number;
}

const T = 256; // completion length; N = NT / T sequences
const shapeStr = (s: Shape) => `NT=${s.NT},V=${s.V},d=${s.d}`;
const timeOpts = { warmup: 1, minReps: 3, budgetMs: 3000, maxReps: 10 };

function inputs(s: Shape) {
  const N = s.NT / T;
  const hidden = Tensor.randn([N, T, s.d], { seed: 1, std: 1 });
  const weight = Tensor.randn([s.V, s.d], { seed: 2, std: 1 / Math.sqrt(s.d) });
  const batch: PolicyLossBatch = {
    tokens: Tensor.fromArray(Int32Array.from({ length: s.NT }, (_, i) => (i * 7919) % s.V), [N, T]),
    mask: Tensor.full([N, T], 1, { dtype: 'u8' }),
    advantages: Tensor.fromArray(Float32Array.from({ length: N }, (_, i) => (i % 2 ? 1 : -1)), [N]),
  };
  return { N, hidden, weight, batch };
}

/** Child process: one implementation on one shape; prints a JSON line. */
function child(impl: Impl, s: Shape): void {
  const { N, hidden, weight, batch } = inputs(s);
  let run: () => void;
  if (impl === 'fused-linear' || impl === 'fused-linear c512') {
    // c512: chunks of 512 rows (more memory, c·V·4 bytes of logits, for speed).
    const opts = impl === 'fused-linear c512' ? { chunkSize: 512 } : {};
    run = () => {
      const r = policyLoss({ hidden, weight }, batch, opts);
      r.grads.hidden.dispose();
      r.grads.weight.dispose();
      r.logprobs.dispose();
    };
  } else if (impl === 'logits-path') {
    const h2 = hidden.reshape([s.NT, s.d]);
    run = () => {
      const logits = matmul(h2, weight, { transB: true });
      const r = policyLoss({ logits: logits.reshape([N, T, s.V]) }, batch);
      logits.dispose();
      const gz = r.grads.logits.reshape([s.NT, s.V]);
      const gh = matmul(gz, weight);
      const gw = matmul(gz, h2, { transA: true });
      r.grads.logits.dispose();
      gz.dispose();
      gh.dispose();
      gw.dispose();
      r.logprobs.dispose();
    };
  } else if (impl === 'gemm3') {
    // Only the loss's three GEMMs (logits = H W^T, dH = G W, dW = G^T H) into preallocated outputs:
    // the rate the fused kernel is compared with (it is GEMM-bound).
    const h2 = hidden.reshape([s.NT, s.d]);
    const L = Tensor.empty([s.NT, s.V]);
    const GH = Tensor.empty([s.NT, s.d]);
    const GW = Tensor.empty([s.V, s.d]);
    run = () => {
      matmul(h2, weight, { transB: true, out: L });
      matmul(L, weight, { out: GH });
      matmul(L, h2, { transA: true, out: GW });
    };
  } else {
    run = () => {
      const r = policyLossUnfused({ hidden, weight }, batch);
      r.grads.hidden.dispose();
      r.grads.weight.dispose();
      r.logprobs.dispose();
    };
  }
  const cpu = () => memoryStats().find((m) => m.device === 'cpu')!;
  const live0 = cpu().liveBytes;
  const rss0 = process.memoryUsage().rss;
  run();
  const peakExtra = cpu().peakBytes - live0;
  const rssGrowth = Math.max(0, process.resourceUsage().maxRSS * 1024 - rss0);
  const timing = time(run, timeOpts);
  console.log(JSON.stringify({ timing, peakExtraBytes: peakExtra, rssGrowthBytes: rssGrowth }));
}

function torchRun(s: Shape): Measured | undefined {
  const N = s.NT / T;
  const script = `${torchTimer}
import resource
torch.manual_seed(0)
N, T, V, d = ${N}, ${T}, ${s.V}, ${s.d}
h = torch.randn(N, T, d, requires_grad=True)
W = (torch.randn(V, d) / d ** 0.5).requires_grad_(True)
tok = (torch.arange(N * T) * 7919 % V).view(N, T)
mask = torch.ones(N, T)
A = torch.tensor([(1.0 if i % 2 else -1.0) for i in range(N)]).unsqueeze(1)
def step():
    logits = h @ W.t()
    lp = torch.log_softmax(logits.float(), -1).gather(-1, tok.unsqueeze(-1)).squeeze(-1)
    r = torch.exp(lp - lp.detach())
    per_tok = -torch.min(r * A, torch.clamp(r, 0.8, 1.2) * A)
    loss = ((per_tok * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    h.grad = None; W.grad = None
    loss.backward()
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
step()
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = bench(step, warmup=1, min_reps=3, budget_ms=3000, max_reps=10)
print(json.dumps({"timing": t, "peakExtraBytes": (rss1 - rss0) * 1024, "rssGrowthBytes": (rss1 - rss0) * 1024}))
`;
  return runTorch<Measured>(script);
}

function parent(): void {
  process.env.MTRL_BENCH_CLOCK = clock; // the children time on the same clock
  console.log(torchLine());
  const shapes: Shape[] = [];
  // --shape NTxVxd (repeatable) picks shapes instead of the grid, e.g. --shape 2048x151936x512.
  for (let i = 0; i < process.argv.length; i++) {
    if (process.argv[i] !== '--shape') continue;
    const m = /^(\d+)x(\d+)x(\d+)$/.exec(process.argv[i + 1] ?? '');
    if (!m || Number(m[1]) % T !== 0) throw new RangeError(`--shape must be NTxVxd with NT a multiple of ${T}, got ${process.argv[i + 1]}`);
    shapes.push({ NT: Number(m[1]), V: Number(m[2]), d: Number(m[3]) });
  }
  if (shapes.length === 0)
    for (const NT of args.quick ? [1024] : [1024, 4096])
      for (const V of args.quick ? [32000] : [32000, 151936]) for (const d of args.quick ? [512] : [512, 2048]) shapes.push({ NT, V, d });
  const impls: Impl[] = ['fused-linear', 'fused-linear c512', 'gemm3', 'logits-path', 'unfused'];
  const withTorch = !args.noTorch && torchAvailable();
  if (withTorch) impls.push('torch');
  else console.log(args.noTorch ? 'PyTorch baseline skipped (--no-torch)' : 'PyTorch baseline skipped: python3 cannot import torch');
  const self = fileURLToPath(import.meta.url);
  const rows: Row[] = [];
  const table: Array<Array<string | number>> = [];
  const memLimit = 8 * 2 ** 30; // skip materialising runs that would need more than this
  for (const s of shapes) {
    const results = new Map<Impl, Measured>();
    for (const impl of impls) {
      const materialised = impl.startsWith('fused-linear') ? 0 : (impl === 'gemm3' ? 1 : impl === 'logits-path' ? 2 : 4) * s.NT * s.V * 4;
      if (materialised > memLimit) {
        console.log(`${impl} ${shapeStr(s)}: skipped (would materialise ${(materialised / 2 ** 30).toFixed(1)} GiB)`);
        continue;
      }
      let m: Measured | undefined;
      if (impl === 'torch') m = torchRun(s);
      else {
        const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', impl, String(s.NT), String(s.V), String(s.d)], {
          encoding: 'utf8',
          env: process.env,
          maxBuffer: 16 << 20,
        });
        if (r.status !== 0) throw new Error(`${impl} ${shapeStr(s)} failed: ${r.stderr.slice(-2000)}`);
        const lines = r.stdout.trim().split('\n');
        m = JSON.parse(lines[lines.length - 1]!) as Measured;
      }
      if (m) results.set(impl, m);
    }
    const unfused = results.get('unfused');
    const torch = results.get('torch');
    const gemm3 = results.get('gemm3');
    results.delete('gemm3');
    // Every implementation returns dL/dhidden (NT·d) and dL/dweight (V·d) in f32: the workspace is
    // the peak extra memory beyond those outputs.
    const outputs = (s.NT * s.d + s.V * s.d + s.NT) * 4;
    const work = (m: Measured) => Math.max(0, m.peakExtraBytes - outputs);
    for (const [impl, m] of results) {
      const mib = m.peakExtraBytes / 2 ** 20;
      const workMiB = work(m) / 2 ** 20;
      const vsUnfused = unfused ? m.timing.p50 / unfused.timing.p50 : NaN;
      const memVsUnfused = unfused ? m.peakExtraBytes / unfused.peakExtraBytes : NaN;
      const workVsUnfused = unfused ? work(m) / work(unfused) : NaN;
      const vsTorch = torch ? m.timing.p50 / torch.timing.p50 : NaN;
      // The fused loss's rate as a % of our own GEMM rate on its three products (same FLOPs).
      const gemmPct = impl.startsWith('fused-linear') && gemm3 ? (100 * gemm3.timing.p50) / m.timing.p50 : NaN;
      table.push([shapeStr(s), impl, m.timing.p50, m.timing.p20, m.timing.p80, mib, workMiB, m.rssGrowthBytes / 2 ** 20, vsUnfused, memVsUnfused, workVsUnfused, vsTorch, Number.isFinite(gemmPct) ? `${gemmPct.toFixed(0)}% (3 GEMMs ${gemm3!.timing.p50.toFixed(1)} ms)` : '']);
      const shape = shapeStr(s);
      if (Number.isFinite(gemmPct)) rows.push({ op: 'policy_loss', impl, mode: 'fwd+bwd', shape, timing: m.timing, metric: 'pct_of_own_gemm_rate', value: gemmPct });
      rows.push({ op: 'policy_loss', impl, mode: 'fwd+bwd', shape, timing: m.timing, metric: 'peak_extra_MiB', value: mib });
      rows.push({ op: 'policy_loss', impl, mode: 'fwd+bwd', shape, timing: m.timing, metric: 'workspace_MiB', value: workMiB });
      rows.push({ op: 'policy_loss', impl, mode: 'fwd+bwd', shape, timing: m.timing, metric: 'rss_growth_MiB', value: m.rssGrowthBytes / 2 ** 20 });
      if (unfused) rows.push({ op: 'policy_loss', impl, mode: 'fwd+bwd', shape, timing: m.timing, metric: 'time_ratio_vs_unfused', value: vsUnfused });
      if (torch) rows.push({ op: 'policy_loss', impl, mode: 'fwd+bwd', shape, timing: m.timing, metric: 'time_ratio_vs_torch', value: vsTorch });
    }
  }
  const header = [
    'shape',
    'impl',
    'p50 ms',
    'p20 ms',
    'p80 ms',
    'peak extra MiB',
    'workspace MiB',
    'RSS growth MiB',
    'time / unfused',
    'peak / unfused',
    'workspace / unfused',
    'time / torch',
    'rate vs own GEMM',
  ];
  printTable(`Policy loss, forward + backward (GRPO, on-policy, all tokens counted; N = NT/256, T = 256), ${benchThreads()} thread(s), ${clock} clock`, header, table);
  console.log('\n' + markdownTable(header, table));
  console.log(`\nCSV: ${writeCsv('policy-loss', rows)}`);
}

const ci = process.argv.indexOf('--child');
if (ci >= 0) {
  const [impl, NT, V, d] = process.argv.slice(ci + 1);
  child(impl as Impl, { NT: Number(NT), V: Number(V), d: Number(d) });
} else {
  parent();
}
