// Attention benchmark: fused forward, backward and forward+backward against the unfused baseline
// (same native code, materialises S×Sk) and PyTorch CPU (when a python with torch is found), over
// B·H = 8, S ∈ {128, 512, 1024, 2048}, D ∈ {64, 128}, causal on/off; KV-cache decode (GB/s of cache
// read); and the extra memory of one forward+backward as S grows, measured as the peak-RSS increase
// in a fresh child process per point (flat for the fused kernel, O(S²) for the unfused one).
//
// Usage: npx tsx benchmarks/attention.ts [--quick] [--no-torch] [--no-memory]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Tensor, memoryStats } from '../lib/tensor.js';
import {
  attentionBackward,
  attentionDecode,
  attentionForward,
  attentionNaiveBackward,
  attentionNaiveForward,
} from '../lib/kernels/attention.js';
import { args, markdownTable, printTable, runTorch, time, torchAvailable, torchTimer, writeCsv, type Row, type Timing } from './harness.js';

const B = 1;
const H = 8;

function disposeAll(x: object): void {
  for (const t of Object.values(x)) if (t instanceof Tensor) t.dispose();
}

/** Runs one fused or unfused forward+backward and reports the bytes allocated beyond the inputs (child process mode). */
function memoryChild(impl: string, S: number, D: number): void {
  const q = Tensor.randn([B, S, H, D], { seed: 1 });
  const k = Tensor.randn([B, S, H, D], { seed: 2 });
  const v = Tensor.randn([B, S, H, D], { seed: 3 });
  const dO = Tensor.randn([B, S, H, D], { seed: 4 });
  // Warm the allocator and thread pool on a tiny problem so only this S is measured.
  const w = Tensor.randn([1, 8, H, D], { seed: 5 });
  disposeAll(attentionForward(w, w, w));
  w.dispose();
  const cpu = () => memoryStats().find((s) => s.device === 'cpu')!;
  const before = cpu().liveBytes;
  const fwd = impl === 'fused' ? attentionForward : attentionNaiveForward;
  const bwd = impl === 'fused' ? attentionBackward : attentionNaiveBackward;
  const f = fwd(q, k, v, { causal: true });
  const g = bwd(dO, q, k, v, f.out, f.lse, { causal: true });
  const peak = cpu().peakBytes;
  const outputs = (f.out.nbytes + f.lse.nbytes + g.dq.nbytes + g.dk.nbytes + g.dv.nbytes) / 2 ** 20;
  console.log(JSON.stringify({ peakMB: (peak - before) / 2 ** 20, outputsMB: outputs }));
}

function measureMemory(impl: string, S: number, D: number): { peakMB: number; outputsMB: number } | undefined {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--memory-child', impl, String(S), String(D)], {
    encoding: 'utf8',
    env: process.env,
    timeout: 600_000,
  });
  if (r.status !== 0) {
    console.error(`memory child ${impl} S=${S} failed: ${r.stderr.slice(-500)}`);
    return undefined;
  }
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as { peakMB: number; outputsMB: number };
}

// PyTorch baseline (the harness finds a python with torch). torch 1.13 (Debian's python3-torch) has no fused CPU attention, so this is the
// math path every PyTorch version falls back to: softmax(q·kᵀ·scale + mask)·v with autograd.
function torchScript(points: Array<{ S: number; D: number; causal: boolean }>, quick: boolean): string {
  return `${torchTimer}
import math
res = []
B, H = ${B}, ${H}
budget = ${quick ? 300 : 800}
def attn(q, k, v, causal):
    s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if causal:
        S = q.shape[-2]
        mask = torch.ones(S, S, dtype=torch.bool).triu(1)
        s = s.masked_fill(mask, float('-inf'))
    return s.softmax(-1) @ v
for pt in json.loads(${JSON.stringify(JSON.stringify(points))}):
    S, D, causal = pt['S'], pt['D'], pt['causal']
    g = torch.Generator().manual_seed(0)
    q, k, v, do = [torch.randn(B, H, S, D, generator=g) for _ in range(4)]
    with torch.no_grad():
        f = bench(lambda: attn(q, k, v, causal), warmup=1, min_reps=3, budget_ms=budget)
    qr, kr, vr = [t.clone().requires_grad_(True) for t in (q, k, v)]
    def fb():
        o = attn(qr, kr, vr, causal)
        o.backward(do)
        qr.grad = None; kr.grad = None; vr.grad = None
    fb_t = bench(fb, warmup=1, min_reps=3, budget_ms=budget)
    res.append({"S": S, "D": D, "causal": causal, "fwd": f, "fwdbwd": fb_t})
print(json.dumps(res))
`;
}

function decodeTorchScript(lens: number[]): string {
  return `${torchTimer}
import math
res = []
for L in json.loads(${JSON.stringify(JSON.stringify(lens))}):
    Bq, Hq, Hkv, D = 8, 8, 2, 128
    q = torch.randn(Bq, Hq, 1, D)
    k = torch.randn(Bq, Hkv, L + 1, D).repeat_interleave(Hq // Hkv, dim=1)
    v = torch.randn(Bq, Hkv, L + 1, D).repeat_interleave(Hq // Hkv, dim=1)
    with torch.no_grad():
        t = bench(lambda: ((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D))).softmax(-1) @ v, budget_ms=500)
    res.append({"L": L, "t": t})
print(json.dumps(res))
`;
}

function main(): void {
  const quick = args.quick;
  const seqs = quick ? [128, 512] : [128, 512, 1024, 2048];
  const dims = quick ? [64] : [64, 128];
  const budget = quick ? 300 : 800;
  const rows: Row[] = [];
  const table: Array<Array<string | number>> = [];
  const points: Array<{ S: number; D: number; causal: boolean }> = [];
  for (const D of dims) for (const S of seqs) for (const causal of [false, true]) points.push({ S, D, causal });
  const withTorch = !args.noTorch && torchAvailable();
  type TorchRes = { S: number; D: number; causal: boolean; fwd: Timing; fwdbwd: Timing };
  // One python run per point, so a slow or failing point costs only its own torch columns.
  const torchPoint = (pt: { S: number; D: number; causal: boolean }): TorchRes | undefined => {
    if (!withTorch) return undefined;
    try {
      return runTorch<TorchRes[]>(torchScript([pt], quick), 900_000)?.[0];
    } catch (err) {
      console.error(`torch baseline skipped for S=${pt.S} D=${pt.D} causal=${pt.causal}: ${String(err).slice(0, 300)}`);
      return undefined;
    }
  };
  if (!withTorch) console.log('PyTorch not importable: the torch columns are skipped');

  for (const { S, D, causal } of points) {
    const q = Tensor.randn([B, S, H, D], { seed: 1 });
    const k = Tensor.randn([B, S, H, D], { seed: 2 });
    const v = Tensor.randn([B, S, H, D], { seed: 3 });
    const dO = Tensor.randn([B, S, H, D], { seed: 4 });
    const opts = { causal };
    const flops = 4 * B * S * S * H * D * (causal ? 0.5 : 1);
    const shape = `B=${B} H=${H} S=${S} D=${D}${causal ? ' causal' : ''}`;
    const fw = attentionForward(q, k, v, opts);
    const topt = { budgetMs: budget, minReps: 3 };
    const tf = time(() => disposeAll(attentionForward(q, k, v, opts)), topt);
    const tb = time(() => disposeAll(attentionBackward(dO, q, k, v, fw.out, fw.lse, opts)), topt);
    const tfb = time(() => {
      const f = attentionForward(q, k, v, opts);
      disposeAll(attentionBackward(dO, q, k, v, f.out, f.lse, opts));
      disposeAll(f);
    }, topt);
    const nf = time(() => disposeAll(attentionNaiveForward(q, k, v, opts)), topt);
    const nfb = time(() => {
      const f = attentionNaiveForward(q, k, v, opts);
      disposeAll(attentionNaiveBackward(dO, q, k, v, f.out, f.lse, opts));
      disposeAll(f);
    }, topt);
    const tt = torchPoint({ S, D, causal });
    rows.push(
      { op: 'attention', impl: 'fused', mode: 'forward', shape, timing: tf, metric: 'GFLOP/s', value: flops / tf.p50 / 1e6 },
      { op: 'attention', impl: 'fused', mode: 'backward', shape, timing: tb, metric: 'GFLOP/s', value: (2.5 * flops) / tb.p50 / 1e6 },
      { op: 'attention', impl: 'fused', mode: 'fwd+bwd', shape, timing: tfb, metric: 'GFLOP/s', value: (3.5 * flops) / tfb.p50 / 1e6 },
      { op: 'attention', impl: 'unfused', mode: 'forward', shape, timing: nf, metric: 'fused_speedup', value: nf.p50 / tf.p50 },
      { op: 'attention', impl: 'unfused', mode: 'fwd+bwd', shape, timing: nfb, metric: 'fused_speedup', value: nfb.p50 / tfb.p50 },
    );
    if (tt) {
      rows.push(
        { op: 'attention', impl: 'torch', mode: 'forward', shape, timing: tt.fwd, metric: 'fused_speedup', value: tt.fwd.p50 / tf.p50 },
        { op: 'attention', impl: 'torch', mode: 'fwd+bwd', shape, timing: tt.fwdbwd, metric: 'fused_speedup', value: tt.fwdbwd.p50 / tfb.p50 },
      );
    }
    table.push([
      S,
      D,
      causal ? 'yes' : 'no',
      tf.p50,
      flops / tf.p50 / 1e6,
      tb.p50,
      (2.5 * flops) / tb.p50 / 1e6,
      tfb.p50,
      nfb.p50 / tfb.p50,
      tt ? tt.fwd.p50 / tf.p50 : '-',
      tt ? tt.fwdbwd.p50 / tfb.p50 : '-',
    ]);
    for (const t of [q, k, v, dO]) t.dispose();
    disposeAll(fw);
  }
  const header = ['S', 'D', 'causal', 'fwd ms', 'fwd GFLOP/s', 'bwd ms', 'bwd GFLOP/s', 'fwd+bwd ms', '× unfused (f+b)', '× torch fwd', '× torch f+b'];
  printTable(`Fused attention, CPU f32, B·H = ${B * H} (ratios: baseline time / fused time)`, header, table);
  console.log('\n' + markdownTable(header, table));

  // Decode: one new token per row against caches of L entries; bandwidth of the K/V cache read.
  const lens = quick ? [512] : [512, 2048, 8192];
  let torchDecode: Array<{ L: number; t: Timing }> | undefined;
  if (withTorch) torchDecode = runTorch(decodeTorchScript(lens));
  const dtable: Array<Array<string | number>> = [];
  for (const L of lens) {
    const [Bd, Hd, Hkv, D] = [8, 8, 2, 128];
    const kc = Tensor.randn([Bd, L + 64, Hkv, D], { seed: 5 });
    const vc = Tensor.randn([Bd, L + 64, Hkv, D], { seed: 6 });
    const q = Tensor.randn([Bd, 1, Hd, D], { seed: 7 });
    const kn = Tensor.randn([Bd, 1, Hkv, D], { seed: 8 });
    const lengths = Tensor.full([Bd], L, { dtype: 'i32' });
    const t = time(() => {
      lengths.fill(L); // each repetition appends at position L
      attentionDecode(q, kc, vc, { cacheLengths: lengths, kNew: kn, vNew: kn }).dispose();
    }, { budgetMs: 400, minReps: 10 });
    const kvl = new Array<number>(Bd).fill(L + 1);
    const n = time(() => disposeAll(attentionNaiveForward(q, kc, vc, { causal: true, kvLengths: kvl })), { budgetMs: 400, minReps: 10 });
    const bytes = 2 * Bd * (L + 1) * Hkv * D * 4;
    const td = torchDecode?.find((r) => r.L === L);
    const shape = `B=${Bd} H=${Hd} Hkv=${Hkv} D=${D} L=${L}`;
    rows.push(
      { op: 'attention', impl: 'fused', mode: 'decode', shape, timing: t, metric: 'GB/s', value: bytes / t.p50 / 1e6 },
      { op: 'attention', impl: 'unfused', mode: 'decode', shape, timing: n, metric: 'fused_speedup', value: n.p50 / t.p50 },
    );
    if (td) rows.push({ op: 'attention', impl: 'torch', mode: 'decode', shape, timing: td.t, metric: 'fused_speedup', value: td.t.p50 / t.p50 });
    dtable.push([L, t.p50, bytes / t.p50 / 1e6, n.p50 / t.p50, td ? td.t.p50 / t.p50 : '-']);
    for (const x of [kc, vc, q, kn, lengths]) x.dispose();
  }
  const dheader = ['cache L', 'decode ms', 'GB/s', '× unfused', '× torch'];
  printTable('KV-cache decode, CPU f32, B=8 H=8 Hkv=2 D=128, one new token', dheader, dtable);
  console.log('\n' + markdownTable(dheader, dtable));

  // Memory as S grows (causal forward+backward, D = 64): peak RSS increase in a fresh process.
  if (!process.argv.includes('--no-memory')) {
    const mseq = quick ? [512, 1024] : [512, 1024, 2048, 4096];
    const mtable: Array<Array<string | number>> = [];
    for (const S of mseq) {
      const f = measureMemory('fused', S, 64);
      const u = S <= 2048 ? measureMemory('unfused', S, 64) : undefined;
      const zero: Timing = { p50: 0, p20: 0, p80: 0, samples: 1 };
      const shape = `B=${B} H=${H} S=${S} D=64 causal`;
      if (f) rows.push({ op: 'attention', impl: 'fused', mode: 'fwd+bwd', shape, timing: zero, metric: 'peak_alloc_MB', value: f.peakMB });
      if (u) rows.push({ op: 'attention', impl: 'unfused', mode: 'fwd+bwd', shape, timing: zero, metric: 'peak_alloc_MB', value: u.peakMB });
      mtable.push([S, f ? f.outputsMB : '-', f ? f.peakMB : '-', f ? f.peakMB - f.outputsMB : '-', u ? u.peakMB : '-']);
    }
    const mheader = ['S', 'outputs MB', 'fused peak alloc MB', 'fused workspace MB', 'unfused peak alloc MB'];
    printTable('Extra memory of one causal forward+backward (B·H = 8, D = 64)', mheader, mtable);
    console.log('\n' + markdownTable(mheader, mtable));
  }
  const file = writeCsv('attention', rows);
  console.log(`\nCSV rows appended to ${file}`);
}

const mi = process.argv.indexOf('--memory-child');
if (mi >= 0) memoryChild(process.argv[mi + 1]!, Number(process.argv[mi + 2]), Number(process.argv[mi + 3]));
else main();
