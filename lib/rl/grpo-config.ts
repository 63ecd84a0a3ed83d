// GRPO trainer configuration: TRL's names and defaults where TRL has the option, documented values
// where the paper is silent (see docs/rl-components.md and the README's config reference).
import type { StrategyName } from '../scheduler/strategies.js';
import type { ScaleRewards } from './advantages.js';

export interface GrpoConfig {
  /** Optimizer steps (rollout batches) to run. */
  maxSteps: number;
  /** Prompts per rollout batch (each gets numGenerations completions). */
  batchSize: number;
  /** Completions per prompt (G). The paper uses 20; small models train fine with 8. */
  numGenerations: number;
  /** Most tokens per completion (EOS included). A completion cut here has no EOS and is trained as it is. */
  maxCompletionLength: number;
  /** Sampling temperature for rollouts (the loss divides logits by it too, as TRL does). */
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  repetitionPenalty: number;
  learningRate: number;
  /** Decay of the learning rate over the run's optimizer updates (maxSteps · numIterations). */
  lrScheduler: 'constant' | 'linear' | 'cosine';
  /** Rollout steps of linear warm-up (each counts numIterations optimizer updates). */
  warmupSteps: number;
  weightDecay: number;
  adamBeta1: number;
  adamBeta2: number;
  /** Clip the global gradient norm (0 = off). */
  maxGradNorm: number;
  /** KL coefficient against the frozen reference model (0 = no reference model, TRL's default). */
  beta: number;
  epsilon: number;
  /** Upper clip range (DAPO's clip-higher); default = epsilon. */
  epsilonHigh?: number;
  /** Two-sided clipping upper bound on the ratio (off when undefined). */
  delta?: number;
  lossType: 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';
  klEstimator: 'k1' | 'k2' | 'k3';
  importanceSamplingLevel: 'token' | 'sequence';
  scaleRewards: ScaleRewards;
  /** Policy updates per rollout batch (μ in the GRPO paper). With > 1, old logprobs are recomputed. */
  numIterations: number;
  /** Completion rows per forward/backward pass (memory/speed trade-off; results do not depend on it). */
  miniBatchSize: number;
  /** Replace zero-variance groups with freshly drawn prompts (DAPO dynamic sampling). */
  dynamicSampling: boolean;
  /** Most extra rollout rounds per step for dynamic sampling. */
  maxResampleRounds: number;
  /** Zero advantages farther than this many std from the batch mean (off when undefined). */
  filterStd?: number;
  /** Multi-task mixing: 'proportional' (the paper's shuffled union), 'uniform', 'temperature', 'adaptive'. */
  strategy: StrategyName;
  /** τ of the 'temperature' strategy. */
  strategyTemperature: number;
  seed: number;
  /** Evaluate on the validation set every this many steps (0 = never). */
  evalEvery: number;
  /** Validation examples per task used by periodic evaluation (0 = all). */
  evalExamplesPerTask: number;
  /** Stop after this many evaluations without improvement of the mean macro-F1 (0 = off). */
  earlyStoppingPatience: number;
  /** Save a checkpoint every this many steps (0 = only at the end / best). */
  saveEvery: number;
}

export const GRPO_DEFAULTS: GrpoConfig = {
  maxSteps: 100,
  batchSize: 16,
  numGenerations: 8,
  maxCompletionLength: 24,
  temperature: 1.0,
  topP: 1.0,
  topK: 0,
  minP: 0,
  repetitionPenalty: 1.0,
  learningRate: 1e-4,
  lrScheduler: 'constant',
  warmupSteps: 0,
  weightDecay: 0,
  adamBeta1: 0.9,
  adamBeta2: 0.99,
  maxGradNorm: 1.0,
  beta: 0,
  epsilon: 0.2,
  lossType: 'grpo',
  klEstimator: 'k3',
  importanceSamplingLevel: 'token',
  scaleRewards: 'group',
  numIterations: 1,
  miniBatchSize: 64,
  dynamicSampling: false,
  maxResampleRounds: 1,
  strategy: 'proportional',
  strategyTemperature: 2,
  seed: 0,
  evalEvery: 0,
  evalExamplesPerTask: 64,
  earlyStoppingPatience: 0,
  saveEvery: 0,
};

function check(cond: boolean, field: string, expected: string, got: unknown): void {
  if (!cond) throw new RangeError(`GrpoTrainer: config.${field} must be ${expected}, got ${JSON.stringify(got)}`);
}

/** Fills defaults and validates; errors name the field and the allowed values. */
export function resolveGrpoConfig(partial: Partial<GrpoConfig> = {}): GrpoConfig {
  const known = new Set(Object.keys(GRPO_DEFAULTS).concat(['epsilonHigh', 'delta', 'filterStd']));
  for (const k of Object.keys(partial)) if (!known.has(k)) throw new TypeError(`GrpoTrainer: unknown config field "${k}" (known: ${[...known].join(', ')})`);
  const c = { ...GRPO_DEFAULTS, ...partial } as GrpoConfig;
  const posInt = (f: keyof GrpoConfig, min = 1, max = Number.MAX_SAFE_INTEGER) =>
    check(Number.isInteger(c[f]) && (c[f] as number) >= min && (c[f] as number) <= max, f, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer ≥ ${min} and ≤ ${max}`, c[f]);
  // Size fields are bounded so a typo (batchSize: 1e9) fails here, not in an allocation later.
  posInt('maxSteps', 1, 10_000_000);
  posInt('batchSize', 1, 65_536);
  posInt('numGenerations', 2, 1024);
  posInt('maxCompletionLength', 1, 65_536);
  posInt('numIterations', 1, 1000);
  posInt('miniBatchSize', 1, 65_536);
  posInt('maxResampleRounds', 0);
  posInt('topK', 0);
  posInt('warmupSteps', 0);
  posInt('evalEvery', 0);
  posInt('evalExamplesPerTask', 0);
  posInt('earlyStoppingPatience', 0);
  posInt('saveEvery', 0);
  posInt('seed', 0);
  check(c.temperature > 0, 'temperature', 'a number > 0 (rollouts must sample)', c.temperature);
  check(c.topP > 0 && c.topP <= 1, 'topP', 'in (0, 1]', c.topP);
  check(c.minP >= 0 && c.minP < 1, 'minP', 'in [0, 1)', c.minP);
  check(c.learningRate >= 0 && Number.isFinite(c.learningRate), 'learningRate', 'a finite number ≥ 0', c.learningRate);
  check(['constant', 'linear', 'cosine'].includes(c.lrScheduler), 'lrScheduler', "one of 'constant', 'linear', 'cosine'", c.lrScheduler);
  check(c.beta >= 0, 'beta', 'a number ≥ 0', c.beta);
  check(c.epsilon >= 0 && c.epsilon < 1, 'epsilon', 'in [0, 1)', c.epsilon);
  check(['grpo', 'bnpo', 'dr_grpo', 'dapo'].includes(c.lossType), 'lossType', "one of 'grpo', 'bnpo', 'dr_grpo', 'dapo'", c.lossType);
  check(['k1', 'k2', 'k3'].includes(c.klEstimator), 'klEstimator', "one of 'k1', 'k2', 'k3'", c.klEstimator);
  check(['token', 'sequence'].includes(c.importanceSamplingLevel), 'importanceSamplingLevel', "'token' or 'sequence'", c.importanceSamplingLevel);
  check(['group', 'batch', 'none'].includes(c.scaleRewards), 'scaleRewards', "one of 'group', 'batch', 'none'", c.scaleRewards);
  check(['proportional', 'uniform', 'temperature', 'adaptive'].includes(c.strategy), 'strategy', "one of 'proportional', 'uniform', 'temperature', 'adaptive'", c.strategy);
  check(c.maxGradNorm >= 0 && Number.isFinite(c.maxGradNorm), 'maxGradNorm', 'a finite number ≥ 0 (0 = off)', c.maxGradNorm);
  check(c.repetitionPenalty > 0 && Number.isFinite(c.repetitionPenalty), 'repetitionPenalty', 'a finite number > 0 (1 = off)', c.repetitionPenalty);
  check(c.weightDecay >= 0 && Number.isFinite(c.weightDecay), 'weightDecay', 'a finite number ≥ 0', c.weightDecay);
  check(c.adamBeta1 >= 0 && c.adamBeta1 < 1, 'adamBeta1', 'in [0, 1)', c.adamBeta1);
  check(c.adamBeta2 >= 0 && c.adamBeta2 < 1, 'adamBeta2', 'in [0, 1)', c.adamBeta2);
  check(Number.isFinite(c.beta), 'beta', 'a finite number ≥ 0', c.beta);
  check(c.strategyTemperature > 0 && Number.isFinite(c.strategyTemperature), 'strategyTemperature', 'a finite number > 0', c.strategyTemperature);
  if (c.epsilonHigh !== undefined) check(c.epsilonHigh >= 0 && Number.isFinite(c.epsilonHigh), 'epsilonHigh', 'a finite number ≥ 0', c.epsilonHigh);
  if (c.delta !== undefined) check(c.delta > 0 && Number.isFinite(c.delta), 'delta', 'a finite number > 0 (TRL recommends > 1 + epsilon)', c.delta);
  if (c.filterStd !== undefined) check(c.filterStd > 0 && Number.isFinite(c.filterStd), 'filterStd', 'a finite number > 0', c.filterStd);
  return c;
}
