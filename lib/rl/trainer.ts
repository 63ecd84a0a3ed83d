// The spine every training method shares. `Trainer`: AdamW with its learning-rate schedule, gradient
// accumulation over mini-batches with clipping and the skip of non-finite steps, the metrics log, the
// loop (periodic evaluation, early stopping with the best checkpoint, stop requests) and the state for
// an exact resume. `JudgeTrainer` adds what judge training needs: tasks, the multi-task scheduler's
// draws and greedy validation. GrpoTrainer (rollout, score, advantages, update), SftTrainer (one NLL
// step) and pretraining (lib/experiment/pretrain.ts) are built on them.
import type { JudgeExample } from '../data/types.js';
import { evaluateJudge, type TaskEvaluation } from '../judging/evaluate.js';
import type { LinearGrads, PolicyLossResult } from '../kernels/policy-loss.js';
import { policyLoss } from '../kernels/policy-loss.js';
import { disposeBatch, type JudgeInput, type ModelBatch } from '../model/batch.js';
import type { JudgeModel } from '../model/judge-model.js';
import { clipGradNorm, gradNorm } from '../model/layers/ops.js';
import { AdamW, type LrSchedule } from '../model/optimizer.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { scale } from '../ops.js';
import { MultiTaskScheduler, type SchedulerState } from '../scheduler/scheduler.js';
import type { Task } from '../tasks/task.js';
import type { Tensor } from '../tensor.js';
import type { JudgeLoopConfig, LoopConfig } from './config.js';
import { EarlyStopping, MetricsLog, firstPerTask, mean, type EarlyStoppingSnapshot } from './training-log.js';

/** Callbacks and outputs every trainer accepts. */
export interface TrainerHooks<M, E = TaskEvaluation> {
  /** metrics.jsonl path (one JSON object per step and per evaluation). */
  metricsFile?: string;
  onStep?: (m: M) => void;
  onEval?: (step: number, evals: Record<string, E>, meanF1: number, isBest: boolean) => void;
  /** Called when validation improves (e.g. to save the best checkpoint); awaited. */
  onBest?: (step: number, meanF1: number) => void | Promise<void>;
  /** Checked between steps: true stops training as requestStop() does (e.g. Ctrl-C). */
  shouldStop?: () => boolean;
}

/** What a checkpoint needs besides the model and optimizer tensors (JSON-safe). */
export interface TrainerState {
  step: number;
  earlyStopping: EarlyStoppingSnapshot;
  /** The optimizer's step count when the state was taken (checked on restore). */
  optimizerSteps: number;
}

export interface TrainingResult {
  steps: number;
  stoppedEarly: boolean;
  best: number;
  bestStep: number;
}

/** The outcome of one optimizer update (see Trainer.update). */
export interface UpdateResult {
  /** The loss (NaN when the update was skipped). */
  loss: number;
  /** Global gradient norm before clipping (NaN when a forward pass was already non-finite). */
  gradNorm: number;
  /** The learning rate of the update (the next one's when skipped). */
  lr: number;
  /** Why the update was skipped (undefined = applied). */
  bad: string | undefined;
}

/** One mini-batch's loss from the fused kernel, and the weight its gradient gets in the sum. */
export type MiniBatchLoss = PolicyLossResult<LinearGrads> & { weight?: number };

/** The AdamW schedule of a config: the decay spans maxSteps · updatesPerStep optimizer updates. */
function scheduleOf(c: LoopConfig, updatesPerStep: number): number | LrSchedule {
  if (c.lrScheduler === 'constant' && c.warmupSteps === 0) return c.learningRate;
  return {
    kind: c.lrScheduler,
    lr: c.learningRate,
    warmupSteps: c.warmupSteps * updatesPerStep,
    totalSteps: c.maxSteps * updatesPerStep,
    ...(c.minLrRatio ? { minLrRatio: c.minLrRatio } : {}),
  };
}

export abstract class Trainer<C extends LoopConfig, M extends { step: number }, S extends TrainerState = TrainerState> {
  readonly config: C;
  readonly model: JudgeModel;
  readonly optimizer: AdamW;
  readonly log: MetricsLog;
  readonly earlyStopping: EarlyStopping;
  /** Name in error messages ('GrpoTrainer', ...). */
  protected readonly name: string;
  protected readonly hooks: TrainerHooks<M>;
  /** Steps taken so far. */
  protected steps = 0;
  #stopRequested = false;

  constructor(name: string, model: JudgeModel, config: C, hooks: TrainerHooks<M>, updatesPerStep = 1) {
    if (!model || typeof model.parameters !== 'function') throw new TypeError(`${name}: options.model must be a JudgeModel`);
    this.name = name;
    this.model = model;
    this.config = config;
    this.hooks = hooks;
    this.optimizer = new AdamW(model.parameters(), {
      lr: scheduleOf(config, updatesPerStep),
      beta1: config.adamBeta1,
      beta2: config.adamBeta2,
      weightDecay: config.weightDecay,
    });
    this.log = new MetricsLog(hooks.metricsFile);
    this.earlyStopping = new EarlyStopping(config.earlyStoppingPatience);
  }

  /** Steps taken so far. */
  get step(): number {
    return this.steps;
  }

  /** Asks the training loop to stop after the current step (e.g. on Ctrl-C). */
  requestStop(): void {
    this.#stopRequested = true;
  }

  get stopRequested(): boolean {
    return this.#stopRequested || (this.hooks.shouldStop?.() ?? false);
  }

  /** One training step (advances `step`, logs and reports its metrics). */
  abstract trainStep(): M | Promise<M>;

  /** Validation for evaluation and early stopping; undefined when there is none. */
  protected validate(): { evals: Record<string, TaskEvaluation>; meanF1: number } | undefined {
    return undefined;
  }

  /**
   * One forward/backward pass per mini-batch with the gradients summed into the parameters' grads
   * (zeroed first). `loss` computes a mini-batch's loss on (hidden, batch); its `weight` scales that
   * mini-batch's gradient and loss. A non-finite hidden state stops the passes (reported in `bad`):
   * the loss kernel never sees it.
   */
  protected backwardPasses(batches: readonly (readonly JudgeInput[])[], loss: (hidden: Tensor, b: ModelBatch, i: number) => MiniBatchLoss): { loss: number; bad: string | undefined } {
    this.model.zeroGrad();
    let total = 0;
    for (let i = 0; i < batches.length; i++) {
      const b = this.model.batch(batches[i]!);
      const hidden = this.model.forward(b, { train: true });
      const hNorm = gradNorm([hidden]);
      if (!Number.isFinite(hNorm)) {
        hidden.dispose();
        disposeBatch(b);
        this.model.clearActivations();
        return { loss: total, bad: `non-finite hidden states (norm ${hNorm})` };
      }
      const r = loss(hidden, b, i);
      const w = r.weight ?? 1;
      if (w !== 1) {
        scale(r.grads.hidden, w, 0, r.grads.hidden);
        scale(r.grads.weight, w, 0, r.grads.weight);
      }
      this.model.backward(r.grads.hidden, r.grads.weight);
      total += r.loss * w;
      r.grads.hidden.dispose();
      r.grads.weight.dispose();
      r.logprobs.dispose();
      hidden.dispose();
      disposeBatch(b);
    }
    return { loss: total, bad: undefined };
  }

  /**
   * Clips the accumulated gradient (maxGradNorm; 0 = off) and applies one AdamW update, unless a pass
   * was non-finite (`bad`) or the loss or the gradient norm is: then nothing changes but the grads are
   * cleared. The grads are zero afterwards either way.
   */
  protected update(loss: number, bad: string | undefined): UpdateResult {
    const c = this.config;
    const norm = bad === undefined ? clipGradNorm(this.model.parameters().map((p) => p.grad), c.maxGradNorm > 0 ? c.maxGradNorm : Number.MAX_VALUE) : NaN;
    if (bad === undefined && (!Number.isFinite(loss) || !Number.isFinite(norm)))
      bad = `non-finite ${!Number.isFinite(loss) ? 'loss' : 'gradient norm'} (loss ${loss}, grad norm ${norm})`;
    const lr = bad === undefined ? this.optimizer.step().lr : this.optimizer.currentLr;
    this.model.zeroGrad();
    return { loss: bad === undefined ? loss : NaN, gradNorm: norm, lr, bad };
  }

  /**
   * The token-NLL step (SFT and pretraining): mini-batches of `miniBatchSize` inputs, each normalised
   * by the whole step's target-token count so the summed gradients equal the full batch's and the
   * summed losses are its mean token NLL; then one update.
   */
  protected nllStep(inputs: readonly JudgeInput[], miniBatchSize: number): UpdateResult & { tokens: number } {
    let tokens = 0;
    for (const x of inputs) for (const m of Array.from(x.lossMask!)) tokens += m !== 0 ? 1 : 0;
    const batches: JudgeInput[][] = [];
    for (let i = 0; i < inputs.length; i += miniBatchSize) batches.push(inputs.slice(i, i + miniBatchSize));
    const pass = this.backwardPasses(batches, (hidden, b) =>
      policyLoss({ hidden, weight: this.model.lmHeadWeight() }, { tokens: b.targets, mask: b.lossMask }, { lossType: 'nll', numItemsInBatch: tokens }),
    );
    return { ...this.update(pass.loss, pass.bad), tokens };
  }

  /** Counts the step, logs its metrics (`type` tags the record) and reports them. */
  protected record(m: M, type = 'train'): M {
    this.log.write({ type, ...m });
    this.hooks.onStep?.(m);
    return m;
  }

  /**
   * Runs until maxSteps, early stopping, or a stop request. With evalEvery > 0 and a validation set,
   * evaluates every evalEvery steps and at the last step, logs the evaluation, and awaits onBest on
   * every improvement.
   */
  async train(): Promise<TrainingResult> {
    const c = this.config;
    let stoppedEarly = false;
    while (this.steps < c.maxSteps && !this.stopRequested) {
      await this.trainStep();
      // Let the event loop run between steps so signals (Ctrl-C → requestStop), timers and progress
      // output are handled while a long run is going.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const step = this.steps;
      if (c.evalEvery <= 0 || (step % c.evalEvery !== 0 && step !== c.maxSteps)) continue;
      const v = this.validate();
      if (!v) continue;
      const isBest = this.earlyStopping.update(v.meanF1, step);
      this.log.write({
        type: 'eval',
        step,
        meanMacroF1: v.meanF1,
        isBest,
        perTask: Object.fromEntries(Object.entries(v.evals).map(([k, e]) => [k, { macroF1: e.macroF1, accuracy: e.accuracy, formatRate: e.formatRate }])),
      });
      this.hooks.onEval?.(step, v.evals, v.meanF1, isBest);
      if (isBest) await this.hooks.onBest?.(step, v.meanF1);
      if (this.earlyStopping.shouldStop) {
        stoppedEarly = true;
        break;
      }
    }
    return { steps: this.steps, stoppedEarly, best: this.earlyStopping.state.best, bestStep: this.earlyStopping.state.bestStep };
  }

  /** What a checkpoint needs besides the model and optimizer tensors (plain JSON). */
  state(): S {
    return { step: this.steps, earlyStopping: this.earlyStopping.snapshot(), optimizerSteps: this.optimizer.steps } as S;
  }

  /** Restores what state() adds to the base state (e.g. the scheduler's counters). */
  protected restoreExtra(_s: S): void {}

  /**
   * Restores counters saved by state(). Load the model weights and the optimizer state first
   * (`loadCheckpoint(dir).restoreOptimizer(trainer.optimizer)`): the optimizer's step count must
   * match the saved one, or the run would not continue as it was.
   */
  restore(s: S): void {
    const fn = `${this.name}.restore`;
    if (s === null || typeof s !== 'object') throw new TypeError(`${fn}: expected the object from trainer.state()`);
    if (!Number.isInteger(s.step) || s.step < 0) throw new RangeError(`${fn}: step must be an integer ≥ 0, got ${String(s.step)}`);
    if (s.optimizerSteps !== undefined && s.optimizerSteps !== this.optimizer.steps)
      throw new RangeError(
        `${fn}: the saved state is at optimizer step ${s.optimizerSteps} but the optimizer is at ${this.optimizer.steps}; restore the optimizer state first (loadCheckpoint(dir).restoreOptimizer(trainer.optimizer))`,
      );
    this.restoreExtra(s);
    this.earlyStopping.load(s.earlyStopping);
    this.steps = s.step;
  }
}

/** The options every judge trainer takes. */
export interface JudgeTrainerOptions<C, M> extends TrainerHooks<M> {
  model: JudgeModel;
  tokenizer: Tokenizer;
  /** The tasks being trained (names must match the examples' `task`). */
  tasks: readonly Task[];
  /** Training examples (any mix of the tasks). */
  train: readonly JudgeExample[];
  /** Validation examples for periodic evaluation and early stopping. */
  validation?: readonly JudgeExample[];
  config?: Partial<C>;
}

export interface JudgeTrainerState extends TrainerState {
  scheduler: SchedulerState;
}

/** A trainer of judges: batches of examples drawn by the multi-task scheduler, greedy validation. */
export abstract class JudgeTrainer<C extends JudgeLoopConfig, M extends { step: number }> extends Trainer<C, M, JudgeTrainerState> {
  readonly tokenizer: Tokenizer;
  readonly scheduler: MultiTaskScheduler<JudgeExample>;
  protected readonly tasks: ReadonlyMap<string, Task>;
  protected readonly validation: readonly JudgeExample[];

  constructor(name: string, opts: JudgeTrainerOptions<C, M>, resolve: (partial: unknown) => C, updatesPerStep: (c: C) => number = () => 1) {
    if (!opts || typeof opts !== 'object') throw new TypeError(`${name}: options must be an object { model, tokenizer, tasks, train, ... }`);
    const c = resolve(opts.config);
    super(name, opts.model, c, opts, updatesPerStep(c));
    if (!opts.tokenizer || typeof opts.tokenizer.encode !== 'function') throw new TypeError(`${name}: options.tokenizer must be a Tokenizer`);
    if (!Array.isArray(opts.tasks) || opts.tasks.length === 0) throw new TypeError(`${name}: options.tasks must be a non-empty array of Task`);
    if (!Array.isArray(opts.train)) throw new TypeError(`${name}: options.train must be an array of JudgeExample`);
    this.tokenizer = opts.tokenizer;
    this.tasks = new Map(opts.tasks.map((t) => [t.name, t]));
    this.validation = opts.validation ?? [];
    const byTask = new Map<string, JudgeExample[]>();
    for (const ex of opts.train) {
      if (!this.tasks.has(ex.task)) throw new RangeError(`${name}: training example ${ex.id} has task "${ex.task}", which is not among the tasks given`);
      if (!byTask.has(ex.task)) byTask.set(ex.task, []);
      byTask.get(ex.task)!.push(ex);
    }
    if (byTask.size === 0) throw new RangeError(`${name}: train must contain at least one example`);
    this.scheduler = new MultiTaskScheduler<JudgeExample>({
      tasks: [...byTask].map(([task, examples]) => ({ name: task, examples })),
      batchSize: c.batchSize,
      strategy: c.strategy,
      // The scheduler rejects a temperature for any other strategy.
      ...(c.strategy === 'temperature' ? { temperature: c.strategyTemperature } : {}),
      seed: c.seed,
    });
  }

  /** The next `size` scheduled examples (default batchSize), with their tasks. */
  protected draw(size?: number): Array<{ task: Task; example: JudgeExample }> {
    return this.scheduler.next(size).items.map((it) => ({ task: this.tasks.get(it.task)!, example: it.example! }));
  }

  /** Greedy evaluation on (a per-task sample of) the validation set; mean macro-F1 drives early stopping. */
  evaluate(): { evals: Record<string, TaskEvaluation>; meanF1: number } {
    const subset = firstPerTask(this.validation, this.config.evalExamplesPerTask);
    const evals = evaluateJudge(this.model, this.tokenizer, [...this.tasks.values()], subset, {
      maxNewTokens: this.config.maxCompletionLength,
      swapPairs: false,
    });
    return { evals, meanF1: mean(Object.values(evals).map((e) => e.macroF1)) };
  }

  protected override validate() {
    return this.validation.length > 0 ? this.evaluate() : undefined;
  }

  override state(): JudgeTrainerState {
    return { step: this.steps, scheduler: this.scheduler.state(), earlyStopping: this.earlyStopping.snapshot(), optimizerSteps: this.optimizer.steps };
  }

  protected override restoreExtra(s: JudgeTrainerState): void {
    this.scheduler.restore(s.scheduler);
  }
}
