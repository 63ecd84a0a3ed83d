// GRPO end to end on a toy judging task with a verifiable answer ("is this image bright?"): a tiny
// model that only knows the output format (SFT warm-up on random labels) learns the task from the
// reward alone — mean reward and held-out accuracy rise clearly within a fixed number of steps. The
// run is seeded and repeatable (same seed → identical metrics and bit-identical weights), and a run
// interrupted by a checkpoint (model + optimizer + trainer.state()) and resumed in fresh objects
// ends bit-identical to the uninterrupted run — with two tasks, the adaptive scheduler, dynamic
// sampling, two updates per rollout, a KL term, a cosine schedule and periodic evaluation all on.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateJudge } from '../lib/judging/evaluate.js';
import { loadCheckpoint, saveCheckpoint } from '../lib/model/checkpoint.js';
import type { JudgeModel } from '../lib/model/judge-model.js';
import type { GrpoConfig } from '../lib/rl/config.js';
import { GrpoTrainer, type GrpoStepMetrics, type GrpoTrainerOptions, type GrpoTrainerState } from '../lib/rl/grpo-trainer.js';
import {
  brighterExamples,
  brighterTask,
  brightExamples,
  brightTask,
  cloneModel,
  firstDifference,
  formatWarmModel,
  snapshot,
  strictAccuracy,
  toyTokenizer,
} from './grpo-fixtures.js';

const tok = toyTokenizer();
let warm: JudgeModel;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mtrl-grpo-'));

beforeAll(async () => {
  warm = await formatWarmModel(1);
});
afterAll(() => {
  warm?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Metrics without the wall-clock fields (which legitimately differ between runs). */
function deterministic(m: GrpoStepMetrics): Omit<GrpoStepMetrics, 'seconds' | 'tokensPerSecond'> {
  const { seconds: _s, tokensPerSecond: _t, ...rest } = m;
  return rest;
}

describe('GRPO end to end', () => {
  it('learns the bright/dark judgment from the reward alone: mean reward and held-out accuracy rise clearly', async () => {
    const model = cloneModel(warm);
    const val = brightExamples(32, 99);
    const before = evaluateJudge(model, tok, [brightTask], val, { maxNewTokens: 8 }).bright!;
    const steps: GrpoStepMetrics[] = [];
    const trainer = new GrpoTrainer({
      model,
      tokenizer: tok,
      tasks: [brightTask],
      train: brightExamples(64, 11),
      rewardModel: strictAccuracy(),
      config: { maxSteps: 60, batchSize: 16, numGenerations: 8, maxCompletionLength: 8, learningRate: 5e-3, seed: 5 },
      onStep: (m) => steps.push(m),
    });
    const t0 = performance.now();
    const r = await trainer.train();
    const seconds = (performance.now() - t0) / 1000;
    const after = evaluateJudge(model, tok, [brightTask], val, { maxNewTokens: 8 }).bright!;
    const rewards = steps.map((m) => m.rewardMean);
    const first = avg(rewards.slice(0, 8));
    const last = avg(rewards.slice(-8));
    console.log(
      `GRPO e2e: mean reward first 8 steps ${first.toFixed(3)} → last 8 ${last.toFixed(3)}; held-out accuracy ${before.accuracy.toFixed(3)} → ${after.accuracy.toFixed(3)} ` +
        `(format ${after.formatRate.toFixed(2)}); ${r.steps} steps in ${seconds.toFixed(1)} s`,
    );
    expect(r.steps).toBe(60);
    expect(steps.every((m) => !m.skipped || m.skipReason?.startsWith('no learning signal'))).toBe(true);
    expect(last - first, `reward rise ${first.toFixed(3)} → ${last.toFixed(3)}`).toBeGreaterThan(0.3);
    expect(last).toBeGreaterThan(0.8);
    // The warm model answers regardless of the image (balanced validation → about half right).
    expect(before.accuracy).toBeLessThanOrEqual(0.75);
    expect(after.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(after.formatRate).toBeGreaterThanOrEqual(0.9);
    // The log has one record per step with the per-task and per-component breakdown.
    expect(trainer.log.records).toHaveLength(60);
    const m = steps.at(-1)!;
    expect(m.perTask.bright!.prompts).toBe(16);
    expect(m.perTask.bright!.accuracy).toBeCloseTo(m.components.accuracy!, 12);
    expect(m.completionLength).toBeGreaterThan(0);
    expect(m.eosRate).toBeGreaterThan(0.9);
    model.dispose();
  });

  it('is seeded and repeatable: the same seed gives identical metrics and bit-identical weights; another seed differs', async () => {
    const run = async (seed: number) => {
      const model = cloneModel(warm);
      const trainer = new GrpoTrainer({
        model,
        tokenizer: tok,
        tasks: [brightTask],
        train: brightExamples(32, 12),
        rewardModel: strictAccuracy(),
        config: { maxSteps: 5, batchSize: 8, numGenerations: 4, maxCompletionLength: 8, learningRate: 5e-3, seed, miniBatchSize: 5 },
      });
      const metrics: GrpoStepMetrics[] = [];
      for (let i = 0; i < 5; i++) metrics.push(await trainer.trainStep());
      const w = snapshot(model);
      model.dispose();
      return { metrics: metrics.map(deterministic), w };
    };
    const a = await run(21);
    const b = await run(21);
    const c = await run(22);
    expect(b.metrics).toEqual(a.metrics);
    expect(firstDifference(a.w, b.w)).toBeUndefined();
    expect(c.metrics.map((m) => m.rewardMean)).not.toEqual(a.metrics.map((m) => m.rewardMean));
    expect(firstDifference(a.w, c.w)).toBeDefined();
  });
});

describe('GRPO resume', () => {
  const config: Partial<GrpoConfig> = {
    maxSteps: 4,
    batchSize: 6,
    numGenerations: 4,
    maxCompletionLength: 6,
    learningRate: 5e-3,
    lrScheduler: 'cosine',
    warmupSteps: 1,
    numIterations: 2,
    beta: 0.04,
    strategy: 'adaptive',
    dynamicSampling: true,
    maxResampleRounds: 1,
    evalEvery: 1,
    earlyStoppingPatience: 10,
    miniBatchSize: 7,
    seed: 9,
  };
  const options = (model: JudgeModel, refModel: JudgeModel, onStep?: (m: GrpoStepMetrics) => void): GrpoTrainerOptions => ({
    model,
    refModel,
    tokenizer: tok,
    tasks: [brightTask, brighterTask],
    train: [...brightExamples(24, 13), ...brighterExamples(12, 14)],
    validation: [...brightExamples(4, 50), ...brighterExamples(2, 51)],
    config,
    ...(onStep ? { onStep } : {}),
  });

  it('training interrupted by a checkpoint and resumed in fresh objects equals uninterrupted training (bit-identical weights)', async () => {
    // Uninterrupted: 4 steps.
    const refA = cloneModel(warm);
    const modelA = cloneModel(warm);
    const stepsA: GrpoStepMetrics[] = [];
    const a = new GrpoTrainer(options(modelA, refA, (m) => stepsA.push(m)));
    const ra = await a.train();
    expect(ra.steps).toBe(4);

    // Interrupted after step 2 (after its evaluation), saved, and everything thrown away.
    const refB = cloneModel(warm);
    const modelB = cloneModel(warm);
    const b: GrpoTrainer = new GrpoTrainer(
      options(modelB, refB, (m) => {
        if (m.step === 2) b.requestStop();
      }),
    );
    expect((await b.train()).steps).toBe(2);
    const dir = path.join(tmp, 'grpo-ck');
    saveCheckpoint(dir, { model: modelB, tokenizer: tok, optimizer: b.optimizer, trainerState: b.state() });
    const savedState = JSON.parse(JSON.stringify(b.state())) as GrpoTrainerState;
    b.optimizer.dispose();
    modelB.dispose();
    refB.dispose();

    // Fresh objects from the checkpoint; the reference model is rebuilt from the initial weights.
    const ck = loadCheckpoint(dir);
    const refC = cloneModel(warm);
    const stepsC: GrpoStepMetrics[] = [];
    const c = new GrpoTrainer(options(ck.model, refC, (m) => stepsC.push(m)));
    // The optimizer must be restored before the trainer state (its step count is checked).
    expect(() => c.restore(ck.trainerState as GrpoTrainerState)).toThrow(/restore the optimizer state first/);
    ck.restoreOptimizer(c.optimizer);
    c.restore(ck.trainerState as GrpoTrainerState);
    expect(c.state()).toEqual(savedState);
    expect(c.step).toBe(2);
    const rc = await c.train();
    expect(rc.steps).toBe(4);

    expect(firstDifference(snapshot(modelA), snapshot(ck.model)), 'first weight that differs').toBeUndefined();
    expect(stepsC.map(deterministic)).toEqual(stepsA.slice(2).map(deterministic));
    expect(c.state()).toEqual(a.state());
    expect(c.earlyStopping.state).toEqual(a.earlyStopping.state);
    // The features the resume has to carry over were really in use.
    expect(stepsA.some((m) => Object.keys(m.perTask).length === 2)).toBe(true);
    expect(stepsA.every((m) => Number.isFinite(m.kl))).toBe(true);
    expect(stepsA.some((m) => m.resampledGroups > 0)).toBe(true);
    console.log(`resume run: resampled groups per step ${stepsA.map((m) => m.resampledGroups).join(", ")}, zero-variance fraction ${stepsA.map((m) => m.zeroVarianceFraction.toFixed(2)).join(", ")}, KL ${stepsA.map((m) => m.kl.toExponential(1)).join(", ")}`);
    expect(a.log.records.filter((r) => r.type === 'eval')).toHaveLength(4);
    for (const x of [a.optimizer, c.optimizer]) x.dispose();
    for (const x of [modelA, refA, ck.model, refC]) x.dispose();
  });
});
