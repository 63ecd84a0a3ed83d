// The GRPO policy update in detail: the gradient the trainer applies equals an independent full-batch
// computation of the loss (every row, zero-advantage rows included) for each lossType — so skipping
// zero-advantage rows with beta = 0 and splitting into mini-batches are both exact; mini-batch size
// does not change the gradient with old/reference logprobs either (numIterations 2, beta > 0); a
// non-finite gradient or activation skips the step and leaves the parameters untouched; dynamic
// sampling replaces zero-variance groups and reports how many; early stopping stops after `patience`
// evaluations without improvement and calls onBest for the best step; bad configs are rejected.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promptWithContinuation } from '../lib/judging/encode.js';
import { policyLoss } from '../lib/kernels/policy-loss.js';
import { disposeBatch } from '../lib/model/batch.js';
import type { JudgeModel } from '../lib/model/judge-model.js';
import type { RewardContext } from '../lib/rewards/components.js';
import { RewardModel } from '../lib/rewards/model.js';
import type { GrpoConfig } from '../lib/rl/config.js';
import { GrpoTrainer, type GrpoRollout, type GrpoStepMetrics } from '../lib/rl/grpo-trainer.js';
import { Tensor } from '../lib/tensor.js';
import {
  brightExamples,
  brightTask,
  cloneModel,
  firstDifference,
  formatWarmModel,
  gradSnapshot,
  maxScaledError,
  snapshot,
  strictAccuracy,
  toyTokenizer,
} from './grpo-fixtures.js';

const tok = toyTokenizer();
let warm: JudgeModel;
beforeAll(async () => {
  warm = await formatWarmModel(1);
});
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mtrl-grpo-update-'));
afterAll(() => {
  warm?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

// Rollouts at a high temperature so the low-entropy warm model still gives groups with mixed answers
// (the loss divides the logits by the same temperature).
const TEMPERATURE = 1.5;
const exampleIndex = (ctx: RewardContext) => Number(ctx.example.id.split('-')[1]);

/**
 * A reward that makes every third group zero-variance (constant 0.5), gives a null ("not applicable")
 * reward to "yes" answers on another third, and scores the rest by (lenient) accuracy — so a batch has
 * zero-advantage rows, masked-out rows and ordinary rows.
 */
function mixedReward(): RewardModel {
  return new RewardModel({
    components: [
      {
        name: 'mixed',
        fn: (ctx) => {
          const i = exampleIndex(ctx);
          if (i % 3 === 0) return 0.5;
          if (i % 3 === 1 && ctx.verdict('lenient') === 1) return null;
          return ctx.verdict('lenient') === ctx.example.label ? 1 : 0;
        },
      },
    ],
  });
}

/** Runs one GRPO step on a copy of the warm model; returns the gradient it applied, the rollout and the weights after. */
async function oneStep(config: Partial<GrpoConfig>, refModel?: JudgeModel) {
  const model = cloneModel(warm);
  let rollout: GrpoRollout | undefined;
  const trainer = new GrpoTrainer({
    model,
    tokenizer: tok,
    tasks: [brightTask],
    train: brightExamples(24, 31),
    rewardModel: mixedReward(),
    config: { batchSize: 12, numGenerations: 4, maxCompletionLength: 8, learningRate: 1e-3, maxGradNorm: 0, seed: 4, temperature: TEMPERATURE, ...config },
    ...(refModel ? { refModel } : {}),
    onRollout: (r) => {
      rollout = r;
    },
  });
  const grads: Map<string, Float32Array>[] = [];
  const step = trainer.optimizer.step.bind(trainer.optimizer);
  trainer.optimizer.step = () => {
    grads.push(gradSnapshot(model));
    return step();
  };
  const m = await trainer.trainStep();
  const weights = snapshot(model);
  trainer.optimizer.dispose();
  model.dispose();
  return { m, grads, rollout: rollout!, weights };
}

/** Largest |g| over all parameters (to scale the absolute tolerance). */
function maxAbs(g: Map<string, Float32Array>): number {
  let m = 0;
  for (const x of g.values()) for (const v of x) m = Math.max(m, Math.abs(v));
  return m;
}

/**
 * Weights after one AdamW step from equal weights with gradients ga, gb: the first step moves each
 * entry by lr·g/(|g| + eps) (bias-corrected), whose sensitivity to g is at most 1/(|g| + eps); so
 * entries whose gradient is ~0 (pure rounding noise) may legitimately move differently by up to
 * lr·|ga − gb| / (min(|ga|, |gb|) + eps). Returns the largest |Δw| relative to that bound (plus float
 * rounding of w itself).
 */
function adamStepAgreement(
  a: { weights: Map<string, Float32Array>; grads: Map<string, Float32Array>[] },
  b: { weights: Map<string, Float32Array>; grads: Map<string, Float32Array>[] },
  lr: number,
): { ratio: number; maxAbs: number; where: string } {
  let ratio = 0;
  let maxAbs = 0;
  let where = '';
  for (const [name, wa] of a.weights) {
    const wb = b.weights.get(name)!;
    const ga = a.grads[0]!.get(name)!;
    const gb = b.grads[0]!.get(name)!;
    for (let i = 0; i < wa.length; i++) {
      const d = Math.abs(wa[i]! - wb[i]!);
      const bound = 1e-7 + 1e-6 * Math.abs(wb[i]!) + (2 * lr * Math.abs(ga[i]! - gb[i]!)) / (Math.min(Math.abs(ga[i]!), Math.abs(gb[i]!)) + 1e-8);
      if (d / bound > ratio) {
        ratio = d / bound;
        where = `${name}[${i}] (g ${ga[i]} vs ${gb[i]})`;
      }
      maxAbs = Math.max(maxAbs, d);
    }
  }
  return { ratio, maxAbs, where };
}

/**
 * The reference gradient: the whole batch (every row with a valid reward, zero-advantage rows
 * included) in ONE forward/loss/backward on a copy of the pre-step weights.
 */
function referenceGrad(ro: GrpoRollout, config: Partial<GrpoConfig>): Map<string, Float32Array> {
  const G = 4;
  const rows = ro.completions.map((_, r) => r).filter((r) => ro.advantages.mask[r]);
  const model = cloneModel(warm);
  const b = model.batch(rows.map((r) => promptWithContinuation(ro.prompts[Math.floor(r / G)]!, ro.completions[r]!)));
  const adv = Tensor.fromArray(Float32Array.from(rows.map((r) => ro.advantages.advantages[r]!)), [rows.length]);
  const hidden = model.forward(b, { train: true });
  model.zeroGrad();
  const res = policyLoss(
    { hidden, weight: model.lmHeadWeight() },
    { tokens: b.targets, mask: b.lossMask, advantages: adv },
    { lossType: config.lossType ?? 'grpo', epsilon: 0.2, epsilonHigh: 0.2, beta: 0, temperature: TEMPERATURE, maxCompletionLength: 8 },
  );
  model.backward(res.grads.hidden, res.grads.weight);
  const g = gradSnapshot(model);
  for (const t of [res.grads.hidden, res.grads.weight, res.logprobs, hidden, adv]) t.dispose();
  disposeBatch(b);
  model.dispose();
  return g;
}

describe('GRPO update: exact gradients', () => {
  for (const lossType of ['grpo', 'bnpo', 'dr_grpo', 'dapo'] as const) {
    it(`${lossType}: the applied gradient equals one full-batch pass (zero-advantage rows skipped, mini-batches of 2 or all rows)`, async () => {
      const small = await oneStep({ lossType, miniBatchSize: 2 });
      const large = await oneStep({ lossType, miniBatchSize: 256 });
      const ro = small.rollout;
      // The batch really has all three kinds of rows.
      const zeroRows = ro.advantages.mask.filter((k, r) => k && ro.advantages.advantages[r] === 0).length;
      expect(zeroRows, 'zero-advantage rows').toBeGreaterThanOrEqual(4);
      expect(ro.advantages.numNull, 'rows with a null reward').toBeGreaterThan(0);
      expect(ro.advantages.mask.filter((k, r) => k && ro.advantages.advantages[r] !== 0).length, 'rows with a signal').toBeGreaterThan(4);
      expect(large.rollout.texts).toEqual(ro.texts);
      expect(small.m.skipped).toBe(false);
      const ref = referenceGrad(ro, { lossType });
      const atol = 1e-5 * maxAbs(ref);
      const eSmall = maxScaledError(small.grads[0]!, ref, atol, 1e-3);
      const eLarge = maxScaledError(large.grads[0]!, ref, atol, 1e-3);
      const eWeights = adamStepAgreement(small, large, 1e-3);
      console.log(
        `${lossType}: max |g − g_ref| ${eSmall.maxAbs.toExponential(2)} (mini-batch 2), ${eLarge.maxAbs.toExponential(2)} (one mini-batch); ` +
          `max |g_ref| ${maxAbs(ref).toExponential(2)}; weights after the step differ by ≤ ${eWeights.maxAbs.toExponential(2)}`,
      );
      expect(eSmall.ratio, `mini-batch 2 vs reference at ${eSmall.where}`).toBeLessThanOrEqual(1);
      expect(eLarge.ratio, `one mini-batch vs reference at ${eLarge.where}`).toBeLessThanOrEqual(1);
      expect(eWeights.ratio, `weights at ${eWeights.where}`).toBeLessThanOrEqual(1);
      expect(small.m.loss).toBeCloseTo(large.m.loss, 6);
    });
  }

  it('with old logprobs (numIterations 2) and a KL term (beta 0.04), mini-batch size does not change either update', async () => {
    const cfg: Partial<GrpoConfig> = { lossType: 'bnpo', numIterations: 2, beta: 0.04, importanceSamplingLevel: 'sequence', epsilonHigh: 0.28 };
    const ref1 = cloneModel(warm);
    const ref2 = cloneModel(warm);
    const small = await oneStep({ ...cfg, miniBatchSize: 3 }, ref1);
    const large = await oneStep({ ...cfg, miniBatchSize: 256 }, ref2);
    expect(small.grads).toHaveLength(2);
    expect(large.grads).toHaveLength(2);
    // Update 1 starts from equal weights: rounding only. Update 2 starts from weights that the first
    // AdamW step may have moved apart legitimately (entries whose gradient is rounding noise move by up
    // to lr either way: see adamStepAgreement), so its gradients get a 10× looser absolute tolerance —
    // still far below what a mis-scaled or dropped mini-batch does (errors of the order of |g| itself).
    // On an AVX2-only machine update 2 differed by 1.3× the tight bound (7.1e-7 at one embedding entry).
    for (let it = 0; it < 2; it++) {
      const e = maxScaledError(small.grads[it]!, large.grads[it]!, (it === 0 ? 1e-5 : 1e-4) * maxAbs(large.grads[it]!), 1e-3);
      expect(e.ratio, `update ${it + 1}: max |Δg| ${e.maxAbs.toExponential(2)} at ${e.where}`).toBeLessThanOrEqual(1);
    }
    expect(Number.isFinite(small.m.kl) && small.m.kl > 0).toBe(true);
    // The KL of update 2 is measured at those slightly different weights too: relative agreement.
    expect(Math.abs(small.m.kl - large.m.kl), `kl ${small.m.kl} vs ${large.m.kl}`).toBeLessThanOrEqual(1e-3 * large.m.kl);
    expect(small.m.ratioMean).toBeCloseTo(large.m.ratioMean, 6);
    ref1.dispose();
    ref2.dispose();
  });
});

describe('GRPO non-finite guard', () => {
  const make = () => {
    const model = cloneModel(warm);
    const trainer = new GrpoTrainer({
      model,
      tokenizer: tok,
      tasks: [brightTask],
      train: brightExamples(16, 41),
      rewardModel: strictAccuracy(),
      config: { batchSize: 8, numGenerations: 4, maxCompletionLength: 8, learningRate: 5e-3, seed: 2, miniBatchSize: 8 },
    });
    return { model, trainer };
  };

  it('a NaN in a gradient skips the update and reports it; parameters and optimizer untouched; the next step trains', async () => {
    const { model, trainer } = make();
    const before = snapshot(model);
    const backward = model.backward.bind(model);
    model.backward = (dHidden, dLmHead) => {
      backward(dHidden, dLmHead);
      (model.parameters()[1]!.grad.data as Float32Array)[0] = NaN;
    };
    const m = await trainer.trainStep();
    expect(m.skipped).toBe(true);
    expect(m.skipReason).toMatch(/non-finite gradient norm .*update 1 of 1 skipped/);
    expect(Number.isNaN(m.gradNorm)).toBe(true);
    expect(firstDifference(snapshot(model), before)).toBeUndefined();
    expect(trainer.optimizer.steps).toBe(0);
    expect(model.parameters().every((p) => (p.grad.toArray() as Float32Array).every((v) => v === 0))).toBe(true);
    expect(trainer.log.records[0]).toMatchObject({ type: 'train', step: 1, skipped: true });
    model.backward = backward;
    const m2 = await trainer.trainStep();
    expect(m2.skipped).toBe(false);
    expect(Number.isFinite(m2.gradNorm)).toBe(true);
    expect(trainer.optimizer.steps).toBe(1);
    expect(firstDifference(snapshot(model), before)).toBeDefined();
    trainer.optimizer.dispose();
    model.dispose();
  });

  it('non-finite hidden states skip the update (the loss kernel never sees them); parameters untouched', async () => {
    const { model, trainer } = make();
    const before = snapshot(model);
    const forward = model.forward.bind(model);
    model.forward = (batch, opts) => {
      const h = forward(batch, opts);
      if (opts?.train) (h.data as Float32Array)[h.numel - 1] = Infinity;
      return h;
    };
    const m = await trainer.trainStep();
    expect(m.skipped).toBe(true);
    expect(m.skipReason).toMatch(/non-finite hidden states/);
    expect(firstDifference(snapshot(model), before)).toBeUndefined();
    expect(trainer.optimizer.steps).toBe(0);
    model.forward = forward;
    expect((await trainer.trainStep()).skipped).toBe(false);
    trainer.optimizer.dispose();
    model.dispose();
  });

  it('non-finite weights stop training with a clear error at the rollout instead of training on garbage', async () => {
    const { model, trainer } = make();
    (model.parameters()[0]!.value.data as Float32Array)[5] = NaN;
    await expect(trainer.trainStep()).rejects.toThrow(/GrpoTrainer: rollout of step 1 failed .*NaN/);
    trainer.optimizer.dispose();
    model.dispose();
  });
});

describe('GRPO dynamic sampling', () => {
  it('replaces zero-variance groups with freshly drawn ones and reports the count (exact bookkeeping)', async () => {
    // Even-indexed examples get a constant reward: their groups never carry a signal.
    const flatHalf = new RewardModel({
      components: [{ name: 'r', fn: (ctx) => (exampleIndex(ctx) % 2 === 0 ? 0.5 : ctx.strict.ok && ctx.verdict('strict') === ctx.example.label ? 1 : 0) }],
    });
    const run = async (dynamicSampling: boolean) => {
      const model = cloneModel(warm);
      const rollouts: GrpoRollout[] = [];
      const trainer = new GrpoTrainer({
        model,
        tokenizer: tok,
        tasks: [brightTask],
        train: brightExamples(40, 43),
        rewardModel: flatHalf,
        config: { maxSteps: 3, batchSize: 8, numGenerations: 4, maxCompletionLength: 8, learningRate: 1e-3, seed: 6, dynamicSampling, maxResampleRounds: 2 },
        onRollout: (r) => rollouts.push(r),
      });
      const steps: GrpoStepMetrics[] = [];
      for (let i = 0; i < 3; i++) steps.push(await trainer.trainStep());
      const drawn = Object.values(trainer.scheduler.drawnCounts()).reduce((a, b) => a + b, 0);
      trainer.optimizer.dispose();
      model.dispose();
      return { steps, rollouts, drawn };
    };
    const off = await run(false);
    const on = await run(true);
    for (const m of off.steps) {
      expect(m.resampledGroups).toBe(0);
      expect(m.trainedZeroVarianceFraction).toBe(m.zeroVarianceFraction);
    }
    expect(off.drawn).toBe(24);
    // Same first rollout either way (same seed, same weights).
    expect(on.steps[0]!.zeroVarianceFraction).toBe(off.steps[0]!.zeroVarianceFraction);
    let total = 0;
    on.steps.forEach((m, i) => {
      const initialZero = Math.round(m.zeroVarianceFraction * 8);
      const trainedZero = on.rollouts[i]!.advantages.zeroVarianceGroups.length;
      // Each replacement turns exactly one zero-variance slot into a group with a signal.
      expect(trainedZero, `step ${i + 1}`).toBe(initialZero - m.resampledGroups);
      expect(m.trainedZeroVarianceFraction).toBeCloseTo(trainedZero / 8, 12);
      expect(on.rollouts[i]!.examples).toHaveLength(8);
      total += m.resampledGroups;
    });
    console.log(
      `dynamic sampling: zero-variance fraction ${on.steps.map((m) => m.zeroVarianceFraction.toFixed(3)).join(', ')} → trained ${on.steps.map((m) => m.trainedZeroVarianceFraction.toFixed(3)).join(', ')}; replaced ${on.steps.map((m) => m.resampledGroups).join(', ')} groups`,
    );
    expect(total).toBeGreaterThanOrEqual(3);
    expect(on.steps[0]!.zeroVarianceFraction).toBeGreaterThanOrEqual(0.5);
    // Top-ups draw only as many prompts as there were zero-variance slots.
    expect(on.drawn).toBeGreaterThan(24);
    // Replaced groups come from odd-indexed (informative) examples; the flat ones that remain are zero-variance.
    for (const r of on.rollouts) {
      r.examples.forEach((ex, g) => {
        if (Number(ex.id.split('-')[1]) % 2 === 0) expect(r.advantages.zeroVarianceGroups).toContain(g);
      });
    }
  });
});

describe('GRPO early stopping', () => {
  it('stops after `patience` evaluations without improvement and calls onBest once, for the best step', async () => {
    const model = cloneModel(warm);
    const metricsFile = path.join(tmp, 'run', 'metrics.jsonl');
    const best: Array<[number, number]> = [];
    const evals: boolean[] = [];
    const trainer = new GrpoTrainer({
      model,
      tokenizer: tok,
      tasks: [brightTask],
      train: brightExamples(16, 44),
      validation: brightExamples(6, 45),
      rewardModel: strictAccuracy(),
      // learningRate 0: the policy never changes, so validation plateaus from the first evaluation.
      config: { maxSteps: 20, batchSize: 4, numGenerations: 2, maxCompletionLength: 8, learningRate: 0, evalEvery: 1, earlyStoppingPatience: 2, seed: 1 },
      onBest: (step, f1) => {
        best.push([step, f1]);
      },
      onEval: (_step, _e, _f1, isBest) => evals.push(isBest),
      metricsFile,
    });
    const r = await trainer.train();
    expect(r).toMatchObject({ steps: 3, stoppedEarly: true, bestStep: 1 });
    expect(best).toHaveLength(1);
    expect(best[0]![0]).toBe(1);
    expect(best[0]![1]).toBe(r.best);
    expect(evals).toEqual([true, false, false]);
    const evalRecords = trainer.log.records.filter((x) => x.type === 'eval');
    expect(evalRecords.map((x) => x.step)).toEqual([1, 2, 3]);
    expect(trainer.state().earlyStopping).toEqual({ best: r.best, bestStep: 1, badEvals: 2 });
    // metrics.jsonl: one JSON object per line, train and eval records in order; NaN written as null.
    const lines = readFileSync(metricsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => `${l.type}${l.step}`)).toEqual(['train1', 'eval1', 'train2', 'eval2', 'train3', 'eval3']);
    expect(lines[1]).toMatchObject({ meanMacroF1: r.best, isBest: true, perTask: { bright: { macroF1: r.best } } });
    for (const l of lines.filter((x) => x.type === 'train')) expect(l.kl).toBe(l.skipped ? null : 0);
    trainer.optimizer.dispose();
    model.dispose();
  });
});

describe('GRPO configuration', () => {
  const base = () => ({ model: warm, tokenizer: tok, tasks: [brightTask], train: brightExamples(4, 46) });
  it('rejects bad configs and inputs with errors naming the field', () => {
    expect(() => new GrpoTrainer({ ...base(), config: { numGeneration: 4 } as unknown as Partial<GrpoConfig> })).toThrow(TypeError);
    expect(() => new GrpoTrainer({ ...base(), config: { numGenerations: 1 } })).toThrow(/numGenerations must be an integer ≥ 2/);
    expect(() => new GrpoTrainer({ ...base(), config: { lossType: 'ppo' as 'grpo' } })).toThrow(/lossType/);
    expect(() => new GrpoTrainer({ ...base(), config: { temperature: 0 } })).toThrow(/temperature/);
    expect(() => new GrpoTrainer({ ...base(), config: { epsilonHigh: -1 } })).toThrow(/epsilonHigh/);
    expect(() => new GrpoTrainer({ ...base(), config: { learningRate: NaN } })).toThrow(/learningRate/);
    expect(() => new GrpoTrainer({ ...base(), config: { beta: 0.1 } })).toThrow(/refModel/);
    expect(() => new GrpoTrainer({ ...base(), train: [{ ...brightExamples(1, 1)[0]!, task: 'nope' }] })).toThrow(/task "nope"/);
    expect(() => new GrpoTrainer({ ...base(), train: [] })).toThrow(/at least one example/);
    const t = new GrpoTrainer({ ...base(), config: { strategy: 'temperature', strategyTemperature: 3 } });
    expect(t.config.strategyTemperature).toBe(3);
    t.optimizer.dispose();
    // The LR schedule runs over optimizer updates: numIterations per rollout step (warm-up too).
    const u = new GrpoTrainer({ ...base(), config: { maxSteps: 10, numIterations: 3, lrScheduler: 'cosine', warmupSteps: 2 } });
    expect(u.optimizer.schedule).toMatchObject({ kind: 'cosine', totalSteps: 30, warmupSteps: 6 });
    u.optimizer.dispose();
  });
});
