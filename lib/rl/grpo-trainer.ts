// GrpoTrainer: multi-task GRPO for judges (MT-RL-Judge). Each step draws prompts from the
// MultiTaskScheduler, samples G completions per prompt (shared prefill), scores them with the tasks'
// rewards, computes group-relative advantages, then runs numIterations policy updates with the fused
// policy loss (hidden states × LM head, never full logits), AdamW, LR schedule and gradient clipping.
// A step whose loss or gradient norm is not finite is skipped and reported, never applied.
import type { JudgeExample } from '../data/types.js';
import { completionText, promptInput, promptWithContinuation } from '../judge/encode.js';
import { evaluateJudge, type TaskEvaluation } from '../judge/evaluate.js';
import { policyLoss } from '../kernels/policy-loss.js';
import { disposeBatch, type JudgeInput } from '../model/batch.js';
import type { JudgeModel } from '../model/judge-model.js';
import { clipGradNorm } from '../model/layers/ops.js';
import { AdamW } from '../model/optimizer.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { scale } from '../ops.js';
import { RewardModel, type RewardBatch } from '../rewards/model.js';
import type { RewardInput } from '../rewards/components.js';
import { MultiTaskScheduler, type SchedulerState } from '../scheduler/scheduler.js';
import type { Task } from '../tasks/task.js';
import { Tensor } from '../tensor.js';
import { computeAdvantages, taskStepStats, type AdvantageResult } from './advantages.js';
import { resolveGrpoConfig, type GrpoConfig } from './grpo-config.js';
import { EarlyStopping, MetricsLog, mean } from './training-log.js';

export interface GrpoTrainerOptions {
  model: JudgeModel;
  tokenizer: Tokenizer;
  /** The tasks being trained (names must match the examples' `task`). */
  tasks: readonly Task[];
  /** Training examples (any mix of the tasks). */
  train: readonly JudgeExample[];
  /** Validation examples for periodic evaluation and early stopping. */
  validation?: readonly JudgeExample[];
  config?: Partial<GrpoConfig>;
  /** Frozen reference policy for the KL term (required when beta > 0). */
  refModel?: JudgeModel;
  /** Rewards (default: each task's own reward components, e.g. the paper's composite). */
  rewardModel?: RewardModel;
  /** metrics.jsonl path (one JSON object per step and per evaluation). */
  metricsFile?: string;
  onStep?: (m: GrpoStepMetrics) => void;
  onEval?: (step: number, evals: Record<string, TaskEvaluation>, meanF1: number, isBest: boolean) => void;
  /** Called when validation improves (e.g. to save the best checkpoint). */
  onBest?: (step: number, meanF1: number) => void | Promise<void>;
}

export interface GrpoStepMetrics {
  step: number;
  skipped: boolean;
  skipReason?: string;
  loss: number;
  lr: number;
  gradNorm: number;
  rewardMean: number;
  rewardStd: number;
  /** Per task: mean total reward and each component's mean. */
  perTask: Record<string, { reward: number; prompts: number; [component: string]: number }>;
  /** Per reward component over the batch. */
  components: Record<string, number>;
  kl: number;
  clipFraction: number;
  clipFractionLow: number;
  clipFractionHigh: number;
  ratioMean: number;
  entropy: number;
  completionLength: number;
  eosRate: number;
  zeroVarianceFraction: number;
  resampledGroups: number;
  tokensPerSecond: number;
  seconds: { rollout: number; reward: number; update: number; total: number };
}

interface Rollout {
  tasks: Task[];
  examples: JudgeExample[];
  prompts: JudgeInput[];
  /** Per completion row (prompt-major): generated ids (EOS included), text. */
  completions: number[][];
  texts: string[];
  finishedByEos: boolean[];
}

export interface GrpoTrainerState {
  step: number;
  scheduler: SchedulerState;
  earlyStopping: EarlyStopping['state'];
  optimizerSteps: number;
}

export class GrpoTrainer {
  readonly config: GrpoConfig;
  readonly model: JudgeModel;
  readonly tokenizer: Tokenizer;
  readonly optimizer: AdamW;
  readonly scheduler: MultiTaskScheduler<JudgeExample>;
  readonly log: MetricsLog;
  readonly earlyStopping: EarlyStopping;
  #tasks: Map<string, Task>;
  #rewards: RewardModel;
  #opts: GrpoTrainerOptions;
  #step = 0;
  #stopRequested = false;

  constructor(opts: GrpoTrainerOptions) {
    this.config = resolveGrpoConfig(opts.config);
    const c = this.config;
    this.model = opts.model;
    this.tokenizer = opts.tokenizer;
    this.#opts = opts;
    if (c.beta > 0 && !opts.refModel) throw new TypeError('GrpoTrainer: config.beta > 0 needs a refModel (a frozen copy of the initial policy)');
    this.#tasks = new Map(opts.tasks.map((t) => [t.name, t]));
    const byTask = new Map<string, JudgeExample[]>();
    for (const ex of opts.train) {
      if (!this.#tasks.has(ex.task)) throw new RangeError(`GrpoTrainer: training example ${ex.id} has task "${ex.task}", which is not among the tasks given`);
      if (!byTask.has(ex.task)) byTask.set(ex.task, []);
      byTask.get(ex.task)!.push(ex);
    }
    if (byTask.size === 0) throw new RangeError('GrpoTrainer: train must contain at least one example');
    this.scheduler = new MultiTaskScheduler<JudgeExample>({
      tasks: [...byTask].map(([name, examples]) => ({ name, examples })),
      batchSize: c.batchSize,
      strategy: c.strategy,
      temperature: c.strategyTemperature,
      seed: c.seed,
    });
    this.#rewards = opts.rewardModel ?? new RewardModel();
    this.optimizer = new AdamW(this.model.parameters(), {
      lr:
        c.lrScheduler === 'constant' && c.warmupSteps === 0
          ? c.learningRate
          : { kind: c.lrScheduler, lr: c.learningRate, warmupSteps: c.warmupSteps, totalSteps: c.maxSteps },
      beta1: c.adamBeta1,
      beta2: c.adamBeta2,
      weightDecay: c.weightDecay,
    });
    this.log = new MetricsLog(opts.metricsFile);
    this.earlyStopping = new EarlyStopping(c.earlyStoppingPatience);
  }

  get step(): number {
    return this.#step;
  }

  /** Asks the training loop to stop after the current step (e.g. on Ctrl-C). */
  requestStop(): void {
    this.#stopRequested = true;
  }

  /** Generates G completions for each scheduled prompt. */
  #rollout(items: Array<{ task: Task; example: JudgeExample }>, round: number): Rollout {
    const c = this.config;
    const prompts = items.map((it) => promptInput(it.example, it.task, this.tokenizer));
    const gen = this.model.generate(prompts, {
      numGenerations: c.numGenerations,
      maxNewTokens: c.maxCompletionLength,
      eosId: this.tokenizer.eosId,
      temperature: c.temperature,
      topP: c.topP,
      topK: c.topK,
      minP: c.minP,
      repetitionPenalty: c.repetitionPenalty,
      seed: c.seed,
      // A distinct Philox stream per (step, round): same seed → same rollouts, on any device.
      offset: (this.#step * 16 + round) * (c.maxCompletionLength + 1) * 1024,
    });
    const completions: number[][] = [];
    const texts: string[] = [];
    const finished: boolean[] = [];
    for (let r = 0; r < gen.rows; r++) {
      const ids = gen.completion(r);
      completions.push(ids);
      texts.push(completionText(ids, this.tokenizer));
      finished.push(gen.finishedByEos[r] === 1);
    }
    return { tasks: items.map((i) => i.task), examples: items.map((i) => i.example), prompts, completions, texts, finishedByEos: finished };
  }

  async #score(ro: Rollout): Promise<RewardBatch> {
    const G = this.config.numGenerations;
    const inputs: RewardInput[] = ro.texts.map((completion, r) => ({
      completion,
      example: ro.examples[Math.floor(r / G)]!,
      task: ro.tasks[Math.floor(r / G)]!,
      numTokens: ro.completions[r]!.length,
    }));
    return this.#rewards.score(inputs);
  }

  #nextItems(): Array<{ task: Task; example: JudgeExample }> {
    return this.scheduler.next().items.map((it) => ({ task: this.#tasks.get(it.task)!, example: it.example! }));
  }

  /** One GRPO step: rollout, rewards, advantages, numIterations updates. */
  async trainStep(): Promise<GrpoStepMetrics> {
    const c = this.config;
    const G = c.numGenerations;
    const t0 = performance.now();
    let ro = this.#rollout(this.#nextItems(), 0);
    const tRollout0 = performance.now() - t0;
    let rewards = await this.#score(ro);
    let adv = computeAdvantages(rewards.totals, { groupSize: G, scaleRewards: c.scaleRewards, filterStd: c.filterStd });
    let resampled = 0;
    let tRollout = tRollout0;
    // Dynamic sampling: swap zero-variance groups for groups from freshly drawn prompts.
    for (let round = 1; c.dynamicSampling && round <= c.maxResampleRounds && adv.zeroVarianceGroups.length > 0; round++) {
      const tr = performance.now();
      const extra = this.#rollout(this.#nextItems(), round);
      tRollout += performance.now() - tr;
      const extraRewards = await this.#score(extra);
      const extraAdv = computeAdvantages(extraRewards.totals, { groupSize: G, scaleRewards: 'none' });
      const useful = [...Array(extra.prompts.length).keys()].filter((g) => !extraAdv.zeroVarianceGroups.includes(g));
      const slots = [...adv.zeroVarianceGroups];
      const merged = mergeGroups(ro, rewards, extra, extraRewards, slots, useful, G);
      resampled += Math.min(slots.length, useful.length);
      ro = merged.rollout;
      rewards = merged.rewards;
      adv = computeAdvantages(rewards.totals, { groupSize: G, scaleRewards: c.scaleRewards, filterStd: c.filterStd });
    }
    const tReward = performance.now() - t0 - tRollout;
    const tu = performance.now();
    const upd = this.#update(ro, adv);
    const tUpdate = performance.now() - tu;
    const groupTasks = ro.tasks.map((t) => t.name);
    this.scheduler.update(taskStepStats(adv, groupTasks));

    const perTask: GrpoStepMetrics['perTask'] = {};
    ro.tasks.forEach((task, g) => {
      const e = (perTask[task.name] ??= { reward: 0, prompts: 0 });
      e.prompts++;
    });
    for (const name of Object.keys(perTask)) {
      const rows: number[] = [];
      ro.tasks.forEach((t, g) => {
        if (t.name === name) for (let j = 0; j < G; j++) rows.push(g * G + j);
      });
      perTask[name]!.reward = mean(rows.map((r) => rewards.totals[r] ?? NaN));
      for (const comp of rewards.names) perTask[name]![comp] = mean(rows.map((r) => rewards.components[comp]![r] ?? NaN));
    }
    const components: Record<string, number> = {};
    for (const comp of rewards.names) components[comp] = rewards.summary[comp]!.mean;
    const lengths = ro.completions.map((x) => x.length);
    const generated = lengths.reduce((a, b) => a + b, 0);
    const total = performance.now() - t0;
    this.#step++;
    const m: GrpoStepMetrics = {
      step: this.#step,
      skipped: upd.skipped,
      ...(upd.skipReason ? { skipReason: upd.skipReason } : {}),
      loss: upd.loss,
      lr: upd.lr,
      gradNorm: upd.gradNorm,
      rewardMean: adv.rewardMean,
      rewardStd: adv.rewardStd,
      perTask,
      components,
      kl: upd.kl,
      clipFraction: upd.clipFraction,
      clipFractionLow: upd.clipFractionLow,
      clipFractionHigh: upd.clipFractionHigh,
      ratioMean: upd.ratioMean,
      entropy: upd.entropy,
      completionLength: mean(lengths),
      eosRate: mean(ro.finishedByEos.map((f) => (f ? 1 : 0))),
      zeroVarianceFraction: adv.zeroVarianceFraction,
      resampledGroups: resampled,
      tokensPerSecond: (generated + upd.trainedTokens) / (total / 1000),
      seconds: { rollout: tRollout / 1000, reward: tReward / 1000, update: tUpdate / 1000, total: total / 1000 },
    };
    this.log.write({ type: 'train', ...m });
    this.#opts.onStep?.(m);
    return m;
  }

  /** Policy updates on the scored rollout. */
  #update(ro: Rollout, adv: AdvantageResult) {
    const c = this.config;
    const G = c.numGenerations;
    // Rows that enter the loss. With beta = 0 a zero advantage contributes no gradient, so those rows
    // are not computed; they still count in the loss's normaliser (N sequences / all tokens), exactly
    // as if they had been included.
    const inLoss: number[] = [];
    let totalRows = 0;
    let totalTokens = 0;
    for (let r = 0; r < ro.completions.length; r++) {
      if (!adv.mask[r]) continue;
      totalRows++;
      totalTokens += ro.completions[r]!.length;
      if (c.beta > 0 || adv.advantages[r] !== 0) inLoss.push(r);
    }
    const out = {
      skipped: false,
      skipReason: undefined as string | undefined,
      loss: 0,
      lr: this.optimizer.currentLr,
      gradNorm: 0,
      kl: NaN,
      clipFraction: NaN,
      clipFractionLow: NaN,
      clipFractionHigh: NaN,
      ratioMean: NaN,
      entropy: NaN,
      trainedTokens: 0,
    };
    if (inLoss.length === 0) {
      out.skipped = true;
      out.skipReason = 'no learning signal: every group had zero reward variance';
      return out;
    }
    const inputs = inLoss.map((r) => promptWithContinuation(ro.prompts[Math.floor(r / G)]!, ro.completions[r]!));
    const chunks: number[][] = [];
    for (let i = 0; i < inLoss.length; i += c.miniBatchSize) chunks.push([...Array(Math.min(c.miniBatchSize, inLoss.length - i)).keys()].map((j) => i + j));
    // Old logprobs (the sampling policy) are only needed when the policy moves between updates.
    const oldLp: (Tensor | undefined)[] = chunks.map((ch) => {
      if (c.numIterations === 1) return undefined;
      const b = this.model.batch(ch.map((i) => inputs[i]!));
      const lp = this.model.logprobs(b, { temperature: c.temperature });
      disposeBatch(b);
      return lp;
    });
    const refLp: (Tensor | undefined)[] = chunks.map((ch) => {
      if (c.beta === 0 || !this.#opts.refModel) return undefined;
      const b = this.#opts.refModel.batch(ch.map((i) => inputs[i]!));
      const lp = this.#opts.refModel.logprobs(b, { temperature: c.temperature });
      disposeBatch(b);
      return lp;
    });
    const acc = { loss: 0, kl: 0, clip: 0, low: 0, high: 0, ratio: 0, ent: 0, w: 0 };
    for (let it = 0; it < c.numIterations; it++) {
      this.model.zeroGrad();
      let iterLoss = 0;
      chunks.forEach((ch, ci) => {
        const rows = ch.map((i) => inLoss[i]!);
        const b = this.model.batch(ch.map((i) => inputs[i]!));
        const advT = Tensor.fromArray(Float32Array.from(rows.map((r) => adv.advantages[r]!)), [rows.length]);
        const hidden = this.model.forward(b, { train: true });
        const mbTokens = b.numLossTokens;
        const res = policyLoss(
          { hidden, weight: this.model.lmHeadWeight() },
          { tokens: b.targets, mask: b.lossMask, advantages: advT, oldLogprobs: oldLp[ci], refLogprobs: refLp[ci] },
          {
            lossType: c.lossType,
            epsilon: c.epsilon,
            epsilonHigh: c.epsilonHigh ?? c.epsilon,
            ...(c.delta !== undefined ? { delta: c.delta } : {}),
            beta: c.beta,
            klEstimator: c.klEstimator,
            importanceSamplingLevel: c.importanceSamplingLevel,
            temperature: c.temperature,
            maxCompletionLength: c.maxCompletionLength,
            numItemsInBatch: totalTokens,
          },
        );
        // Mini-batch losses are normalised over their own rows/tokens; rescale so the accumulated
        // gradient equals the full batch's (dapo already divides by the global token count).
        const w =
          c.lossType === 'grpo' || c.lossType === 'dr_grpo' ? rows.length / totalRows : c.lossType === 'bnpo' ? mbTokens / totalTokens : 1;
        if (w !== 1) {
          scale(res.grads.hidden, w, 0, res.grads.hidden);
          scale(res.grads.weight, w, 0, res.grads.weight);
        }
        this.model.backward(res.grads.hidden, res.grads.weight);
        iterLoss += res.loss * w;
        const mt = res.metrics;
        const tw = mt.tokens;
        acc.kl += mt.kl * tw;
        acc.clip += mt.clipRegion * tw;
        acc.low += mt.clipLow * tw;
        acc.high += mt.clipHigh * tw;
        acc.ratio += mt.ratio * tw;
        acc.ent += mt.entropy * tw;
        acc.w += tw;
        out.trainedTokens += b.numLossTokens;
        res.grads.hidden.dispose();
        res.grads.weight.dispose();
        res.logprobs.dispose();
        hidden.dispose();
        advT.dispose();
        disposeBatch(b);
      });
      const grads = this.model.parameters().map((p) => p.grad);
      const norm = clipGradNorm(grads, c.maxGradNorm > 0 ? c.maxGradNorm : Number.MAX_VALUE);
      out.gradNorm = norm;
      out.loss = iterLoss;
      if (!Number.isFinite(iterLoss) || !Number.isFinite(norm)) {
        this.model.zeroGrad();
        out.skipped = true;
        out.skipReason = `non-finite ${!Number.isFinite(iterLoss) ? 'loss' : 'gradient norm'} (loss ${iterLoss}, grad norm ${norm}): update skipped`;
        break;
      }
      out.lr = this.optimizer.step().lr;
      this.model.zeroGrad();
    }
    for (const t of [...oldLp, ...refLp]) t?.dispose();
    if (acc.w > 0) {
      out.kl = acc.kl / acc.w;
      out.clipFraction = acc.clip / acc.w;
      out.clipFractionLow = acc.low / acc.w;
      out.clipFractionHigh = acc.high / acc.w;
      out.ratioMean = acc.ratio / acc.w;
      out.entropy = acc.ent / acc.w;
    }
    return out;
  }

  /** Greedy evaluation on (a per-task sample of) the validation set; mean macro-F1 drives early stopping. */
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
    const evals = evaluateJudge(this.model, this.tokenizer, [...this.#tasks.values()], subset, {
      maxNewTokens: this.config.maxCompletionLength,
      swapPairs: false,
    });
    const meanF1 = mean(Object.values(evals).map((e) => e.macroF1));
    return { evals, meanF1 };
  }

  /** Runs until maxSteps, early stopping, or requestStop(). */
  async train(): Promise<{ steps: number; stoppedEarly: boolean; best: number; bestStep: number }> {
    const c = this.config;
    let stoppedEarly = false;
    while (this.#step < c.maxSteps && !this.#stopRequested) {
      await this.trainStep();
      if (c.evalEvery > 0 && (this.#step % c.evalEvery === 0 || this.#step === c.maxSteps) && (this.#opts.validation?.length ?? 0) > 0) {
        const { evals, meanF1 } = this.evaluate();
        const isBest = this.earlyStopping.update(meanF1, this.#step);
        this.log.write({
          type: 'eval',
          step: this.#step,
          meanMacroF1: meanF1,
          perTask: Object.fromEntries(Object.entries(evals).map(([k, v]) => [k, { macroF1: v.macroF1, accuracy: v.accuracy, formatRate: v.formatRate }])),
        });
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

  /** What a checkpoint needs besides the model and optimizer tensors. */
  state(): GrpoTrainerState {
    return { step: this.#step, scheduler: this.scheduler.state(), earlyStopping: { ...this.earlyStopping.state }, optimizerSteps: this.optimizer.steps };
  }

  /** Restores counters saved by state() (the model and optimizer tensors are loaded separately). */
  restore(s: GrpoTrainerState): void {
    this.#step = s.step;
    this.scheduler.restore(s.scheduler);
    this.earlyStopping.state = { ...s.earlyStopping };
  }
}

/** Replaces groups `slots` of (ro, rw) with groups `useful` of (ex, exRw). */
function mergeGroups(ro: Rollout, rw: RewardBatch, ex: Rollout, exRw: RewardBatch, slots: number[], useful: number[], G: number) {
  const out: Rollout = {
    tasks: [...ro.tasks],
    examples: [...ro.examples],
    prompts: [...ro.prompts],
    completions: [...ro.completions],
    texts: [...ro.texts],
    finishedByEos: [...ro.finishedByEos],
  };
  const totals = [...rw.totals];
  const components: Record<string, (number | null)[]> = Object.fromEntries(rw.names.map((n) => [n, [...rw.components[n]!]]));
  const n = Math.min(slots.length, useful.length);
  for (let i = 0; i < n; i++) {
    const s = slots[i]!;
    const u = useful[i]!;
    out.tasks[s] = ex.tasks[u]!;
    out.examples[s] = ex.examples[u]!;
    out.prompts[s] = ex.prompts[u]!;
    for (let j = 0; j < G; j++) {
      out.completions[s * G + j] = ex.completions[u * G + j]!;
      out.texts[s * G + j] = ex.texts[u * G + j]!;
      out.finishedByEos[s * G + j] = ex.finishedByEos[u * G + j]!;
      totals[s * G + j] = exRw.totals[u * G + j]!;
      for (const name of rw.names) components[name]![s * G + j] = exRw.components[name]?.[u * G + j] ?? null;
    }
  }
  const summary: RewardBatch['summary'] = {};
  for (const name of rw.names) {
    const vals = components[name]!.filter((v): v is number => v !== null);
    summary[name] = { mean: vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : NaN, count: vals.length };
  }
  const valid = totals.filter((v): v is number => v !== null);
  return {
    rollout: out,
    rewards: {
      totals,
      components,
      names: rw.names,
      summary,
      totalSummary: { mean: valid.length ? valid.reduce((a, b) => a + b, 0) / valid.length : NaN, count: valid.length },
    } as RewardBatch,
  };
}
