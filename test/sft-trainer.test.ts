// SftTrainer on the toy bright/dark task: answer-only targets (only `<answer>v</answer><eos>` is
// trained, never the prompt) and reasoning targets; the reported loss is the mean token NLL over the
// target tokens; loss falls and held-out accuracy rises on a small fixed dataset; mini-batching does
// not change the gradient; a non-finite gradient skips the step with the parameters untouched;
// checkpoint + resume equals uninterrupted training bit for bit; early stopping (and its JSON-safe
// state); bad configs.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateJudge } from '../lib/judging/evaluate.js';
import { disposeBatch } from '../lib/model/batch.js';
import { loadCheckpoint, saveCheckpoint } from '../lib/model/checkpoint.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import { SftTrainer, type SftConfig, type SftStepMetrics, type SftTrainerState } from '../lib/rl/sft-trainer.js';
import { EarlyStopping, type EarlyStoppingSnapshot } from '../lib/rl/training-log.js';
import {
  brighterExamples,
  brighterTask,
  brightExamples,
  brightTask,
  firstDifference,
  gradSnapshot,
  maxScaledError,
  snapshot,
  toyConfig,
  toyTokenizer,
} from './grpo-fixtures.js';

const tok = toyTokenizer();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mtrl-sft-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const fresh = (seed = 1) => new JudgeModel(toyConfig(tok), { seed });

describe('SFT targets', () => {
  it('answer-only targets train exactly `<answer>v</answer><eos>`; reasoning targets add the think block; the prompt is never trained', () => {
    const model = fresh();
    const [pos, neg] = brightExamples(2, 5);
    const answer = new SftTrainer({ model, tokenizer: tok, tasks: [brightTask], train: [pos!, neg!] });
    const x = answer.input(pos!);
    const promptLen = 1 + tok.encode(brightTask.buildPrompt(pos!), { parseSpecial: false }).length;
    expect(Array.from(x.tokens).slice(0, promptLen)).toEqual([tok.bosId, ...tok.encode(brightTask.buildPrompt(pos!), { parseSpecial: false })]);
    const mask = Array.from(x.lossMask!);
    expect(mask.slice(0, promptLen).every((m) => m === 0)).toBe(true);
    expect(mask.slice(promptLen).every((m) => m === 1)).toBe(true);
    const trained = Array.from(x.tokens).filter((_, i) => mask[i] === 1);
    expect(tok.decode(trained)).toBe('<answer>yes</answer><eos>');
    expect(trained.at(-1)).toBe(tok.eosId);
    expect(tok.decode(Array.from(answer.input(neg!).tokens).filter((_, i) => answer.input(neg!).lossMask![i] === 1))).toBe('<answer>no</answer><eos>');

    const reasoning = new SftTrainer({ model, tokenizer: tok, tasks: [brightTask], train: [pos!], config: { target: 'reasoning' } });
    const y = reasoning.input(neg!);
    expect(tok.decode(Array.from(y.tokens).filter((_, i) => y.lossMask![i] === 1))).toBe('<think>Checking bright.</think><answer>no</answer><eos>');
    const custom = new SftTrainer({ model, tokenizer: tok, tasks: [brightTask], train: [pos!], config: { target: 'reasoning' }, reasoning: (ex) => `mean ${ex.id}` });
    const z = custom.input(pos!);
    expect(tok.decode(Array.from(z.tokens).filter((_, i) => z.lossMask![i] === 1))).toBe(`<think>mean ${pos!.id}</think><answer>yes</answer><eos>`);
    for (const t of [answer, reasoning, custom]) t.optimizer.dispose();
    model.dispose();
  });
});

describe('SFT training', () => {
  it('the step loss is the mean NLL of the target tokens; loss falls and held-out accuracy rises on a fixed dataset', async () => {
    const model = fresh(2);
    const train = brightExamples(16, 21);
    const val = brightExamples(32, 99);
    const trainer = new SftTrainer({ model, tokenizer: tok, tasks: [brightTask], train, config: { maxSteps: 60, batchSize: 16, learningRate: 1e-2, seed: 1 } });
    // Every step covers the whole dataset, so the first step's loss is the dataset's mean target NLL.
    const all = model.batch(train.map((ex) => trainer.input(ex)));
    const nll0 = model.nll(all);
    const before = evaluateJudge(model, tok, [brightTask], val, { maxNewTokens: 6 }).bright!;
    const steps: SftStepMetrics[] = [];
    for (let i = 0; i < 60; i++) steps.push(trainer.trainStep());
    const nll1 = model.nll(all);
    disposeBatch(all);
    const after = evaluateJudge(model, tok, [brightTask], val, { maxNewTokens: 6 }).bright!;
    const targetTokens = train.reduce((s, ex) => s + tok.encode(brightTask.targetText(ex.label)).length + 1, 0);
    console.log(
      `SFT: target NLL ${nll0.loss.toFixed(3)} → ${nll1.loss.toFixed(4)} in 60 steps; held-out accuracy ${before.accuracy.toFixed(2)} → ${after.accuracy.toFixed(2)}`,
    );
    expect(steps[0]!.tokens).toBe(targetTokens);
    expect(nll0.tokens).toBe(targetTokens);
    expect(Math.abs(steps[0]!.loss - nll0.loss), `first-step loss ${steps[0]!.loss} vs NLL ${nll0.loss}`).toBeLessThan(1e-5 * nll0.loss);
    expect(steps[0]!.perTask).toEqual({ bright: 16 });
    expect(steps.every((m) => !m.skipped)).toBe(true);
    expect(nll0.loss).toBeGreaterThan(3);
    expect(nll1.loss).toBeLessThan(0.05);
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(avg(steps.slice(-5).map((m) => m.loss))).toBeLessThan(0.1 * avg(steps.slice(0, 5).map((m) => m.loss)));
    expect(after.accuracy).toBeGreaterThanOrEqual(0.9);
    // Answer-only targets have no think block: well-formed for the lenient reader, not for the strict format.
    expect(after.formatRate).toBe(0);
    expect(after.invalidRate).toBe(0);
    trainer.optimizer.dispose();
    model.dispose();
  });

  it('mini-batch size does not change the gradient (3 vs all 12 examples per pass)', () => {
    const grads: Map<string, Float32Array>[] = [];
    for (const miniBatchSize of [3, 64]) {
      const model = fresh(3);
      const t = new SftTrainer({
        model,
        tokenizer: tok,
        tasks: [brightTask, brighterTask],
        train: [...brightExamples(8, 22), ...brighterExamples(4, 23)],
        config: { batchSize: 12, miniBatchSize, maxGradNorm: 0, target: 'reasoning', seed: 2 },
      });
      const step = t.optimizer.step.bind(t.optimizer);
      t.optimizer.step = () => {
        grads.push(gradSnapshot(model));
        return step();
      };
      const m = t.trainStep();
      expect(m.perTask).toEqual({ bright: 8, brighter: 4 });
      t.optimizer.dispose();
      model.dispose();
    }
    let scale = 0;
    for (const g of grads[1]!.values()) for (const v of g) scale = Math.max(scale, Math.abs(v));
    const e = maxScaledError(grads[0]!, grads[1]!, 1e-5 * scale, 1e-3);
    console.log(`SFT mini-batching: max |Δg| ${e.maxAbs.toExponential(2)} (max |g| ${scale.toExponential(2)})`);
    expect(e.ratio, `at ${e.where}`).toBeLessThanOrEqual(1);
  });

  it('a non-finite gradient skips the step and reports it; parameters and optimizer untouched', () => {
    const model = fresh(4);
    const t = new SftTrainer({ model, tokenizer: tok, tasks: [brightTask], train: brightExamples(8, 24), config: { batchSize: 8, miniBatchSize: 3 } });
    const before = snapshot(model);
    const backward = model.backward.bind(model);
    model.backward = (dh, dw) => {
      backward(dh, dw);
      (model.parameters()[2]!.grad.data as Float32Array)[1] = Infinity;
    };
    const m = t.trainStep();
    expect(m.skipped).toBe(true);
    expect(m.skipReason).toMatch(/non-finite gradient norm/);
    expect(Number.isNaN(m.loss)).toBe(true);
    expect(t.optimizer.steps).toBe(0);
    expect(firstDifference(snapshot(model), before)).toBeUndefined();
    model.backward = backward;
    expect(t.trainStep().skipped).toBe(false);
    expect(t.optimizer.steps).toBe(1);
    expect(firstDifference(snapshot(model), before)).toBeDefined();
    t.optimizer.dispose();
    model.dispose();
  });
});

describe('SFT resume', () => {
  const config: Partial<SftConfig> = {
    maxSteps: 6,
    batchSize: 5,
    miniBatchSize: 2,
    learningRate: 5e-3,
    lrScheduler: 'cosine',
    warmupSteps: 2,
    weightDecay: 0.01,
    strategy: 'uniform',
    evalEvery: 2,
    earlyStoppingPatience: 5,
    maxCompletionLength: 6,
    seed: 7,
  };
  const opts = (model: JudgeModel) => ({
    model,
    tokenizer: tok,
    tasks: [brightTask, brighterTask],
    train: [...brightExamples(12, 25), ...brighterExamples(5, 26)],
    validation: [...brightExamples(4, 27), ...brighterExamples(2, 28)],
    config,
  });

  it('training interrupted by a checkpoint and resumed in fresh objects equals uninterrupted training (bit-identical weights)', async () => {
    const modelA = fresh(5);
    const a = new SftTrainer(opts(modelA));
    await a.train();

    const modelB = fresh(5);
    const b = new SftTrainer(opts(modelB));
    for (let i = 0; i < 3; i++) b.trainStep();
    const dir = path.join(tmp, 'sft-ck');
    saveCheckpoint(dir, { model: modelB, tokenizer: tok, optimizer: b.optimizer, trainerState: b.state() });
    b.optimizer.dispose();
    modelB.dispose();

    const ck = loadCheckpoint(dir);
    const c = new SftTrainer(opts(ck.model));
    ck.restoreOptimizer(c.optimizer);
    c.restore(ck.trainerState as SftTrainerState);
    expect(c.step).toBe(3);
    await c.train();
    expect(c.step).toBe(6);
    expect(firstDifference(snapshot(modelA), snapshot(ck.model)), 'first weight that differs').toBeUndefined();
    const strip = (r: Record<string, unknown>) => {
      const { seconds: _s, tokensPerSecond: _t, ...rest } = r;
      return rest;
    };
    expect(c.log.records.filter((r) => r.type === 'train').map(strip)).toEqual(a.log.records.filter((r) => r.type === 'train' && (r.step as number) > 3).map(strip));
    // The eval at step 4 and 6 happened in both; the one at step 2 only in the uninterrupted run.
    expect(c.log.records.filter((r) => r.type === 'eval').map((r) => r.step)).toEqual([4, 6]);
    expect(c.state().scheduler).toEqual(a.state().scheduler);
    a.optimizer.dispose();
    c.optimizer.dispose();
    modelA.dispose();
    ck.model.dispose();
  });
});

describe('EarlyStopping', () => {
  it('tracks the best score on a scripted stream (minDelta), stops after `patience` bad evaluations, and round-trips through JSON', () => {
    const es = new EarlyStopping(2, 0.01);
    expect(JSON.parse(JSON.stringify(es.snapshot()))).toEqual({ best: null, bestStep: -1, badEvals: 0 });
    const fresh2 = new EarlyStopping(2, 0.01);
    fresh2.load(JSON.parse(JSON.stringify(es.snapshot())) as EarlyStoppingSnapshot);
    expect(fresh2.state.best).toBe(-Infinity);
    expect([0.5, 0.505, 0.6, NaN, 0.6].map((s, i) => es.update(s, i + 1))).toEqual([true, false, true, false, false]);
    expect(es.shouldStop).toBe(true);
    expect(es.state).toEqual({ best: 0.6, bestStep: 3, badEvals: 2 });
    const back = new EarlyStopping(2, 0.01);
    back.load(JSON.parse(JSON.stringify(es.snapshot())) as EarlyStoppingSnapshot);
    expect(back.state).toEqual(es.state);
    expect(new EarlyStopping(0).shouldStop).toBe(false);
    expect(() => back.load({ best: 0.5, bestStep: 1.5, badEvals: 0 })).toThrow(/bestStep/);
    expect(() => new EarlyStopping(-1)).toThrow(RangeError);
  });
});

describe('SFT early stopping and configuration', () => {
  it('stops after `patience` evaluations without improvement and calls onBest once, for the best step', async () => {
    const model = fresh(6);
    const best: number[] = [];
    const t = new SftTrainer({
      model,
      tokenizer: tok,
      tasks: [brightTask],
      train: brightExamples(8, 29),
      validation: brightExamples(6, 30),
      config: { maxSteps: 50, batchSize: 4, learningRate: 0, evalEvery: 2, earlyStoppingPatience: 3, maxCompletionLength: 4 },
      onBest: (step) => {
        best.push(step);
      },
    });
    const r = await t.train();
    expect(r).toMatchObject({ steps: 8, stoppedEarly: true, bestStep: 2 });
    expect(best).toEqual([2]);
    expect(t.state().earlyStopping).toMatchObject({ bestStep: 2, badEvals: 3 });
    t.optimizer.dispose();
    model.dispose();
  });

  it('rejects bad configs with errors naming the field', () => {
    const model = fresh(7);
    const base = { model, tokenizer: tok, tasks: [brightTask], train: brightExamples(2, 31) };
    expect(() => new SftTrainer({ ...base, config: { batchsize: 3 } as unknown as Partial<SftConfig> })).toThrow(/unknown config field "batchsize"/);
    expect(() => new SftTrainer({ ...base, config: { batchSize: 0 } })).toThrow(/config.batchSize must be an integer ≥ 1/);
    expect(() => new SftTrainer({ ...base, config: { target: 'full' as 'answer' } })).toThrow(/config.target/);
    expect(() => new SftTrainer({ ...base, config: { maxGradNorm: -1 } })).toThrow(/config.maxGradNorm/);
    expect(() => new SftTrainer({ ...base, config: { adamBeta2: 1 } })).toThrow(/config.adamBeta2/);
    expect(() => new SftTrainer({ ...base, config: { strategy: 'random' as 'uniform' } })).toThrow(/config.strategy/);
    expect(() => new SftTrainer({ ...base, train: [] })).toThrow(/at least one example/);
    expect(() => new SftTrainer({ ...base, tasks: [] })).toThrow(TypeError);
    model.dispose();
  });
});
