// Training configuration, declared once: one zod schema per concern (the optimizer and the training
// loop every method shares, then GRPO, SFT and pretraining on top), each field with its rule, its
// error text and its default. The trainers, the run-config file (lib/cli/config.ts), the CLI's
// --help and the README's config reference all read these; the types are inferred from them.
// TRL's names and defaults where TRL has the option; documented values where the paper is silent
// (see docs/rl-components.md).
import { z } from 'zod';

/**
 * Upper bounds of the size fields: far above any useful value, low enough that a typo (batchSize:
 * 1e9) is a config error naming the field instead of an allocation that fails minutes later.
 */
export const LIMITS = { steps: 10_000_000, batch: 65_536, generations: 1024, tokens: 65_536, iterations: 1000 } as const;

const got = (v: unknown) => `, got ${v === undefined || typeof v === 'number' ? String(v) : JSON.stringify(v)}`;

/** A number field: `expected` is the rule in words; every failure (type or range) says it and the value. */
function num(expected: string, ok: (v: number) => boolean) {
  const error = (iss: { input?: unknown }) => `must be ${expected}${got(iss.input)}`;
  return z.number({ error }).refine(ok, { error });
}
const int = (min: number, max?: number) =>
  num(max === undefined ? `an integer ≥ ${min}` : `an integer ≥ ${min} and ≤ ${max}`, (v) => Number.isInteger(v) && v >= min && v <= (max ?? Number.MAX_SAFE_INTEGER));
const nonNegative = (note = '') => num(`a finite number ≥ 0${note}`, (v) => v >= 0);
const positive = (note = '') => num(`a finite number > 0${note}`, (v) => v > 0);
const unitOpen = () => num('in [0, 1)', (v) => v >= 0 && v < 1);
function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: (iss) => `must be one of ${values.map((v) => `'${v}'`).join(', ')}${got(iss.input)}` });
}

export const STRATEGIES = ['proportional', 'uniform', 'temperature', 'adaptive'] as const;
export const LR_SCHEDULERS = ['constant', 'linear', 'cosine'] as const;

/** AdamW and its learning-rate schedule (every method). */
const optimizerShape = {
  learningRate: nonNegative(),
  /** Decay of the learning rate over the run's optimizer updates. */
  lrScheduler: oneOf(LR_SCHEDULERS).default('constant'),
  /** Steps of linear warm-up (GRPO: rollout steps, each numIterations optimizer updates). */
  warmupSteps: int(0).default(0),
  /** Floor of the linear/cosine decay, as a fraction of learningRate. */
  minLrRatio: num('in [0, 1]', (v) => v >= 0 && v <= 1).default(0),
  weightDecay: nonNegative().default(0),
  adamBeta1: unitOpen().default(0.9),
  adamBeta2: unitOpen(),
  /** Clip the global gradient norm (0 = off). */
  maxGradNorm: nonNegative(' (0 = off)').default(1.0),
};

/** The training loop: steps, batches, task mixing, evaluation, early stopping, checkpoints. */
const loopShape = {
  /** Optimizer steps (GRPO: rollout batches) to run. */
  maxSteps: int(1, LIMITS.steps).default(100),
  /** Examples per step (GRPO: prompts, each with numGenerations completions). */
  batchSize: int(1, LIMITS.batch),
  /** Rows per forward/backward pass (memory/speed trade-off; results do not depend on it). */
  miniBatchSize: int(1, LIMITS.batch).default(64),
  /** Multi-task mixing: 'proportional' (the paper's shuffled union), 'uniform', 'temperature', 'adaptive'. */
  strategy: oneOf(STRATEGIES).default('proportional'),
  /** τ of the 'temperature' strategy. */
  strategyTemperature: positive().default(2),
  seed: int(0).default(0),
  /** Evaluate on the validation set every this many steps (0 = never). */
  evalEvery: int(0).default(0),
  /** Validation examples per task used by periodic evaluation (0 = all). */
  evalExamplesPerTask: int(0).default(64),
  /** Stop after this many evaluations without improvement of the mean macro-F1 (0 = off). */
  earlyStoppingPatience: int(0).default(0),
  /** Save last/ every this many steps (0 = only at the end). */
  saveEvery: int(0).default(0),
  /** Most tokens per completion (GRPO rollouts, and the judgments of periodic evaluation). */
  maxCompletionLength: int(1, LIMITS.tokens).default(24),
};

/** A judge trainer's schema: the shared fields with the method's defaults, plus its own fields. */
function trainerSchema<E extends z.ZodRawShape>(defaults: { learningRate: number; adamBeta2: number; batchSize: number }, own: E) {
  return z
    .object({
      ...optimizerShape,
      ...loopShape,
      learningRate: optimizerShape.learningRate.default(defaults.learningRate),
      adamBeta2: optimizerShape.adamBeta2.default(defaults.adamBeta2),
      batchSize: loopShape.batchSize.default(defaults.batchSize),
      ...own,
    })
    .strict();
}

export const grpoSchema = trainerSchema(
  { learningRate: 1e-4, adamBeta2: 0.99, batchSize: 16 },
  {
    /** Completions per prompt (G). The paper uses 20; small models train fine with 8. */
    numGenerations: int(2, LIMITS.generations).default(8),
    /** Sampling temperature for rollouts (the loss divides logits by it too, as TRL does). */
    temperature: positive(' (rollouts must sample)').default(1.0),
    topP: num('in (0, 1]', (v) => v > 0 && v <= 1).default(1.0),
    topK: int(0).default(0),
    minP: unitOpen().default(0),
    repetitionPenalty: positive(' (1 = off)').default(1.0),
    /** KL coefficient against the frozen reference model (0 = no reference model, TRL's default). */
    beta: nonNegative().default(0),
    epsilon: unitOpen().default(0.2),
    /** Upper clip range (DAPO's clip-higher); default = epsilon. */
    epsilonHigh: nonNegative().optional(),
    /** Two-sided clipping upper bound on the ratio (off when undefined); above 1, as the ratio of an unchanged policy is 1. */
    delta: num('a finite number > 1 (TRL recommends > 1 + epsilon)', (v) => v > 1).optional(),
    lossType: oneOf(['grpo', 'bnpo', 'dr_grpo', 'dapo']).default('grpo'),
    klEstimator: oneOf(['k1', 'k2', 'k3']).default('k3'),
    importanceSamplingLevel: oneOf(['token', 'sequence']).default('token'),
    scaleRewards: oneOf(['group', 'batch', 'none']).default('group'),
    /** Policy updates per rollout batch (μ in the GRPO paper). With > 1, old logprobs are recomputed. */
    numIterations: int(1, LIMITS.iterations).default(1),
    /** Replace zero-variance groups with freshly drawn prompts (DAPO dynamic sampling). */
    dynamicSampling: z.boolean({ error: (iss) => `must be true or false${got(iss.input)}` }).default(false),
    /** Most extra rollout rounds per step for dynamic sampling. */
    maxResampleRounds: int(0, LIMITS.iterations).default(1),
    /** Zero advantages farther than this many std from the batch mean (off when undefined). */
    filterStd: positive().optional(),
  },
);

export const sftSchema = trainerSchema(
  { learningRate: 3e-4, adamBeta2: 0.999, batchSize: 32 },
  {
    /** 'answer' (the paper's SFT baselines) or 'reasoning' (targets carry a think block). */
    target: oneOf(['answer', 'reasoning']).default('answer'),
  },
);

/**
 * Pretraining of the base model (lib/experiment/pretrain.ts): the shared optimizer and loop with the
 * settings the shipped base model was trained with (cosine decay to 10 %, weight decay 0.01), plus the
 * corpus and tokenizer sizes. Warm-up defaults to min(50, maxSteps / 10) steps.
 */
export const pretrainSchema = z
  .object({
    ...optimizerShape,
    maxSteps: loopShape.maxSteps.unwrap().default(5000),
    batchSize: loopShape.batchSize.default(32),
    /** Sequences per forward/backward pass (default: the whole batch). */
    miniBatchSize: loopShape.miniBatchSize.unwrap().optional(),
    saveEvery: loopShape.saveEvery,
    learningRate: optimizerShape.learningRate.default(2e-3),
    lrScheduler: optimizerShape.lrScheduler.unwrap().default('cosine'),
    warmupSteps: int(0).optional(),
    minLrRatio: optimizerShape.minLrRatio.unwrap().default(0.1),
    weightDecay: optimizerShape.weightDecay.unwrap().default(0.01),
    adamBeta2: optimizerShape.adamBeta2.default(0.999),
    /** Seed of the corpus, the tokenizer and the initial weights: an integer ≥ 0 or a string. */
    seed: z.union([int(0), z.string()], { error: (iss) => `must be an integer ≥ 0 or a string${got(iss.input)}` }).default(0),
    /** Tokenizer vocabulary size. */
    vocabSize: int(1, 1 << 22).default(1024),
    /** Instruction items generated for training (cycled). */
    corpusSize: int(1, LIMITS.steps).default(30000),
    /** Instruction corpus version (lib/data/instruct.ts): 2, or 1 (the shipped base model's first stage). */
    corpusVersion: z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)], { error: (iss) => `must be 1, 2, 3 or 4${got(iss.input)}` }).default(2),
    /** Image side of the generated corpus (the model resizes to its own size). */
    imageSize: int(16, 128).default(32),
  })
  .strict();

export type GrpoConfig = z.output<typeof grpoSchema>;
export type SftConfig = z.output<typeof sftSchema>;
export type PretrainConfig = z.output<typeof pretrainSchema>;
/** What every trainer reads: the optimizer and the loop (lib/rl/trainer.ts). */
export type LoopConfig = Pick<SftConfig, keyof typeof optimizerShape | 'maxSteps' | 'miniBatchSize' | 'evalEvery' | 'earlyStoppingPatience' | 'saveEvery'>;
/** What a judge trainer reads besides: batches from the multi-task scheduler, validation. */
export type JudgeLoopConfig = LoopConfig & Pick<SftConfig, keyof typeof loopShape>;

export const GRPO_DEFAULTS: GrpoConfig = Object.freeze(grpoSchema.parse({}));
export const SFT_DEFAULTS: SftConfig = Object.freeze(sftSchema.parse({}));
export const PRETRAIN_DEFAULTS: PretrainConfig = Object.freeze(pretrainSchema.parse({}));

/**
 * Fills defaults and validates a trainer's config with the schema; errors name the owner and the
 * field (`GrpoTrainer: config.numGenerations must be an integer ≥ 2 and ≤ 1024, got 1`). Unknown
 * fields are a TypeError listing the known ones.
 */
export function resolveConfig<S extends z.ZodObject>(schema: S, partial: unknown, owner: string): z.output<S> {
  if (partial === undefined) partial = {};
  if (partial === null || typeof partial !== 'object' || Array.isArray(partial)) throw new TypeError(`${owner}: config must be an object`);
  const r = schema.safeParse(partial);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys')
    throw new TypeError(`${owner}: unknown config field "${issue.keys[0]}" (known: ${Object.keys(schema.shape).join(', ')})`);
  throw new RangeError(`${owner}: config.${issue.path.join('.')} ${issue.message}`);
}

/** GRPO settings with every default filled; throws naming the field. */
export function resolveGrpoConfig(partial: Partial<GrpoConfig> = {}): GrpoConfig {
  return resolveConfig(grpoSchema, partial, 'GrpoTrainer');
}

/** SFT settings with every default filled; throws naming the field. */
export function resolveSftConfig(partial: Partial<SftConfig> = {}): SftConfig {
  return resolveConfig(sftSchema, partial, 'SftTrainer');
}
