// The judging API for applications: Judge.load runs the model on a worker thread; many simultaneous
// evaluate() calls return exactly what sequential judging returns, and bad requests are clear errors.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateExamples } from '../lib/data/suite.js';
import type { JudgeExample } from '../lib/data/types.js';
import { JudgeEngine } from '../lib/judge/engine.js';
import { Judge } from '../lib/judge/judge.js';
import { trainBpe } from '../lib/model/bpe-train.js';
import { saveCheckpoint } from '../lib/model/checkpoint.js';
import { makeConfig, TINY_CONFIG } from '../lib/model/config.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import { TaskRegistry } from '../lib/tasks/registry.js';

const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'mtrl-judge-api-')), 'judge');
let examples: JudgeExample[] = [];
let judge: Judge;

beforeAll(async () => {
  const registry = new TaskRegistry();
  examples = [
    ...generateExamples('safety', 'test', { seed: 5, sizes: 'small', corpus: false }, 6),
    ...generateExamples('alignment', 'test', { seed: 5, sizes: 'small', corpus: false }, 6),
    ...generateExamples('pair-safety', 'test', { seed: 5, sizes: 'small', corpus: false }, 4),
  ];
  const texts = examples.map((e) => registry.get(e.task).buildPrompt(e));
  texts.push('<think>a red circle</think><answer>yes</answer>', 'no', 'safe unsafe A B');
  const tokenizer = trainBpe(texts, { vocabSize: 300 });
  const config = makeConfig(
    { ...TINY_CONFIG, visionDim: undefined, visionHeads: undefined, visionFF: undefined, dModel: 32, nLayers: 1, nHeads: 2, nKvHeads: 1, dFF: 64, maxSeqLen: 400 },
    { vocabSize: tokenizer.vocabSize, imageTokenId: tokenizer.imageId },
  );
  const model = new JudgeModel(config, { seed: 11 });
  saveCheckpoint(dir, { model, tokenizer });
  model.dispose();
  judge = await Judge.load(dir, { maxNewTokens: 8, maxBatch: 5 });
});

afterAll(async () => {
  await judge?.close();
});

describe('Judge API', () => {
  it('concurrent evaluate() calls equal sequential judging', async () => {
    const reqs = examples.map((e) => ({ task: e.task, images: e.images, ...(e.prompt ? { prompt: e.prompt } : {}) }));
    const concurrent = await Promise.all(reqs.map((r) => judge.evaluate(r)));
    const engine = JudgeEngine.load(dir, { maxNewTokens: 8 });
    const sequential = reqs.map((r) => engine.run([r])[0]!);
    engine.dispose();
    expect(concurrent.map((r) => r.raw)).toEqual(sequential.map((r) => r.raw));
    expect(concurrent.map((r) => r.verdict)).toEqual(sequential.map((r) => r.verdict));
    for (const r of concurrent) {
      expect(r.logprobs.length).toBeGreaterThan(0);
      expect(r.logprobs.every((x) => Number.isFinite(x) && x <= 0)).toBe(true);
    }
  });

  it('the event loop stays responsive while judging', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await judge.evaluateBatch(examples.slice(0, 6).map((e) => ({ task: e.task, images: e.images, ...(e.prompt ? { prompt: e.prompt } : {}) })));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });

  it('bad requests are clear errors', async () => {
    const img = examples[0]!.images[0]!;
    await expect(judge.evaluate({ task: 'nope', images: [img] })).rejects.toThrow(/task must be one of/);
    await expect(judge.evaluate({ task: 'pair-safety', images: [img] })).rejects.toThrow(/needs 2 image/);
    await expect(judge.evaluate({ task: 'safety', images: ['/does/not/exist.png'] })).rejects.toThrow(/images\[0\] could not be decoded/);
    await expect(judge.evaluate({ task: 'safety' } as never)).rejects.toThrow(/request must be/);
  });

  it('load fails with a clear error for a missing checkpoint', async () => {
    await expect(Judge.load(path.join(dir, 'missing'))).rejects.toThrow(/Judge.load/);
  });
});
