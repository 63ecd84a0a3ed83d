// SftTrainer: supervised fine-tuning of a judge on label targets — answer-only (`<answer>v</answer>`,
// as the paper's SFT baselines) or full targets with reasoning — through the fused 'nll' loss. Also
// used as an optional warm-up before GRPO. Batches come from the MultiTaskScheduler (a shuffled union
// of the tasks by default, i.e. SFT-Unified; one task = SFT-Single).
import type { JudgeExample } from '../data/types.js';
import { supervisedInput } from '../judge/encode.js';
import { evaluateJudge, type TaskEvaluation } from '../judge/evaluate.js';
import { disposeBatch } from '../model/batch.js';
import type { JudgeModel } from '../model/judge-model.js';
import { clipGradNorm } from '../model/layers/ops.js';
import { AdamW } from '../model/optimizer.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { MultiTaskScheduler, type SchedulerState } from '../scheduler/scheduler.js';
import type { StrategyName } from '../scheduler/strategies.js';
import type { Task } from '../tasks/task.js';
import { EarlyStopping, MetricsLog, mean } from './training-log.js';

export interface SftConfig {
  maxSteps: number;
  /** Examples per optimizer step. */
  batchSize: number;
  /** Examples per forward/backward pass (results do not depend on it). */
  miniBatchSize: number;
  learningRate: number;
  lrScheduler: 'constant' | 'linear' | 'cosine';
  warmupSteps: number;
  weightDecay: number;
  maxGradNorm: number;
  /** 'answer' (default, the paper's SFT baselines) or 'reasoning' (targets carry a think block). */
  target: 'answer' | 'reasoning';
  strategy: StrategyName;
  seed: number;
  evalEvery: number;
  evalExamplesPerTask: number;
  earlyStoppingPatience: number;
  maxCompletionLength: number;
}

export const SFT_DEFAULTS: SftConfig = {
  maxSteps: 100,
  batchSize: 32,
  miniBatchSize: 64,
  learningRate: 3e-4,
  lrScheduler: 'constant',
  warmupSteps: 0,
  weightDecay: 0,
  maxGradNorm: 1.0,
  target: 'answer',
  strategy: 'proportional',
  seed: 0,
  evalEvery: 0,
  evalExamplesPerTask: 64,
  earlyStoppingPatience: 0,
  maxCompletionLength: 24,
};

export interface SftTrainerOptions {
  model: JudgeModel;
  tokenizer: Tokenizer;
  tasks: readonly Task[];
  train: readonly JudgeExample[];
  validation?: readonly JudgeExample[];
  config?: Partial<SftConfig>;
  /** Reasoning text for 'reasoning' targets (default: a short description of the criterion). */
  reasoning?: (example: JudgeExample, task: Task) => string;
  metricsFile?: string;
  onStep?: (m: SftStepMetrics) => void;
  onEval?: (step: number, evals: Record<string, TaskEvaluation>, meanF1: number, isBest: boolean) => void;
  onBest?: (step: number, meanF1: number) => void | Promise<void>;
}

export interface SftStepMetrics {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokens: number;
  skipped: boolean;
  skipReason?: string;
  perTask: Record<string, number>;
  tokensPerSecond: number;
  seconds: number;
}

function resolve(partial: Partial<SftConfig> = {}): SftConfig {
  for (const k of Object.keys(partial)) if (!(k in SFT_DEFAULTS)) throw new TypeError(`SftTrainer: unknown config field "${k}" (known: ${Object.keys(SFT_DEFAULTS).join(', ')})`);
  const c = { ...SFT_DEFAULTS, ...partial };
  for (const f of ['maxSteps', 'batchSize', 'miniBatchSize', 'maxCompletionLength'] as const)
    if (!(Number.isInteger(c[f]) && c[f] >= 1)) throw new RangeError(`SftTrainer: config.${f} must be an integer ≥ 1, got ${JSON.stringify(c[f])}`);
  for (const f of ['warmupSteps', 'evalEvery', 'evalExamplesPerTask', 'earlyStoppingPatience', 'seed'] as const)
    if (!(Number.isInteger(c[f]) && c[f] >= 0)) throw new RangeError(`SftTrainer: config.${f} must be an integer ≥ 0, got ${JSON.stringify(c[f])}`);
  if (!(c.learningRate >= 0)) throw new RangeError(`SftTrainer: config.learningRate must be ≥ 0, got ${c.learningRate}`);
  if (c.target !== 'answer' && c.target !== 'reasoning') throw new RangeError(`SftTrainer: config.target must be 'answer' or 'reasoning', got ${JSON.stringify(c.target)}`);
  return c;
}

export class SftTrainer {
  readonly config: SftConfig;
  readonly model: JudgeModel;
  readonly optimizer: AdamW;
  readonly scheduler: MultiTaskScheduler<JudgeExample>;
  readonly log: MetricsLog;
  readonly earlyStopping: EarlyStopping;
  #opts: SftTrainerOptions;
  #tasks: Map<string, Task>;
  #step = 0;
  #stopRequested = false;

  constructor(opts: SftTrainerOptions) {
    this.config = resolve(opts.config);
    const c = this.config;
    this.model = opts.model;
    this.#opts = opts;
    this.#tasks = new Map(opts.tasks.map((t) => [t.name, t]));
    const byTask = new Map<string, JudgeExample[]>();
    for (const ex of opts.train) {
      if (!this.#tasks.has(ex.task)) throw new RangeError(`SftTrainer: training example ${ex.id} has task "${ex.task}", which is not among the tasks given`);
      if (!byTask.has(ex.task)) byTask.set(ex.task, []);
      byTask.get(ex.task)!.push(ex);
    }
    if (byTask.size === 0) throw new RangeError('SftTrainer: train must contain at least one example');
    this.scheduler = new MultiTaskScheduler<JudgeExample>({
      tasks: [...byTask].map(([name, examples]) => ({ name, examples })),
      batchSize: c.batchSize,
      strategy: c.strategy,
      seed: c.seed,
    });
    this.optimizer = new AdamW(this.model.parameters(), {
      lr:
        c.lrScheduler === 'constant' && c.warmupSteps === 0
          ? c.learningRate
          : { kind: c.lrScheduler, lr: c.learningRate, warmupSteps: c.warmupSteps, totalSteps: c.maxSteps },
      weightDecay: c.weightDecay,
    });
    this.log = new MetricsLog(opts.metricsFile);
    this.earlyStopping = new EarlyStopping(c.earlyStoppingPatience);
  }

  get step(): number {
    return this.#step;
  }

  requestStop(): void {
    this.#stopRequested = true;
  }

  trainStep(): SftStepMetrics {
    const c = this.config;
    const t0 = performance.now();
    const items = this.scheduler.next().items;
    const tok = this.#opts.tokenizer;
    const inputs = items.map((it) => {
      const task = this.#tasks.get(it.task)!;
      const ex = it.example!;
      const reasoning = c.target === 'reasoning' ? (this.#opts.reasoning?.(ex, task) ?? `Checking ${task.criterion ?? task.name}.`) : undefined;
      return { task: it.task, input: supervisedInput(ex, task, tok, reasoning !== undefined ? { reasoning } : {}) };
    });
    let totalTokens = 0;
    for (const x of inputs) totalTokens += Array.from(x.input.lossMask!).reduce((a, b) => a + b, 0);
    this.model.zeroGrad();
    let loss = 0;
    const perTaskLoss = new Map<string, { s: number; n: number }>();
    for (let i = 0; i < inputs.length; i += c.miniBatchSize) {
      const chunk = inputs.slice(i, i + c.miniBatchSize);
      const b = this.model.batch(chunk.map((x) => x.input));
      // Normalised by the whole step's token count so mini-batching does not change the gradient.
      const r = this.model.nllBackward(b, { numItemsInBatch: totalTokens });
      loss += r.loss;
      disposeBatch(b);
      for (const x of chunk) {
        const e = perTaskLoss.get(x.task) ?? { s: 0, n: 0 };
        e.n++;
        perTaskLoss.set(x.task, e);
      }
    }
    const norm = clipGradNorm(
      this.model.parameters().map((p) => p.grad),
      c.maxGradNorm > 0 ? c.maxGradNorm : Number.MAX_VALUE,
    );
    let skipped = false;
    let skipReason: string | undefined;
    let lr = this.optimizer.currentLr;
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
      skipped = true;
      skipReason = `non-finite ${!Number.isFinite(loss) ? 'loss' : 'gradient norm'} (loss ${loss}, grad norm ${norm}): update skipped`;
    } else {
      lr = this.optimizer.step().lr;
    }
    this.model.zeroGrad();
    this.#step++;
    const seconds = (performance.now() - t0) / 1000;
    const m: SftStepMetrics = {
      step: this.#step,
      loss,
      lr,
      gradNorm: norm,
      tokens: totalTokens,
      skipped,
      ...(skipReason ? { skipReason } : {}),
      perTask: Object.fromEntries([...perTaskLoss].map(([k, v]) => [k, v.n])),
      tokensPerSecond: totalTokens / seconds,
      seconds,
    };
    this.log.write({ type: 'train', ...m });
    this.#opts.onStep?.(m);
    return m;
  }

  evaluate(): { evals: Record<string, TaskEvaluation>; meanF1: number } {
    const val = this.#opts.validation ?? [];
    const per = this.config.evalExamplesPerTask;
    const taken = new Map<string, number>();
    const subset = val.filter((ex) => {
      const n = taken.get(ex.task) ?? 0;
      if (per > 0 && n >= per) return false;
      taken.set(ex.task, n + 1);
      return true;
    });
    const evals = evaluateJudge(this.model, this.#opts.tokenizer, [...this.#tasks.values()], subset, {
      maxNewTokens: this.config.maxCompletionLength,
      swapPairs: false,
    });
    return { evals, meanF1: mean(Object.values(evals).map((e) => e.macroF1)) };
  }

  async train(): Promise<{ steps: number; stoppedEarly: boolean; best: number; bestStep: number }> {
    const c = this.config;
    let stoppedEarly = false;
    while (this.#step < c.maxSteps && !this.#stopRequested) {
      this.trainStep();
      if (c.evalEvery > 0 && (this.#step % c.evalEvery === 0 || this.#step === c.maxSteps) && (this.#opts.validation?.length ?? 0) > 0) {
        const { evals, meanF1 } = this.evaluate();
        const isBest = this.earlyStopping.update(meanF1, this.#step);
        this.log.write({ type: 'eval', step: this.#step, meanMacroF1: meanF1, perTask: Object.fromEntries(Object.entries(evals).map(([k, v]) => [k, { macroF1: v.macroF1, accuracy: v.accuracy }])) });
        this.#opts.onEval?.(this.#step, evals, meanF1, isBest);
        if (isBest) await this.#opts.onBest?.(this.#step, meanF1);
        if (this.earlyStopping.shouldStop) {
          stoppedEarly = true;
          break;
        }
      }
    }
    return { steps: this.#step, stoppedEarly, best: this.earlyStopping.state.best, bestStep: this.earlyStopping.state.bestStep };
  }

  state(): { step: number; scheduler: SchedulerState; earlyStopping: EarlyStopping['state'] } {
    return { step: this.#step, scheduler: this.scheduler.state(), earlyStopping: { ...this.earlyStopping.state } };
  }

  restore(s: { step: number; scheduler: SchedulerState; earlyStopping: EarlyStopping['state'] }): void {
    this.#step = s.step;
    this.scheduler.restore(s.scheduler);
    this.earlyStopping.state = { ...s.earlyStopping };
  }
}
