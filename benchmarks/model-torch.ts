// The judge model against a PyTorch implementation of the same model (benchmarks/torch_judge.py: an
// nn.Module with autograd, torch.optim.AdamW and a KV cache, the baseline a user would write), on
// the SAME weights (the shipped models/base checkpoint, read by torch from our safetensors file) and
// the SAME packed batch (written by us, read by torch). First the losses are compared (ours, torch
// float32, torch float64), so the baseline is known to compute the same function; then, interleaved
// (ours, torch in a fresh python3, ours again; our time is the mean of the two medians):
//   train step   forward + token NLL + backward + AdamW (grad-norm clip 1) on 16 prompts x 8 completions
//                (64 image + 30 prompt + 24 completion tokens per row)
//   generate     16 prompts x 8 samples x 24 new tokens, temperature 1, KV cache on both sides
// Usage: npx tsx benchmarks/model-torch.ts [--clock cpu] [--quick] [--checkpoint DIR]
// Threads: OMP_NUM_THREADS (both sides). Writes benchmarks/results/model-torch.csv.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { disposeBatch, type JudgeInput, type ModelBatch } from '../lib/model/batch.js';
import { loadCheckpoint } from '../lib/model/checkpoint.js';
import { writeSafetensors } from '../lib/model/safetensors.js';
import { AdamW } from '../lib/model/optimizer.js';
import { buildInfo } from '../lib/device.js';
import { args, benchDir, benchThreads, clock, markdownTable, printTable, time, torchAvailable, torchLine, torchPython, writeCsv, type Row, type Timing } from './harness.js';
import { mulberry32 } from '../lib/rng.js';

process.env.OMP_WAIT_POLICY ??= 'passive';

const quick = args.quick;
const ckArg = process.argv.indexOf('--checkpoint');
const ckDir = ckArg >= 0 ? process.argv[ckArg + 1]! : path.join(benchDir, '..', 'models', 'base');
const ck = loadCheckpoint(ckDir);
const model = ck.model;
const cfg = model.config;
const prompts = quick ? 4 : 16;
const G = 8;
const promptText = 30;
const completion = 24;

const r = mulberry32(1);
const img = () => {
  const data = new Uint8Array(cfg.imageSize * cfg.imageSize * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  return { width: cfg.imageSize, height: cfg.imageSize, data };
};
const tok = (n: number) => Array.from({ length: n }, () => 8 + Math.floor(r() * (cfg.vocabSize - 8)));
const promptInputs: JudgeInput[] = Array.from({ length: prompts }, () => ({ images: [img()], tokens: tok(promptText) }));
const fullInputs: JudgeInput[] = Array.from({ length: prompts * G }, (_, n) => ({
  images: promptInputs[Math.floor(n / G)]!.images,
  tokens: [...(promptInputs[Math.floor(n / G)]!.tokens as number[]), ...tok(completion)],
  lossMask: [...new Array(promptText).fill(0), ...new Array(completion).fill(1)],
}));

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mtrl-torch-judge-'));
const weightsFile = path.join(ckDir, 'model.safetensors');
const configFile = path.join(ckDir, 'config.json');

function writeBatch(b: ModelBatch, file: string): void {
  const i32 = (t: { toArray(): unknown; shape: readonly number[] }) => ({ dtype: 'i32' as const, shape: t.shape, data: t.toArray() as Int32Array });
  writeSafetensors(file, {
    ids: i32(b.ids),
    seqLengths: i32(b.seqLengths),
    imagePositions: i32(b.imagePositions),
    patchIndex: i32(b.patchIndex),
    slotIndex: i32(b.slotIndex),
    targets: i32(b.targets),
    pixels: { dtype: 'u8', shape: b.pixels.shape, data: b.pixels.toArray() as Uint8Array },
    lossMask: { dtype: 'f32', shape: b.lossMask.shape, data: b.lossMask.toArray() as Float32Array },
  });
}

function torchRun<T>(batchFile: string, mode: string, extra: object = {}): T {
  const py = torchPython()!.python;
  const script = path.join(benchDir, 'torch_judge.py');
  const res = spawnSync(py, [script, configFile, weightsFile, batchFile, mode, String(benchThreads()), clock, JSON.stringify(extra)], {
    encoding: 'utf8',
    timeout: 1_200_000,
    maxBuffer: 64 << 20,
    env: { ...process.env, OMP_NUM_THREADS: String(benchThreads()), OPENBLAS_NUM_THREADS: String(benchThreads()) },
  });
  if (res.status !== 0) throw new Error(`torch_judge.py ${mode} failed (status ${res.status}): ${res.stderr.slice(-3000)}`);
  const lines = res.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}

if (!torchAvailable()) {
  console.log('PyTorch not available: nothing to compare against');
  process.exit(0);
}
console.log(torchLine());
const rows: Row[] = [];
const table: Array<Array<string | number>> = [];
const shape = (b: ModelBatch) => `B=${b.batchSize} T=${b.seqLen} d=${cfg.dModel} L=${cfg.nLayers} V=${cfg.vocabSize}`;
const mean = (a: Timing, b: Timing): Timing => ({ ...b, p50: (a.p50 + b.p50) / 2 });

// 1. Same function: the loss on the training batch.
const train = model.batch(fullInputs);
const trainFile = path.join(tmp, 'train.safetensors');
writeBatch(train, trainFile);
const ours = model.nll(train);
const tl = torchRun<{ loss: number; loss_f64: number }>(trainFile, 'loss');
const oursLoss = ours.loss;
console.log(
  `loss on the same weights and batch: ours ${oursLoss.toFixed(6)}, torch f32 ${tl.loss.toFixed(6)}, torch f64 ${tl.loss_f64.toFixed(6)} ` +
    `(|ours - f64| = ${Math.abs(oursLoss - tl.loss_f64).toExponential(2)}, |torch f32 - f64| = ${Math.abs(tl.loss - tl.loss_f64).toExponential(2)})`,
);
if (Math.abs(oursLoss - tl.loss_f64) > 1e-3 * Math.max(1, Math.abs(tl.loss_f64))) throw new Error('the PyTorch model does not compute our loss: no ratio is quoted');
rows.push({ op: 'model_loss', impl: 'mtrl', mode: 'nll', shape: shape(train), timing: { p50: NaN, p20: NaN, p80: NaN, samples: 0 }, metric: 'abs_diff_vs_torch_f64', value: Math.abs(oursLoss - tl.loss_f64) });

// 2. Train step.
const opt = new AdamW(model.parameters(), { lr: 1e-4, maxGradNorm: 1, weightDecay: 0 });
const topt = { warmup: 1, minReps: quick ? 2 : 3, budgetMs: quick ? 2000 : 6000 };
const stepOurs = () => {
  model.zeroGrad();
  model.nllBackward(train);
  opt.step();
};
const tokens = train.batchSize * train.seqLen;
{
  const a = time(stepOurs, topt);
  const t = torchRun<{ timing: Timing }>(trainFile, 'train', { lr: 1e-4, weightDecay: 0, budgetMs: topt.budgetMs }).timing;
  const b = time(stepOurs, topt);
  const o = mean(a, b);
  rows.push({ op: 'model_train', impl: 'mtrl', mode: 'nll_adamw', shape: shape(train), timing: o, metric: 'tokens/s', value: tokens / (o.p50 / 1e3) });
  rows.push({ op: 'model_train', impl: 'torch', mode: 'nll_adamw', shape: shape(train), timing: t, metric: 'tokens/s', value: tokens / (t.p50 / 1e3) });
  rows.push({ op: 'model_train', impl: 'mtrl', mode: 'nll_adamw', shape: shape(train), timing: o, metric: 'speedup_vs_torch', value: t.p50 / o.p50 });
  table.push(['train step (NLL + AdamW)', shape(train), o.p50, t.p50, t.p50 / o.p50]);
}
opt.dispose();
disposeBatch(train);

// 3. Generation with a KV cache.
{
  const pb = model.batch(promptInputs);
  const promptFile = path.join(tmp, 'prompts.safetensors');
  writeBatch(pb, promptFile);
  const genOpts = { numGenerations: G, maxNewTokens: completion, temperature: 1, seed: 3 };
  const gopt = { warmup: 1, minReps: quick ? 2 : 3, budgetMs: quick ? 2000 : 5000 };
  const gen = () => model.generate(promptInputs, genOpts);
  const a = time(gen, gopt);
  const t = torchRun<{ timing: Timing }>(promptFile, 'generate', { G, maxNew: completion, temperature: 1, budgetMs: gopt.budgetMs }).timing;
  const b = time(gen, gopt);
  const o = mean(a, b);
  const n = prompts * G * completion;
  const s = `${prompts}x${G} rows, prompt ${pb.seqLen}, ${completion} new`;
  rows.push({ op: 'model_generate', impl: 'mtrl', mode: 'kv_cache', shape: s, timing: o, metric: 'tokens/s', value: n / (o.p50 / 1e3) });
  rows.push({ op: 'model_generate', impl: 'torch', mode: 'kv_cache', shape: s, timing: t, metric: 'tokens/s', value: n / (t.p50 / 1e3) });
  rows.push({ op: 'model_generate', impl: 'mtrl', mode: 'kv_cache', shape: s, timing: o, metric: 'speedup_vs_torch', value: t.p50 / o.p50 });
  table.push(['generate, KV cache (T = 1)', s, o.p50, t.p50, t.p50 / o.p50]);
  disposeBatch(pb);
}

const info = buildInfo();
const header = ['what', 'shape', 'mtrl ms', 'torch ms', '× vs torch'];
printTable(`JudgeModel (${ckDir}, ${model.numParameters()} parameters) vs PyTorch, ${info.simd}, ${benchThreads()} thread(s), ${clock} clock${quick ? ', --quick' : ''}`, header, table);
console.log('\n' + markdownTable(header, table));
console.log(`\nCSV: ${writeCsv('model-torch', rows)}`);
rmSync(tmp, { recursive: true, force: true });
model.dispose();
