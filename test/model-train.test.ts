// Training behaviour of the JudgeModel: the default tiny model memorises 8 image+text sequences
// (mean token NLL < 0.05 within a fixed step budget, with the first text token only predictable from
// the image), training is bit-for-bit deterministic for a seed, and the AdamW wrapper validates its
// options.
import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../lib/data/types.js';
import { disposeBatch, type JudgeInput } from '../lib/model/batch.js';
import { makeConfig } from '../lib/model/config.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import { AdamW } from '../lib/model/optimizer.js';
import { memoryStats } from '../lib/tensor.js';
import { mulberry32 as rng } from '../lib/rng.js';

// This 2-core machine is shared: OpenMP's default active spin-waiting makes every parallel region
// crawl when other processes hold the cores (measured: 1.5 s vs 30 ms per tiny-model forward).
// Passive waiting must be chosen before the addon (and its OpenMP runtime) loads on first use.
process.env.OMP_WAIT_POLICY ??= 'passive';


/** Blocky random images (4×4 colour cells) so patches carry distinct, learnable content. */
function blockImage(size: number, r: () => number): RgbImage {
  const data = new Uint8Array(size * size * 3);
  const cell = size / 4;
  const colours = Array.from({ length: 16 }, () => [0, 1, 2].map(() => Math.floor(r() * 256)));
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const c = colours[Math.floor(y / cell) * 4 + Math.floor(x / cell)]!;
      for (let ch = 0; ch < 3; ch++) data[(y * size + x) * 3 + ch] = c[ch]!;
    }
  return { width: size, height: size, data };
}

function dataset(n: number, vocab: number, len: number, seed: number): JudgeInput[] {
  const r = rng(seed);
  // Every sequence starts with the same two "prompt" tokens, so what follows can only be told
  // apart by looking at the image.
  return Array.from({ length: n }, () => ({
    images: [blockImage(32, r)],
    tokens: [4, 5, ...Array.from({ length: len }, () => 8 + Math.floor(r() * (vocab - 8)))],
    lossMask: [0, 1, ...new Array(len).fill(1)],
  }));
}

describe('JudgeModel training', () => {
  it('the tiny model memorises 8 image+text sequences (loss < 0.05 within 150 steps)', () => {
    const cfg = makeConfig('tiny', { vocabSize: 256, imageTokenId: 3 });
    const model = new JudgeModel(cfg, { seed: 1 });
    const opt = new AdamW(model.parameters(), {
      lr: { kind: 'cosine', lr: 3e-3, warmupSteps: 10, totalSteps: 150, minLrRatio: 0.1 },
      weightDecay: 0,
      maxGradNorm: 1,
    });
    const batch = model.batch(dataset(8, cfg.vocabSize, 10, 42));
    const first = model.nll(batch).loss;
    let loss = Infinity;
    let steps = 0;
    for (; steps < 150 && loss >= 0.05; steps++) {
      model.zeroGrad();
      loss = model.nllBackward(batch).loss;
      opt.step();
    }
    const final = model.nll(batch).loss;
    console.log(`overfit: loss ${first.toFixed(3)} → ${final.toFixed(4)} after ${steps} steps (${model.numParameters()} parameters)`);
    expect(first).toBeGreaterThan(4);
    expect(final, `loss after ${steps} steps`).toBeLessThan(0.05);
    disposeBatch(batch);
    opt.dispose();
    model.dispose();
  });

  it('same seed → bit-identical weights after N steps; another seed differs', () => {
    const cfg = makeConfig('tiny', {
      vocabSize: 64,
      imageTokenId: 3,
      dModel: 32,
      nLayers: 2,
      nHeads: 4,
      nKvHeads: 2,
      dFF: 48,
      visionLayers: 1,
      visionDim: 16,
      visionHeads: 2,
      visionFF: 24,
    });
    const run = (seed: number) => {
      const model = new JudgeModel(cfg, { seed });
      const opt = new AdamW(model.parameters(), { lr: 1e-2, maxGradNorm: 0.5 });
      const batch = model.batch(dataset(4, cfg.vocabSize, 6, 7));
      for (let s = 0; s < 4; s++) {
        model.zeroGrad();
        model.nllBackward(batch);
        opt.step();
      }
      const w = model.parameters().map((p) => p.value.toArray() as Float32Array);
      disposeBatch(batch);
      opt.dispose();
      model.dispose();
      return w;
    };
    const a = run(5);
    const b = run(5);
    const c = run(6);
    expect(a.length).toBe(b.length);
    a.forEach((w, i) => expect(Buffer.from(w.buffer).equals(Buffer.from(b[i]!.buffer)), `parameter ${i}`).toBe(true));
    expect(a.some((w, i) => !Buffer.from(w.buffer).equals(Buffer.from(c[i]!.buffer)))).toBe(true);
  });

  it('training steps, logprobs and generation free every temporary tensor', () => {
    const cfg = makeConfig('tiny', { vocabSize: 64, imageTokenId: 3, dModel: 32, nLayers: 2, dFF: 48, visionLayers: 1, visionDim: 16, visionHeads: 2, visionFF: 24 });
    const model = new JudgeModel(cfg, { seed: 2 });
    const opt = new AdamW(model.parameters(), { lr: 1e-3, maxGradNorm: 1 });
    const data = dataset(3, cfg.vocabSize, 5, 1);
    const live = () => memoryStats().find((m) => m.device === 'cpu')!.liveTensors;
    const round = () => {
      const b = model.batch(data);
      model.zeroGrad();
      model.nllBackward(b);
      opt.step();
      model.logprobs(b).dispose();
      model.forward(b, { train: true }).dispose();
      model.clearActivations();
      disposeBatch(b);
      model.generate(data, { numGenerations: 2, maxNewTokens: 4, eosId: 9, seed: 1 });
    };
    round(); // first use allocates grads and optimizer moments
    const before = live();
    for (let i = 0; i < 3; i++) round();
    expect(live(), 'live tensors after 3 more rounds').toBe(before);
    opt.dispose();
    model.dispose();
  });

  it('AdamW validates its options and parameter state', () => {
    const model = new JudgeModel(makeConfig('tiny', { dModel: 32, nLayers: 1, dFF: 32, vocabSize: 40, imageTokenId: 3 }));
    expect(() => new AdamW([], {})).toThrow(/non-empty array/);
    expect(() => new AdamW(model.parameters(), { beta1: 1 })).toThrow(/beta1 must be in \[0, 1\)/);
    expect(() => new AdamW(model.parameters(), { lr: { kind: 'cosine', lr: 1 } })).toThrow(/totalSteps/);
    expect(() => new AdamW(model.parameters(), { lr: { kind: 'warm' as never, lr: 1 } })).toThrow(/schedule.kind/);
    const opt = new AdamW(model.parameters(), { lr: 1e-3 });
    expect(() => opt.loadState(new Map(), 1)).toThrow(/missing optimizer tensor embed.weight.exp_avg/);
    opt.dispose();
    model.dispose();
  });
});
