// Pretraining of the base vision-language model on the instruction corpus (lib/data/instruct.ts):
// captions and VQA plus general questions about the visual concepts judges use, in varied wordings
// and answer vocabularies, directly or after a short reasoning in <think></think>, over one image
// or a pair — never a judge task's own prompt and never an item of a suite split. Trains the
// byte-level BPE tokenizer, builds the model from a preset, and makes the base an "off-the-shelf"
// judge that judge training then sharpens. Training runs on the shared spine (lib/rl/trainer.ts):
// the same AdamW, clipping and token-NLL step as SFT, over the corpus in a fixed cyclic order.
import { generateInstructCorpus, type CorpusMix, type InstructItem, type InstructVersion } from '../data/instruct.js';
import { generateExamples, IN_DISTRIBUTION_TASKS, OOD_TASKS, type SuiteTask } from '../data/suite.js';
import type { Seed } from '../rng.js';
import { promptWithContinuation } from '../judging/encode.js';
import type { JudgeInput } from '../model/batch.js';
import { trainBpe } from '../model/bpe-train.js';
import { makeConfig, TINY_CONFIG, type JudgeModelConfig, type PresetName } from '../model/config.js';
import { JudgeModel } from '../model/judge-model.js';
import { loadCheckpoint } from '../model/checkpoint.js';
import { widenPatchWindow } from '../model/widen-patch-window.js';
import { addDecoderLayers } from '../model/add-decoder-layers.js';
import { addVisionLayers } from '../model/add-vision-layers.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { TaskRegistry } from '../tasks/registry.js';
import { pretrainSchema, resolveConfig, type LoopConfig, type PretrainConfig } from '../rl/config.js';
import { runTraining } from '../rl/train-run.js';
import { Trainer, type TrainerHooks } from '../rl/trainer.js';
import type { Device } from '../device.js';

export interface PretrainOptions {
  seed?: Seed;
  /** Model preset or sizes (vocabSize and imageTokenId come from the tokenizer). Default 'tiny'. Defaults of the numbers below: PRETRAIN_DEFAULTS (lib/rl/config.ts). */
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
  /**
   * With `init`: widen the loaded model's patch window to this many pixels first (widenPatchWindow:
   * the new border weights start at zero, so training starts from exactly the loaded model).
   */
  patchWindow?: number;
  /**
   * With `init`: put this many new decoder layers on top of the loaded model first (addDecoderLayers:
   * their residual writers start at zero, so training starts from exactly the loaded model).
   */
  addLayers?: number;
  /**
   * With `init`: put this many new vision-encoder layers over the image patches first
   * (addVisionLayers: zero residual writers; a model without an encoder also gets a final RMSNorm and
   * an identity projector, so it starts close to the loaded model).
   */
  addVisionLayers?: number;
  /** Instruction corpus version (lib/data/instruct.ts). Default 2. */
  corpusVersion?: InstructVersion;
  /** Concept weights replacing the version's (lib/data/instruct.ts resolveMix), e.g. { 'note-match': 0.4 }. */
  corpusMix?: CorpusMix;
  /** Image side of the generated corpus (the model resizes to its own size). Default 32. */
  imageSize?: number;
  device?: Device;
  metricsFile?: string;
  onStep?: (step: number, loss: number, tokensPerSecond: number) => void;
  /** Checked between steps; returning true stops early (Ctrl-C). */
  shouldStop?: () => boolean;
  /** Save the result to this checkpoint folder (weights and tokenizer; trainer_state.json says how it was made). */
  out?: string;
  /** Fields added to the saved trainer_state.json (e.g. the command that reproduces it). */
  stateFields?: Record<string, unknown>;
}

export interface PretrainStepMetrics {
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
  tokensPerSecond: number;
}

/** The loop's view of the pretraining settings: no validation, no early stopping. */
type PretrainLoop = LoopConfig & { batchSize: number };

/** Token NLL on the corpus, batch k = items k·batchSize … (k+1)·batchSize − 1 (cycled). */
class PretrainTrainer extends Trainer<PretrainLoop, PretrainStepMetrics> {
  readonly #inputs: readonly JudgeInput[];

  constructor(model: JudgeModel, inputs: readonly JudgeInput[], config: PretrainLoop, hooks: TrainerHooks<PretrainStepMetrics>) {
    super('pretrainBase', model, config, hooks);
    this.#inputs = inputs;
  }

  trainStep(): PretrainStepMetrics {
    const ts = performance.now();
    const { batchSize, miniBatchSize } = this.config;
    const batch = Array.from({ length: batchSize }, (_, j) => this.#inputs[(this.steps * batchSize + j) % this.#inputs.length]!);
    const u = this.nllStep(batch, miniBatchSize);
    this.steps++;
    const tokensPerSecond = u.tokens / ((performance.now() - ts) / 1000);
    return this.record({ step: this.steps, loss: u.loss, gradNorm: u.gradNorm, lr: u.lr, tokensPerSecond }, 'pretrain');
  }
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

/** A layer-adding surgery option: only with an init checkpoint, and 1..64 layers (0 is a mistake, not a no-op). */
function checkLayerSurgery(name: string, n: number | undefined, init: string | undefined, withoutInit: string): void {
  if (n === undefined) return;
  if (init === undefined) throw new RangeError(`pretrainBase: ${name} ${withoutInit}`);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new RangeError(`pretrainBase: ${name} must be an integer in [1, 64], got ${n}`);
}

/** Trains the tokenizer and pretrains a fresh base model on the corpus (or continues from `init`). */
export async function pretrainBase(opts: PretrainOptions = {}): Promise<PretrainResult> {
  const cfg: PretrainConfig = resolveConfig(
    pretrainSchema,
    {
      maxSteps: opts.steps,
      batchSize: opts.batchSize,
      learningRate: opts.learningRate,
      seed: opts.seed,
      vocabSize: opts.vocabSize,
      corpusSize: opts.corpusSize,
      corpusVersion: opts.corpusVersion,
      imageSize: opts.imageSize,
    },
    'pretrainBase',
  );
  // Checked before any work: both surgeries need a checkpoint to change, and 0 layers is a mistake, not a no-op.
  if (opts.patchWindow !== undefined && opts.init === undefined) throw new RangeError('pretrainBase: patchWindow widens an init checkpoint; for a fresh model set model.patchWindow');
  checkLayerSurgery('addLayers', opts.addLayers, opts.init, 'deepens an init checkpoint; for a fresh model set model.nLayers');
  checkLayerSurgery('addVisionLayers', opts.addVisionLayers, opts.init, "deepens an init checkpoint's vision encoder; for a fresh model set model.visionLayers");
  const seed = cfg.seed;
  const t0 = performance.now();
  const items = generateInstructCorpus(seed, cfg.corpusSize, cfg.imageSize, cfg.corpusVersion, opts.corpusMix);
  const init = opts.init !== undefined ? loadCheckpoint(opts.init, { device: opts.device ?? 'cpu', skipOptimizer: true }) : undefined;
  if (init && !init.tokenizer) throw new RangeError(`pretrainBase: init checkpoint ${opts.init} has no tokenizer.json`);
  const tokenizer = init ? init.tokenizer! : trainBpe(tokenizerCorpus(seed, items), { vocabSize: cfg.vocabSize });
  // A partial object is laid over the tiny preset (so `{ dModel: 64 }` changes just the width).
  const spec = opts.model ?? 'tiny';
  const base = typeof spec === 'string' ? spec : { ...TINY_CONFIG, visionDim: undefined, visionHeads: undefined, visionFF: undefined, patchWindow: undefined, ...spec };
  // Room for two images + a two-image description, and for pairwise judging with long reasoning.
  const config = makeConfig(base, {
    vocabSize: tokenizer.vocabSize,
    imageTokenId: tokenizer.imageId,
    ...(typeof spec === 'string' || spec.maxSeqLen === undefined ? { maxSeqLen: Math.max(384, (typeof base === 'string' ? 0 : base.maxSeqLen) ?? 0) } : {}),
  });
  if (init && opts.patchWindow !== undefined && opts.patchWindow !== init.model.config.patchWindow) {
    const wide = widenPatchWindow(init.model, opts.patchWindow);
    init.model.dispose();
    init.model = wide;
  }
  if (init && opts.addLayers !== undefined) {
    const deep = addDecoderLayers(init.model, opts.addLayers, typeof seed === 'number' ? seed : 0);
    init.model.dispose();
    init.model = deep;
  }
  if (init && opts.addVisionLayers !== undefined) {
    const seeing = addVisionLayers(init.model, opts.addVisionLayers, typeof seed === 'number' ? seed : 0);
    init.model.dispose();
    init.model = seeing;
  }
  const model = init ? init.model : new JudgeModel(config, { device: opts.device ?? 'cpu', seed: typeof seed === 'number' ? seed : 0 });
  // Items longer than the model's context are left out (counted in the result), never truncated.
  const inputs = items.map((it) => corpusInput(it, tokenizer));
  const mc = model.config;
  const imageTokens = (mc.imageSize / mc.patchSize) ** 2;
  const fits = inputs.filter((x) => x.images.length * imageTokens + x.tokens.length <= mc.maxSeqLen);
  const skipped = inputs.length - fits.length;
  if (fits.length === 0) throw new RangeError(`pretrainBase: no corpus item fits maxSeqLen ${mc.maxSeqLen}`);
  const loop: PretrainLoop = {
    ...cfg,
    warmupSteps: cfg.warmupSteps ?? Math.min(50, Math.floor(cfg.maxSteps / 10)),
    miniBatchSize: cfg.miniBatchSize ?? cfg.batchSize,
    evalEvery: 0,
    earlyStoppingPatience: 0,
  };
  let finalLoss = NaN;
  const run = await runTraining<PretrainTrainer>({
    from: { model, tokenizer },
    ...(opts.out !== undefined ? { lastDir: opts.out } : {}),
    saveOptimizer: false,
    state: (t) => ({ kind: 'pretrain', steps: t.step, finalLoss, ...(opts.stateFields ?? {}) }),
    hooks: {
      ...(opts.metricsFile !== undefined ? { metricsFile: opts.metricsFile } : {}),
      ...(opts.shouldStop ? { shouldStop: opts.shouldStop } : {}),
      onStep: (m) => {
        finalLoss = m.loss;
        opts.onStep?.(m.step, m.loss, m.tokensPerSecond);
      },
    },
    trainer: (m, _tok, hooks) => new PretrainTrainer(m, fits, loop, hooks),
  });
  return { model, tokenizer, steps: run.trainer.step, finalLoss, skippedItems: skipped, seconds: (performance.now() - t0) / 1000 };
}
