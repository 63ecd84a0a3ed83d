// GrpoTrainer: multi-task GRPO for judges (MT-RL-Judge). Each step draws prompts from the
// MultiTaskScheduler, samples G completions per prompt (shared prefill), scores them with the tasks'
// rewards, computes group-relative advantages (optionally replacing zero-variance groups with freshly
// drawn prompts: DAPO dynamic sampling), then runs numIterations policy updates with the fused policy
// loss (hidden states × LM head, never full logits), AdamW, LR schedule and gradient clipping.
// A step whose hidden states, loss or gradient norm is not finite is skipped and reported, never
// applied. Everything random is keyed by (seed, step), so a run is repeatable and a resumed run
// (model + optimizer + state()) continues exactly as the uninterrupted one would.
import type { JudgeExample } from '../data/types.js';
import { completionText, promptInput, promptWithContinuation } from '../judging/encode.js';
import { policyLoss } from '../kernels/policy-loss.js';
import { disposeBatch, type JudgeInput } from '../model/batch.js';
import type { JudgeModel } from '../model/judge-model.js';
import type { RewardInput, RewardValue } from '../rewards/components.js';
import { RewardModel, rewardBatch, type RewardBatch } from '../rewards/model.js';
import type { TaskStepStats } from '../scheduler/strategies.js';
import type { Task } from '../tasks/task.js';
import { Tensor } from '../tensor.js';
import { computeAdvantages, taskStepStats, type AdvantageResult } from './advantages.js';
import { resolveGrpoConfig, type GrpoConfig } from './config.js';
import { JudgeTrainer, type JudgeTrainerOptions, type JudgeTrainerState } from './trainer.js';
import { mean } from './training-log.js';

export interface GrpoTrainerOptions extends JudgeTrainerOptions<GrpoConfig, GrpoStepMetrics> {
  /** Frozen reference policy for the KL term (required when beta > 0; e.g. a copy of the initial policy). */
  refModel?: JudgeModel;
  /** Rewards (default: each task's own reward components, e.g. the paper's composite). */
  rewardModel?: RewardModel;
  /** Called with each scored rollout (the batch that is trained on), before the policy update. */
  onRollout?: (r: GrpoRollout) => void;
}

export interface GrpoStepMetrics {
  step: number;
  /** True when no update was applied (no learning signal, or a non-finite loss / gradient / activation). */
  skipped: boolean;
  skipReason?: string;
  /** Loss of the last policy update (full-batch normalisation). */
  loss: number;
  lr: number;
  /** Global gradient norm before clipping (last update). */
  gradNorm: number;
  /** Mean and std of the rewards trained on (after dynamic sampling). */
  rewardMean: number;
  rewardStd: number;
  /** Per task: mean total reward, prompts (groups), and each reward component's mean. */
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
  /** Fraction of the step's first-drawn groups whose rewards were all equal (before dynamic sampling). */
  zeroVarianceFraction: number;
  /** The same fraction in the batch trained on (after dynamic sampling; equal to the above without it). */
  trainedZeroVarianceFraction: number;
  /** Zero-variance groups replaced by dynamic sampling. */
  resampledGroups: number;
  /** Completions with a null ("not applicable") reward, and advantages zeroed by filterStd. */
  nullRewards: number;
  filteredAdvantages: number;
  tokensPerSecond: number;
  seconds: { rollout: number; reward: number; update: number; total: number };
}

/** A scored rollout batch, as trained on (see `onRollout`). */
export interface GrpoRollout {
  /** The step being trained (1-based, as in the metrics). */
  step: number;
  /** Per group (prompt): its task, example and model input. */
  tasks: readonly Task[];
  examples: readonly JudgeExample[];
  prompts: readonly JudgeInput[];
  /** Per completion row, prompt-major (row r belongs to group ⌊r / G⌋): generated ids (EOS included) and text. */
  completions: readonly number[][];
  texts: readonly string[];
  finishedByEos: readonly boolean[];
  rewards: RewardBatch;
  advantages: AdvantageResult;
}

interface Rollout {
  tasks: Task[];
  examples: JudgeExample[];
  prompts: JudgeInput[];
  completions: number[][];
  texts: string[];
  finishedByEos: boolean[];
}

/** What a checkpoint needs besides the model and optimizer tensors (JSON-safe). */
export type GrpoTrainerState = JudgeTrainerState;

export class GrpoTrainer extends JudgeTrainer<GrpoConfig, GrpoStepMetrics> {
  readonly #rewards: RewardModel;
  readonly #refModel: JudgeModel | undefined;
  readonly #onRollout: GrpoTrainerOptions['onRollout'];

  constructor(opts: GrpoTrainerOptions) {
    // The schedule counts optimizer updates: numIterations per rollout step.
    super('GrpoTrainer', opts, (partial) => resolveGrpoConfig(partial as Partial<GrpoConfig>), (c) => c.numIterations);
    if (this.config.beta > 0 && !opts.refModel) throw new TypeError('GrpoTrainer: config.beta > 0 needs a refModel (a frozen copy of the initial policy)');
    if (opts.refModel && opts.refModel.device !== opts.model.device)
      throw new RangeError(`GrpoTrainer: refModel is on ${opts.refModel.device} but the model is on ${opts.model.device}`);
    this.#refModel = opts.refModel;
    this.#rewards = opts.rewardModel ?? new RewardModel();
    this.#onRollout = opts.onRollout;
  }

  /** Generates G completions for each scheduled prompt. */
  #rollout(items: Array<{ task: Task; example: JudgeExample }>, round: number): Rollout {
    const c = this.config;
    const prompts = items.map((it) => promptInput(it.example, it.task, this.tokenizer));
    let gen;
    try {
      gen = this.model.generate(prompts, {
        numGenerations: c.numGenerations,
        maxNewTokens: c.maxCompletionLength,
        eosId: this.tokenizer.eosId,
        temperature: c.temperature,
        topP: c.topP,
        topK: c.topK,
        minP: c.minP,
        repetitionPenalty: c.repetitionPenalty,
        seed: c.seed,
        // Decoding step s of row n draws from Philox (seed, n, offset + s). Each (step, round) gets its
        // own disjoint offset range, so the same seed gives the same rollouts, on any device, after resume.
        offset: (this.steps * (c.maxResampleRounds + 1) + round) * c.maxCompletionLength,
      });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`GrpoTrainer: rollout of step ${this.steps + 1} failed (are the weights finite?): ${msg}`, { cause: err });
    }
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

  #advantages(rewards: RewardBatch): AdvantageResult {
    const c = this.config;
    return computeAdvantages(rewards.totals, {
      groupSize: c.numGenerations,
      scaleRewards: c.scaleRewards,
      ...(c.filterStd !== undefined ? { filterStd: c.filterStd } : {}),
    });
  }

  /** One GRPO step: rollout, rewards, advantages (with dynamic sampling), numIterations updates. */
  async trainStep(): Promise<GrpoStepMetrics> {
    const c = this.config;
    const G = c.numGenerations;
    const t0 = performance.now();
    let tRollout = 0;
    let tReward = 0;
    let t = performance.now();
    let ro = this.#rollout(this.draw(c.batchSize), 0);
    tRollout += performance.now() - t;
    t = performance.now();
    let rewards = await this.#score(ro);
    let adv = this.#advantages(rewards);
    tReward += performance.now() - t;
    const firstZeroFraction = adv.zeroVarianceFraction;
    // Every group scored this step informs the adaptive scheduler, including the ones replaced below.
    const stats: TaskStepStats[] = taskStepStats(adv, ro.tasks.map((task) => task.name));
    let resampled = 0;
    // Dynamic sampling: draw as many fresh prompts as there are zero-variance groups and swap in the
    // ones whose rewards vary; repeat up to maxResampleRounds times.
    for (let round = 1; c.dynamicSampling && round <= c.maxResampleRounds && adv.zeroVarianceGroups.length > 0; round++) {
      const slots = [...adv.zeroVarianceGroups];
      t = performance.now();
      const extra = this.#rollout(this.draw(slots.length), round);
      tRollout += performance.now() - t;
      t = performance.now();
      const extraRewards = await this.#score(extra);
      const extraAdv = computeAdvantages(extraRewards.totals, { groupSize: G, scaleRewards: 'none' });
      stats.push(...taskStepStats(extraAdv, extra.tasks.map((task) => task.name)));
      const zero = new Set(extraAdv.zeroVarianceGroups);
      const useful = extra.tasks.map((_, g) => g).filter((g) => !zero.has(g));
      const n = Math.min(slots.length, useful.length);
      if (n > 0) {
        ({ rollout: ro, rewards } = mergeGroups(ro, rewards, extra, extraRewards, slots.slice(0, n), useful.slice(0, n), G));
        adv = this.#advantages(rewards);
        resampled += n;
      }
      tReward += performance.now() - t;
    }
    this.scheduler.update(mergeStepStats(stats));
    this.#onRollout?.({ step: this.steps + 1, ...ro, rewards, advantages: adv });

    const tu = performance.now();
    const upd = this.#update(ro, adv);
    const tUpdate = performance.now() - tu;

    const perTask: GrpoStepMetrics['perTask'] = {};
    for (const task of ro.tasks) {
      const e = (perTask[task.name] ??= { reward: NaN, prompts: 0 });
      e.prompts++;
    }
    for (const [name, s] of Object.entries(rewards.byTask)) {
      const e = perTask[name]!;
      for (const [comp, cs] of Object.entries(s.components)) if (comp !== 'reward' && comp !== 'prompts') e[comp] = cs.mean;
      e.reward = s.total.mean;
    }
    const components: Record<string, number> = {};
    for (const comp of rewards.names) components[comp] = rewards.summary[comp]!.mean;
    const lengths = ro.completions.map((x) => x.length);
    const generated = lengths.reduce((a, b) => a + b, 0);
    const total = performance.now() - t0;
    this.steps++;
    const m: GrpoStepMetrics = {
      step: this.steps,
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
      zeroVarianceFraction: firstZeroFraction,
      trainedZeroVarianceFraction: adv.zeroVarianceFraction,
      resampledGroups: resampled,
      nullRewards: adv.numNull,
      filteredAdvantages: adv.numFiltered,
      tokensPerSecond: (generated + upd.trainedTokens) / (total / 1000),
      seconds: { rollout: tRollout / 1000, reward: tReward / 1000, update: tUpdate / 1000, total: total / 1000 },
    };
    return this.record(m);
  }

  /** Policy updates on the scored rollout. */
  #update(ro: Rollout, adv: AdvantageResult) {
    const c = this.config;
    const G = c.numGenerations;
    // Rows that enter the loss. With beta = 0 a zero advantage contributes neither loss nor gradient
    // (ℓ = −min(r·0, clip(r)·0) = 0), so those rows are not computed; they still count in the loss's
    // normaliser (N sequences / all tokens), exactly as if they had been included. Rows with a null or
    // filtered reward (mask false) are left out of the loss altogether.
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
      loss: NaN,
      lr: this.optimizer.currentLr,
      gradNorm: NaN,
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
      out.skipReason = 'no learning signal: every group had zero reward variance (or no valid reward)';
      return out;
    }
    const inputs = inLoss.map((r) => promptWithContinuation(ro.prompts[Math.floor(r / G)]!, ro.completions[r]!));
    const chunks: number[][] = [];
    for (let i = 0; i < inLoss.length; i += c.miniBatchSize)
      chunks.push(Array.from({ length: Math.min(c.miniBatchSize, inLoss.length - i) }, (_, j) => i + j));
    // Old logprobs (the sampling policy) are only needed when the policy moves between updates; with
    // one update the loss is on-policy (ratio 1 with its gradient), exactly as TRL does.
    const lpOf = (m: JudgeModel, ch: number[]): Tensor => {
      const b = m.batch(ch.map((i) => inputs[i]!));
      try {
        return m.logprobs(b, { temperature: c.temperature });
      } finally {
        disposeBatch(b);
      }
    };
    const oldLp: (Tensor | undefined)[] = chunks.map((ch) => (c.numIterations > 1 ? lpOf(this.model, ch) : undefined));
    const refLp: (Tensor | undefined)[] = chunks.map((ch) => (c.beta > 0 ? lpOf(this.#refModel!, ch) : undefined));
    const acc = { kl: 0, clip: 0, low: 0, high: 0, ratio: 0, ent: 0, w: 0 };
    const lossOptions = {
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
    };
    try {
      for (let it = 0; it < c.numIterations; it++) {
        const pass = this.backwardPasses(
          chunks.map((ch) => ch.map((i) => inputs[i]!)),
          (hidden, b, ci) => {
            const rows = chunks[ci]!.map((i) => inLoss[i]!);
            const advT = Tensor.fromArray(Float32Array.from(rows.map((r) => adv.advantages[r]!)), [rows.length], { device: this.model.device });
            const mbTokens = b.numLossTokens;
            const res = policyLoss(
              { hidden, weight: this.model.lmHeadWeight() },
              { tokens: b.targets, mask: b.lossMask, advantages: advT, oldLogprobs: oldLp[ci], refLogprobs: refLp[ci] },
              lossOptions,
            );
            advT.dispose();
            const mt = res.metrics;
            const tw = mt.tokens;
            acc.kl += mt.kl * tw;
            acc.clip += mt.clipRegion * tw;
            acc.low += mt.clipLow * tw;
            acc.high += mt.clipHigh * tw;
            acc.ratio += mt.ratio * tw;
            acc.ent += mt.entropy * tw;
            acc.w += tw;
            out.trainedTokens += mbTokens;
            // Each mini-batch's loss is normalised over its own rows/tokens; rescale so the accumulated
            // gradient equals the full batch's (dapo already divides by the global token count).
            const weight =
              c.lossType === 'grpo' || c.lossType === 'dr_grpo' ? rows.length / totalRows : c.lossType === 'bnpo' ? mbTokens / totalTokens : 1;
            return { ...res, weight };
          },
        );
        const u = this.update(pass.loss, pass.bad);
        out.gradNorm = u.gradNorm;
        out.loss = u.loss;
        out.lr = u.lr;
        if (u.bad !== undefined) {
          out.skipped = true;
          out.skipReason = `${u.bad}: update ${it + 1} of ${c.numIterations} skipped${it > 0 ? ` (${it} earlier update(s) of this step were applied)` : ''}`;
          break;
        }
      }
    } finally {
      for (const x of [...oldLp, ...refLp]) x?.dispose();
    }
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
}

/** Sums per-task statistics from several rounds (numGroups-weighted). */
function mergeStepStats(stats: readonly TaskStepStats[]): TaskStepStats[] {
  const acc = new Map<string, { groups: number; zero: number; reward: number; rewardGroups: number }>();
  for (const s of stats) {
    const g = s.numGroups ?? 1;
    const a = acc.get(s.task) ?? { groups: 0, zero: 0, reward: 0, rewardGroups: 0 };
    a.groups += g;
    a.zero += (s.zeroVarianceFraction ?? 0) * g;
    if (s.rewardMean !== undefined) {
      a.reward += s.rewardMean * g;
      a.rewardGroups += g;
    }
    acc.set(s.task, a);
  }
  return [...acc].map(([task, a]) => ({
    task,
    numGroups: a.groups,
    zeroVarianceFraction: a.groups > 0 ? a.zero / a.groups : 0,
    ...(a.rewardGroups > 0 ? { rewardMean: a.reward / a.rewardGroups } : {}),
  }));
}

/** Replaces groups `slots` of (ro, rw) with groups `useful` of (ex, exRw); rebuilds every summary. */
function mergeGroups(ro: Rollout, rw: RewardBatch, ex: Rollout, exRw: RewardBatch, slots: number[], useful: number[], G: number) {
  const out: Rollout = {
    tasks: [...ro.tasks],
    examples: [...ro.examples],
    prompts: [...ro.prompts],
    completions: [...ro.completions],
    texts: [...ro.texts],
    finishedByEos: [...ro.finishedByEos],
  };
  const names = [...rw.names, ...exRw.names.filter((n) => !rw.names.includes(n))];
  const totals = [...rw.totals];
  const components: Record<string, RewardValue[]> = Object.fromEntries(
    names.map((n) => [n, rw.components[n] ? [...rw.components[n]!] : new Array<RewardValue>(totals.length).fill(null)]),
  );
  slots.forEach((s, i) => {
    const u = useful[i]!;
    out.tasks[s] = ex.tasks[u]!;
    out.examples[s] = ex.examples[u]!;
    out.prompts[s] = ex.prompts[u]!;
    for (let j = 0; j < G; j++) {
      out.completions[s * G + j] = ex.completions[u * G + j]!;
      out.texts[s * G + j] = ex.texts[u * G + j]!;
      out.finishedByEos[s * G + j] = ex.finishedByEos[u * G + j]!;
      totals[s * G + j] = exRw.totals[u * G + j]!;
      for (const name of names) components[name]![s * G + j] = exRw.components[name]?.[u * G + j] ?? null;
    }
  });
  const rewards = rewardBatch(totals, components, names, (r) => out.tasks[Math.floor(r / G)]!.name);
  return { rollout: out, rewards };
}
