// JudgeModel throughput on the default "tiny" config: supervised training tokens/s (forward + fused
// NLL + backward + AdamW), GRPO-shaped training (policy loss on prompt+completion rows), generation
// tokens/s with the KV cache against recomputing the whole sequence every step (the no-cache baseline,
// measured in the same run), and the wall time of one GRPO-sized rollout + update
// (16 prompts × 8 completions, ≈64 image + 30 prompt tokens, 24 new tokens).
// Usage: npx tsx benchmarks/model.ts [--quick]
import { policyLoss } from '../lib/kernels/policy-loss.js';
import { disposeBatch, type JudgeInput } from '../lib/model/batch.js';
import { makeConfig } from '../lib/model/config.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import { AdamW } from '../lib/model/optimizer.js';
import { Tensor } from '../lib/tensor.js';
import { buildInfo } from '../lib/device.js';
import { args, printTable, time, writeCsv, type Row } from './harness.js';
import { mulberry32 } from '../lib/rng.js';

// Shared 2-core machines: OpenMP must not spin-wait while other processes hold the cores.
process.env.OMP_WAIT_POLICY ??= 'passive';

const quick = args.quick;
const cfg = makeConfig('tiny');
const P = 64;
const promptText = 30;
const completion = 24;
const prompts = quick ? 4 : 16;
const G = 8;

const r = mulberry32(1);
const img = () => {
  const data = new Uint8Array(32 * 32 * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  return { width: 32, height: 32, data };
};
const tok = (n: number) => Array.from({ length: n }, () => 8 + Math.floor(r() * (cfg.vocabSize - 8)));

const model = new JudgeModel(cfg, { seed: 0 });
const opt = new AdamW(model.parameters(), { lr: 1e-4, maxGradNorm: 1 });
const promptInputs: JudgeInput[] = Array.from({ length: prompts }, () => ({ images: [img()], tokens: tok(promptText) }));
const fullInputs: JudgeInput[] = Array.from({ length: prompts * G }, (_, n) => ({
  images: promptInputs[Math.floor(n / G)]!.images,
  tokens: [...promptInputs[Math.floor(n / G)]!.tokens as number[], ...tok(completion)],
  lossMask: [...new Array(promptText).fill(0), ...new Array(completion).fill(1)],
}));
const rows: Row[] = [];
const table: Array<Array<string | number>> = [];
const shapeOf = (b: number, t: number) => `B=${b} T=${t} d=${cfg.dModel} L=${cfg.nLayers} V=${cfg.vocabSize}`;

// 1. Supervised step on the GRPO-sized batch (every position processed; completion tokens scored).
{
  const b = model.batch(fullInputs);
  const tokens = b.batchSize * b.seqLen;
  const t = time(
    () => {
      model.zeroGrad();
      model.nllBackward(b);
      opt.step();
    },
    { warmup: 1, minReps: quick ? 2 : 3, budgetMs: quick ? 2000 : 8000 },
  );
  rows.push({ op: 'model_train', impl: 'mtrl', mode: 'sft_step', shape: shapeOf(b.batchSize, b.seqLen), timing: t, metric: 'tokens/s', value: tokens / (t.p50 / 1000) });
  table.push(['train step (nll + AdamW)', shapeOf(b.batchSize, b.seqLen), t.p50, tokens / (t.p50 / 1000)]);

  // GRPO loss (token-level clipped ratio) on the same rows.
  const adv = Tensor.fromArray(Float32Array.from({ length: b.batchSize }, (_, i) => (i % 2 ? 1 : -1)), [b.batchSize]);
  const old = model.logprobs(b);
  const tg = time(
    () => {
      model.zeroGrad();
      const h = model.forward(b, { train: true });
      const res = policyLoss({ hidden: h, weight: model.lmHeadWeight() }, { tokens: b.targets, mask: b.lossMask, advantages: adv, oldLogprobs: old }, { lossType: 'grpo' });
      model.backward(res.grads.hidden, res.grads.weight);
      for (const x of [h, res.grads.hidden, res.grads.weight, res.logprobs]) x.dispose();
      opt.step();
    },
    { warmup: 1, minReps: quick ? 2 : 3, budgetMs: quick ? 2000 : 8000 },
  );
  rows.push({ op: 'model_train', impl: 'mtrl', mode: 'grpo_step', shape: shapeOf(b.batchSize, b.seqLen), timing: tg, metric: 'tokens/s', value: tokens / (tg.p50 / 1000) });
  table.push(['train step (grpo loss + AdamW)', shapeOf(b.batchSize, b.seqLen), tg.p50, tokens / (tg.p50 / 1000)]);
  const tl = time(() => model.logprobs(b).dispose(), { warmup: 1, minReps: quick ? 2 : 3, budgetMs: quick ? 1000 : 4000 });
  rows.push({ op: 'model_logprobs', impl: 'mtrl', mode: 'no_grad', shape: shapeOf(b.batchSize, b.seqLen), timing: tl, metric: 'tokens/s', value: tokens / (tl.p50 / 1000) });
  table.push(['logprobs (old/ref, no grad)', shapeOf(b.batchSize, b.seqLen), tl.p50, tokens / (tl.p50 / 1000)]);
  adv.dispose();
  old.dispose();
  disposeBatch(b);
}

// 2. Generation: KV cache vs recomputing the full sequence each step.
{
  const genOpts = { numGenerations: G, maxNewTokens: completion, temperature: 1, seed: 3 };
  const generated = prompts * G * completion;
  const tgen = time(() => model.generate(promptInputs, genOpts), { warmup: 1, minReps: quick ? 2 : 3, budgetMs: quick ? 2000 : 6000 });
  rows.push({ op: 'model_generate', impl: 'mtrl_kvcache', mode: `G=${G}`, shape: shapeOf(prompts * G, P + promptText + completion), timing: tgen, metric: 'tokens/s', value: generated / (tgen.p50 / 1000) });
  table.push([`generate, KV cache (${prompts}×${G}, ${completion} new)`, shapeOf(prompts * G, P + promptText), tgen.p50, generated / (tgen.p50 / 1000)]);

  // Baseline: no cache — every step runs the whole (prompt + generated) sequence for all rows.
  // Fewer steps in quick mode; throughput is per generated token either way.
  const steps = quick ? 4 : 8;
  const recompute = () => {
    const seqs = Array.from({ length: prompts * G }, (_, n) => [...(promptInputs[Math.floor(n / G)]!.tokens as number[])]);
    for (let s = 0; s < steps; s++) {
      const b = model.batch(seqs.map((t, n) => ({ images: promptInputs[Math.floor(n / G)]!.images, tokens: t })));
      const z = model.logits(b);
      z.dispose();
      disposeBatch(b);
      for (const t of seqs) t.push(8 + (s % 50));
    }
  };
  const trc = time(recompute, { warmup: 0, minReps: 1, budgetMs: quick ? 1000 : 4000 });
  const perTok = (prompts * G * steps) / (trc.p50 / 1000);
  rows.push({ op: 'model_generate', impl: 'recompute_no_cache', mode: `G=${G}`, shape: shapeOf(prompts * G, P + promptText), timing: trc, metric: 'tokens/s', value: perTok });
  table.push([`generate, recompute each step (${steps} steps)`, shapeOf(prompts * G, P + promptText), trc.p50, perTok]);
  rows.push({ op: 'model_generate', impl: 'mtrl_kvcache', mode: 'ratio_vs_recompute', shape: shapeOf(prompts * G, P + promptText), timing: tgen, metric: 'ratio', value: generated / (tgen.p50 / 1000) / perTok });

  // 3. One GRPO-sized step end to end: rollout + old logprobs + policy update.
  const tstep = time(
    () => {
      const out = model.generate(promptInputs, genOpts);
      const inputs = Array.from({ length: out.rows }, (_, n) => {
        const c = out.completion(n);
        const p = promptInputs[Math.floor(n / G)]!;
        return { images: p.images, tokens: [...(p.tokens as number[]), ...c], lossMask: [...new Array(promptText).fill(0), ...new Array(c.length).fill(1)] };
      });
      const b = model.batch(inputs);
      const adv = Tensor.fromArray(Float32Array.from({ length: b.batchSize }, (_, i) => (i % 2 ? 0.5 : -0.5)), [b.batchSize]);
      model.zeroGrad();
      const h = model.forward(b, { train: true });
      const res = policyLoss({ hidden: h, weight: model.lmHeadWeight() }, { tokens: b.targets, mask: b.lossMask, advantages: adv }, { lossType: 'grpo' });
      model.backward(res.grads.hidden, res.grads.weight);
      for (const x of [h, res.grads.hidden, res.grads.weight, res.logprobs, adv]) x.dispose();
      opt.step();
      disposeBatch(b);
    },
    { warmup: 1, minReps: quick ? 1 : 3, budgetMs: quick ? 1000 : 10000 },
  );
  rows.push({ op: 'model_grpo_step', impl: 'mtrl', mode: `${prompts}x${G}`, shape: shapeOf(prompts * G, P + promptText + completion), timing: tstep, metric: 'seconds', value: tstep.p50 / 1000 });
  table.push([`GRPO step: rollout + update (${prompts}×${G})`, shapeOf(prompts * G, P + promptText + completion), tstep.p50, NaN]);
}

const info = buildInfo();
printTable(
  `JudgeModel 'tiny' (${model.numParameters()} parameters), ${info.simd}, ${info.threads} threads${quick ? ', --quick' : ''}`,
  ['what', 'shape', 'p50 ms', 'tokens/s'],
  table,
);
console.log(`\nKV-cache generation vs recompute: ${(rows.find((x) => x.metric === 'ratio')!.value).toFixed(1)}× faster per generated token`);
console.log(`wrote ${writeCsv('model', rows)}`);
opt.dispose();
model.dispose();
