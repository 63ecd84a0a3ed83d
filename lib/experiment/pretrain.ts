// Pretraining of the base vision-language model on the instruction corpus (lib/data/instruct.ts):
// captions and VQA plus general questions about the visual concepts judges use, in varied wordings
// and answer vocabularies, directly or after a short reasoning in <think></think>, over one image
// or a pair — never a judge task's own prompt and never an item of a suite split. Trains the
// byte-level BPE tokenizer, builds the model from a preset, and makes the base an "off-the-shelf"
// judge that judge training then sharpens.
import { generateInstructCorpus, type InstructItem, type InstructVersion } from '../data/instruct.js';
import { generateExamples, IN_DISTRIBUTION_TASKS, OOD_TASKS, type SuiteTask } from '../data/suite.js';
import type { Seed } from '../data/rng.js';
import { promptWithContinuation } from '../judge/encode.js';
import { disposeBatch, type JudgeInput } from '../model/batch.js';
import { trainBpe } from '../model/bpe-train.js';
import { makeConfig, TINY_CONFIG, type JudgeModelConfig, type PresetName } from '../model/config.js';
import { JudgeModel } from '../model/judge-model.js';
import { loadCheckpoint } from '../model/checkpoint.js';
import { clipGradNorm } from '../model/layers/ops.js';
import { AdamW } from '../model/optimizer.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { TaskRegistry } from '../tasks/registry.js';
import { MetricsLog } from '../rl/training-log.js';
import type { Device } from '../device.js';

export interface PretrainOptions {
  seed?: Seed;
  /** Model preset or sizes (vocabSize and imageTokenId come from the tokenizer). Default 'tiny'. */
  model?: PresetName | Partial<JudgeModelConfig>;
  /** Tokenizer vocabulary size. Default 1024. */
  vocabSize?: number;
  /** Instruction items generated for training (cycled). Default 30000. */
  corpusSize?: number;
  steps?: number;
  batchSize?: number;
  learningRate?: number;
  /**
   * Continue from this checkpoint folder (its weights and tokenizer) instead of a fresh model and a
   * newly trained tokenizer: a second stage on a revised corpus. `model` and `vocabSize` are ignored.
   */
  init?: string;
  /** Instruction corpus version (lib/data/instruct.ts). Default 2. */
  corpusVersion?: InstructVersion;
  /** Image side of the generated corpus (the model resizes to its own size). Default 32. */
  imageSize?: number;
  device?: Device;
  metricsFile?: string;
  onStep?: (step: number, loss: number, tokensPerSecond: number) => void;
  /** Checked between steps; returning true stops early (Ctrl-C). */
  shouldStop?: () => boolean;
}

export interface PretrainResult {
  model: JudgeModel;
  tokenizer: Tokenizer;
  steps: number;
  finalLoss: number;
  /** Corpus items left out because they do not fit the model's context. */
  skippedItems: number;
  seconds: number;
}

/** The text an instruction item trains on: prompt (not scored) and target (scored). */
export function corpusTexts(item: InstructItem): { prompt: string; target: string } {
  return { prompt: item.prompt, target: item.target };
}

/** Texts the tokenizer is trained on: the corpus plus the judge prompts and verdict formats (vocabulary only). */
function tokenizerCorpus(seed: Seed, items: InstructItem[]): string[] {
  const texts: string[] = [];
  for (const it of items) {
    const t = corpusTexts(it);
    texts.push(t.prompt, t.target);
  }
  const registry = new TaskRegistry();
  for (const name of [...IN_DISTRIBUTION_TASKS, ...OOD_TASKS] as SuiteTask[]) {
    const task = registry.get(name);
    for (const ex of generateExamples(name, 'train', { seed, sizes: 'small', corpus: false }, 40)) {
      texts.push(task.buildPrompt(ex));
      for (const label of task.labels ?? []) texts.push(task.targetText(label, { reasoning: 'The image shows a red circle.' }));
    }
  }
  return texts;
}

export function corpusInput(item: InstructItem, tokenizer: Tokenizer): JudgeInput {
  const t = corpusTexts(item);
  const prompt: JudgeInput = { images: item.images, tokens: [tokenizer.bosId, ...tokenizer.encode(t.prompt, { parseSpecial: false })] };
  return promptWithContinuation(prompt, [...tokenizer.encode(t.target), tokenizer.eosId]);
}

/** Trains the tokenizer and pretrains a fresh base model on the corpus. */
export async function pretrainBase(opts: PretrainOptions = {}): Promise<PretrainResult> {
  const seed = opts.seed ?? 0;
  const n = opts.corpusSize ?? 30000;
  const steps = opts.steps ?? 5000;
  const batchSize = opts.batchSize ?? 32;
  const imageSize = opts.imageSize ?? 32;
  const t0 = performance.now();
  const items = generateInstructCorpus(seed, n, imageSize, opts.corpusVersion ?? 2);
  const init = opts.init !== undefined ? loadCheckpoint(opts.init, { device: opts.device ?? 'cpu', skipOptimizer: true }) : undefined;
  if (init && !init.tokenizer) throw new RangeError(`pretrainBase: init checkpoint ${opts.init} has no tokenizer.json`);
  const tokenizer = init ? init.tokenizer! : trainBpe(tokenizerCorpus(seed, items), { vocabSize: opts.vocabSize ?? 1024 });
  // A partial object is laid over the tiny preset (so `{ dModel: 64 }` changes just the width).
  const spec = opts.model ?? 'tiny';
  const base = typeof spec === 'string' ? spec : { ...TINY_CONFIG, visionDim: undefined, visionHeads: undefined, visionFF: undefined, ...spec };
  // Room for two images + a two-image description, and for pairwise judging with long reasoning.
  const config = makeConfig(base, {
    vocabSize: tokenizer.vocabSize,
    imageTokenId: tokenizer.imageId,
    ...(typeof spec === 'string' || spec.maxSeqLen === undefined ? { maxSeqLen: Math.max(384, (typeof base === 'string' ? 0 : base.maxSeqLen) ?? 0) } : {}),
  });
  const model = init ? init.model : new JudgeModel(config, { device: opts.device ?? 'cpu', seed: typeof seed === 'number' ? seed : 0 });
  const lr = opts.learningRate ?? 2e-3;
  const optimizer = new AdamW(model.parameters(), {
    lr: { kind: 'cosine', lr, warmupSteps: Math.min(50, Math.floor(steps / 10)), totalSteps: steps, minLrRatio: 0.1 },
    weightDecay: 0.01,
  });
  // Items longer than the model's context are left out (counted in the result), never truncated.
  const inputs = items.map((it) => corpusInput(it, tokenizer));
  const mc = model.config;
  const imageTokens = (mc.imageSize / mc.patchSize) ** 2;
  const fits = inputs.filter((x) => x.images.length * imageTokens + x.tokens.length <= mc.maxSeqLen);
  const skipped = inputs.length - fits.length;
  if (fits.length === 0) throw new RangeError(`pretrainBase: no corpus item fits maxSeqLen ${mc.maxSeqLen}`);
  const log = new MetricsLog(opts.metricsFile);
  let finalLoss = NaN;
  let done = 0;
  for (let step = 0; step < steps; step++) {
    if (opts.shouldStop?.()) break;
    const ts = performance.now();
    const b = model.batch(Array.from({ length: batchSize }, (_, j) => fits[(step * batchSize + j) % fits.length]!));
    model.zeroGrad();
    const r = model.nllBackward(b);
    disposeBatch(b);
    const norm = clipGradNorm(model.parameters().map((p) => p.grad), 1.0);
    if (Number.isFinite(r.loss) && Number.isFinite(norm)) optimizer.step();
    model.zeroGrad();
    finalLoss = r.loss;
    done = step + 1;
    const tps = r.tokens / ((performance.now() - ts) / 1000);
    log.write({ type: 'pretrain', step: done, loss: r.loss, gradNorm: norm, lr: optimizer.currentLr, tokensPerSecond: tps });
    opts.onStep?.(done, r.loss, tps);
    if (done % 25 === 0) await new Promise((res) => setImmediate(res)); // let signals and progress bars through
  }
  return { model, tokenizer, steps: done, finalLoss, skippedItems: skipped, seconds: (performance.now() - t0) / 1000 };
}
