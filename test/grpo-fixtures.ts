// Shared fixtures for the trainer tests (GRPO, SFT, evaluateJudge): a toy judging task with a
// verifiable answer ("is this 8×8 image bright?" → yes/no), a byte-level BPE tokenizer trained on the
// few strings the task uses, a very small JudgeModel config (1 layer, d = 32, 4 image tokens), seeded
// example generators, and helpers to snapshot and compare weights. Everything is deterministic.
import type { JudgeExample, RgbImage } from '../lib/data/types.js';
import { trainBpe } from '../lib/model/bpe-train.js';
import { makeConfig, type JudgeModelConfig } from '../lib/model/config.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import type { Tokenizer } from '../lib/model/tokenizer.js';
import { RewardModel } from '../lib/rewards/model.js';
import { SftTrainer } from '../lib/rl/sft-trainer.js';
import { createTask, type Task } from '../lib/tasks/task.js';
import { mulberry32 } from '../lib/rng.js';

// The machine is shared: passive OpenMP waiting keeps tiny parallel regions from crawling when other
// processes hold the cores (see test/model-train.test.ts). Must be set before the addon loads.
process.env.OMP_WAIT_POLICY ??= 'passive';

/** Seeded uniform [0, 1) numbers for test data. */
export const rng = mulberry32;

/** Binary toy task: label 1 ("yes") when the image is bright. Short prompt so sequences stay tiny. */
export const brightTask: Task = createTask({
  name: 'bright',
  format: 'binary',
  question: 'Bright?',
  instruction: 'Answer {verdicts}.',
});

/** Pairwise toy task: which image is brighter, A (first) or B (second). */
export const brighterTask: Task = createTask({
  name: 'brighter',
  format: 'pairwise',
  question: 'Brighter?',
  instruction: 'Answer {verdicts}.',
});

let tokenizerCache: Tokenizer | undefined;
/** A BPE tokenizer trained on the strings of the toy tasks (≈ 290 ids, specials 0..7). */
export function toyTokenizer(): Tokenizer {
  if (tokenizerCache) return tokenizerCache;
  const texts: string[] = [];
  for (let i = 0; i < 8; i++)
    texts.push(
      brightTask.buildPrompt({ id: 'x', task: 'bright', format: 'binary', images: [], label: 1 }),
      brighterTask.buildPrompt({ id: 'x', task: 'brighter', format: 'pairwise', images: [], label: 0 }),
      'yes',
      'no',
      'A',
      'B',
      'ok',
    );
  tokenizerCache = trainBpe(texts, { vocabSize: 300 });
  return tokenizerCache;
}

/** The model config used by every trainer test: 8×8 images in 4×4 patches (4 image tokens), 1 layer, d = 32. */
export function toyConfig(tok: Tokenizer, overrides: Partial<JudgeModelConfig> = {}): JudgeModelConfig {
  return makeConfig({
    imageSize: 8,
    patchSize: 4,
    channels: 3,
    visionLayers: 0,
    maxImages: 2,
    dModel: 32,
    nLayers: 1,
    nHeads: 2,
    nKvHeads: 1,
    dFF: 64,
    vocabSize: tok.vocabSize,
    imageTokenId: tok.imageId,
    maxSeqLen: 64,
    tieEmbeddings: true,
    ropeBase: 10000,
    normEps: 1e-5,
    initStd: 0.02,
    ...overrides,
  });
}

/** An 8×8 image whose mean brightness is in [150, 240] (bright) or [15, 105] (dark), with colour noise. */
export function toyImage(bright: boolean, r: () => number): RgbImage {
  const base = bright ? 150 + r() * 90 : 15 + r() * 90;
  const tint = [0, 1, 2].map(() => (r() - 0.5) * 30);
  const data = new Uint8Array(8 * 8 * 3);
  for (let p = 0; p < 64; p++)
    for (let c = 0; c < 3; c++) data[p * 3 + c] = Math.max(0, Math.min(255, Math.round(base + tint[c]! + (r() - 0.5) * 30)));
  return { width: 8, height: 8, data };
}

/**
 * `n` examples of the bright task, alternating bright/dark. `label` overrides the true label (e.g. a
 * random label for a format-only warm-up, or always 1).
 */
export function brightExamples(n: number, seed: number, label?: (i: number, bright: boolean, r: () => number) => number, prefix = 'b'): JudgeExample[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const bright = i % 2 === 0;
    const image = toyImage(bright, r);
    return { id: `${prefix}${seed}-${i}`, task: 'bright', format: 'binary' as const, images: [image], label: label ? label(i, bright, r) : bright ? 1 : 0 };
  });
}

/** `n` examples of the pairwise task; label = index of the brighter image. */
export function brighterExamples(n: number, seed: number): JudgeExample[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const firstBright = i % 2 === 0;
    return {
      id: `p${seed}-${i}`,
      task: 'brighter',
      format: 'pairwise' as const,
      images: [toyImage(firstBright, r), toyImage(!firstBright, r)],
      label: firstBright ? 0 : 1,
    };
  });
}

/** Copies of every parameter value, by name. */
export function snapshot(model: JudgeModel): Map<string, Float32Array> {
  return new Map(model.parameters().map((p) => [p.name, Float32Array.from(p.value.toArray() as Float32Array)]));
}

/** Copies of every parameter grad, by name. */
export function gradSnapshot(model: JudgeModel): Map<string, Float32Array> {
  return new Map(model.parameters().map((p) => [p.name, Float32Array.from(p.grad.toArray() as Float32Array)]));
}

/** Whether two snapshots are bit-identical; returns the first differing parameter name otherwise. */
export function firstDifference(a: Map<string, Float32Array>, b: Map<string, Float32Array>): string | undefined {
  for (const [name, x] of a) {
    const y = b.get(name);
    if (!y || y.length !== x.length) return name;
    const xb = new Uint32Array(x.buffer, x.byteOffset, x.length);
    const yb = new Uint32Array(y.buffer, y.byteOffset, y.length);
    for (let i = 0; i < xb.length; i++) if (xb[i] !== yb[i]) return `${name}[${i}] (${x[i]} vs ${y[i]})`;
  }
  return undefined;
}

/** Largest |a − b| / (atol + rtol·|b|) over every entry (≤ 1 means within tolerance), with where it is. */
export function maxScaledError(a: Map<string, Float32Array>, b: Map<string, Float32Array>, atol: number, rtol: number): { ratio: number; maxAbs: number; where: string } {
  let ratio = 0;
  let maxAbs = 0;
  let where = '';
  for (const [name, x] of a) {
    const y = b.get(name)!;
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(x[i]! - y[i]!);
      const q = d / (atol + rtol * Math.abs(y[i]!));
      if (!(q <= ratio)) {
        ratio = Number.isNaN(q) ? Infinity : q;
        where = `${name}[${i}]`;
      }
      if (d > maxAbs) maxAbs = d;
    }
  }
  return { ratio, maxAbs, where };
}

/**
 * A model that has learnt the output format but not the task: SFT (reasoning targets with an empty
 * think block, `<think></think><answer>v</answer><eos>`) on bright-task examples with RANDOM labels, so
 * it answers yes/no about equally often whatever the image. This is the warm-up the paper allows
 * before GRPO; what the image means must then be learnt from the reward alone.
 */
export async function formatWarmModel(seed = 1, steps = 60): Promise<JudgeModel> {
  const tok = toyTokenizer();
  const model = new JudgeModel(toyConfig(tok), { seed });
  const warm = brightExamples(64, 7, (_i, _b, r) => (r() < 0.5 ? 1 : 0), 'w');
  const sft = new SftTrainer({
    model,
    tokenizer: tok,
    tasks: [brightTask],
    train: warm,
    config: { maxSteps: steps, batchSize: 16, learningRate: 1e-2, target: 'reasoning', seed: 3 },
    reasoning: () => '',
  });
  await sft.train();
  sft.optimizer.dispose();
  return model;
}

/** A fresh model with the same config and weights as `model`. */
export function cloneModel(model: JudgeModel): JudgeModel {
  return new JudgeModel(model.config).copyFrom(model);
}

/**
 * The reward the GRPO tests train with: the built-in accuracy component with strict parsing, i.e. 1
 * only for a well-formed (`<think>…</think><answer>…</answer>`) and correct judgment. Unlike the
 * paper's composite (0.9·acc + 0.1·format) it does not let a tiny model trade the format away for
 * accuracy, which makes the learning curve steadier at this scale.
 */
export function strictAccuracy(): RewardModel {
  return new RewardModel({ components: [{ name: 'accuracy', params: { parse: 'strict' } }] });
}
