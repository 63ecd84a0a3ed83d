// evaluateJudge on hand-checkable cases. A scripted judge (an object with the model's `generate`
// that answers from a table keyed by the example's image) pins every number of the per-task tables:
// accuracy, macro-F1 with an invalid verdict, format rate, invalid rate (outputs read exactly as the
// accuracy and format rewards read them), pairwise position
// consistency with swapped pairs (a judge that always says "A" vs one that picks the brighter image),
// majority voting and self-consistency with k samples, score tolerance, Spearman against rater
// means, batching and progress. A real tiny model trained to always answer "yes" then gets
// accuracy = fraction of positives and macro-F1 = k / (n + k).
import { describe, expect, it } from 'vitest';
import type { JudgeExample, RgbImage } from '../lib/data/types.js';
import { evaluateJudge } from '../lib/judging/evaluate.js';
import type { JudgeInput } from '../lib/model/batch.js';
import type { GenerateOptions } from '../lib/model/generate.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import { RewardModel } from '../lib/rewards/model.js';
import { SftTrainer } from '../lib/rl/sft-trainer.js';
import { createTask } from '../lib/tasks/task.js';
import { brighterExamples, brighterTask, brightExamples, brightTask, toyConfig, toyTokenizer } from './grpo-fixtures.js';

const tok = toyTokenizer();

interface Call {
  prompts: number;
  opts: GenerateOptions;
}

/**
 * A judge that answers `answer(images, sample)` for each prompt: the images are the example's own
 * objects (promptInput passes them through), so a test can key its script on them. Records the calls.
 */
function scriptedJudge(answer: (images: readonly RgbImage[], sample: number) => string): { model: JudgeModel; calls: Call[] } {
  const calls: Call[] = [];
  const model = {
    generate(prompts: readonly JudgeInput[], opts: GenerateOptions) {
      calls.push({ prompts: prompts.length, opts });
      const G = opts.numGenerations ?? 1;
      const rows: number[][] = [];
      for (const p of prompts) for (let g = 0; g < G; g++) rows.push([...tok.encode(answer(p.images, g)), tok.eosId].slice(0, opts.maxNewTokens));
      return { rows: rows.length, completion: (n: number) => rows[n]! };
    },
  };
  return { model: model as unknown as JudgeModel, calls };
}

const mean = (img: RgbImage) => img.data.reduce((a, b) => a + b, 0) / img.data.length;
const wrap = (v: string) => `<think>look</think><answer>${v}</answer>`;

describe('evaluateJudge: binary tables', () => {
  // Labels: 4 positives then 6 negatives.
  const examples: JudgeExample[] = brightExamples(10, 60).map((ex, i) => ({ ...ex, label: i < 4 ? 1 : 0 }));
  const outputs = [
    wrap('yes'), // pos, right
    wrap('no'), // pos, wrong
    'yes', // pos, right (bare reply: lenient verdict, not well-formed)
    '<answer>maybe</answer>', // pos, no verdict (invalid), not well-formed
    '<think></think><answer>no</answer>', // neg, right
    wrap('yes'), // neg, wrong
    wrap('No.'), // neg, right ×4 (normalised verdict)
    wrap('No.'),
    wrap('No.'),
    wrap('No.'),
  ];
  const byImage = new Map(examples.map((ex, i) => [ex.images[0]!, outputs[i]!]));

  it('accuracy, macro-F1 (invalid = miss), format rate and invalid rate match the hand count', () => {
    const { model, calls } = scriptedJudge((imgs) => byImage.get(imgs[0]!)!);
    const progress: Array<[number, number]> = [];
    const ev = evaluateJudge(model, tok, [brightTask], examples, { batchSize: 3, maxNewTokens: 20, keepOutputs: 3, onProgress: (d, t) => progress.push([d, t]) }).bright!;
    expect(ev.n).toBe(10);
    expect(ev.accuracy).toBeCloseTo(7 / 10, 12);
    // yes: P = 2/3 (ex0, ex2 of ex0, ex2, ex5), R = 2/4 → F1 = 4/7; no: P = 5/6, R = 5/6 → F1 = 5/6.
    expect(ev.macroF1).toBeCloseTo((4 / 7 + 5 / 6) / 2, 12);
    expect(ev.formatRate).toBeCloseTo(8 / 10, 12);
    expect(ev.invalidRate).toBeCloseTo(1 / 10, 12);
    expect(ev.selfConsistency).toBeUndefined();
    expect(ev.positionConsistentAccuracy).toBeUndefined();
    expect(ev.examples.map((e) => [e.verdict, e.correct, e.formatOk])).toEqual([
      [1, true, true],
      [0, false, true],
      [1, true, false],
    ]);
    expect(ev.examples[0]!.output).toBe(wrap('yes'));
    // Batches of 3: 4 calls, greedy, one judgment per example; progress reaches the total.
    expect(calls.map((c) => c.prompts)).toEqual([3, 3, 3, 1]);
    expect(calls.every((c) => c.opts.temperature === 0 && c.opts.numGenerations === 1 && c.opts.eosId === tok.eosId)).toBe(true);
    expect(progress).toEqual([
      [3, 10],
      [6, 10],
      [9, 10],
      [10, 10],
    ]);
    // Batching does not change the table.
    const all = evaluateJudge(scriptedJudge((imgs) => byImage.get(imgs[0]!)!).model, tok, [brightTask], examples, { maxNewTokens: 20, keepOutputs: 3 }).bright!;
    expect(all).toEqual(ev);
  });

  it('reads every output exactly as the accuracy and format rewards do', async () => {
    const texts = [
      wrap('Yes, it is bright.'), // lenient verdict yes; not exactly one verdict → format 0
      '<think>x</think><answer>yes</answer> trailing', // lenient yes; trailing text → format 0
      wrap('yes') + wrap('no'), // two different answers: no verdict
      '<THINK>x</THINK><ANSWER>no</ANSWER>', // tags in the wrong case: read leniently only
      'Answer: no',
      wrap(''),
      wrap('yes'),
      wrap('no'),
    ];
    const exs = brightExamples(texts.length, 66);
    const byImg = new Map(exs.map((ex, i) => [ex.images[0]!, texts[i]!]));
    const ev = evaluateJudge(scriptedJudge((imgs) => byImg.get(imgs[0]!)!).model, tok, [brightTask], exs, { maxNewTokens: 40, keepOutputs: 100 }).bright!;
    const rewards = await new RewardModel({ components: [{ name: 'accuracy' }, { name: 'format' }] }).score(
      exs.map((ex, i) => ({ completion: texts[i]!, example: ex, task: brightTask })),
    );
    expect(ev.examples.map((e) => e.output)).toEqual(texts);
    expect(ev.examples.map((e) => (e.correct ? 1 : 0))).toEqual(rewards.components.accuracy);
    expect(ev.examples.map((e) => (e.formatOk ? 1 : 0))).toEqual(rewards.components.format);
    expect(ev.accuracy).toBeCloseTo(rewards.summary.accuracy!.mean, 12);
    expect(ev.formatRate).toBeCloseTo(rewards.summary.format!.mean, 12);
  });

  it('k samples: majority vote (nulls do not vote) and self-consistency', () => {
    const two = examples.slice(0, 2).map((ex, i) => ({ ...ex, label: 1 - i })); // labels 1, 0
    const script = new Map([
      [two[0]!.images[0]!, [wrap('yes'), wrap('no'), wrap('yes')]],
      [two[1]!.images[0]!, ['maybe', 'maybe', wrap('no')]],
    ]);
    const { model, calls } = scriptedJudge((imgs, g) => script.get(imgs[0]!)![g]!);
    const ev = evaluateJudge(model, tok, [brightTask], two, { samples: 3, temperature: 0.7, seed: 5, maxNewTokens: 20 }).bright!;
    expect(ev.accuracy).toBe(1);
    expect(ev.selfConsistency).toBeCloseTo((2 / 3 + 1 / 3) / 2, 12);
    expect(ev.formatRate).toBeCloseTo((1 + 1 / 3) / 2, 12);
    expect(calls[0]!.opts).toMatchObject({ numGenerations: 3, temperature: 0.7, seed: 5 });
  });

  it('Spearman of the verdict against the rater mean; score tasks count accuracy within the tolerance', () => {
    const graded = examples.slice(0, 4).map((ex, i) => ({ ...ex, score: [1, 2, 4, 5][i]! }));
    const answers = new Map(graded.map((ex, i) => [ex.images[0]!, wrap(i < 2 ? 'no' : 'yes')]));
    const ev = evaluateJudge(scriptedJudge((imgs) => answers.get(imgs[0]!)!).model, tok, [brightTask], graded, { maxNewTokens: 20 }).bright!;
    // Ranks: verdicts (1.5, 1.5, 3.5, 3.5) vs scores (1, 2, 3, 4) → 4 / √20.
    expect(ev.spearman).toBeCloseTo(4 / Math.sqrt(20), 12);

    const grade = createTask({ name: 'grade', format: 'score', question: 'Grade?', scoreRange: [1, 5], scoreTolerance: 1 });
    const items: JudgeExample[] = examples.slice(0, 3).map((ex, i) => ({ ...ex, task: 'grade', format: 'score', label: 3 + i })); // 3, 4, 5
    const say = new Map(items.map((ex, i) => [ex.images[0]!, wrap(['4', '2', '5'][i]!)]));
    const g = evaluateJudge(scriptedJudge((imgs) => say.get(imgs[0]!)!).model, tok, [grade], items, { maxNewTokens: 20 }).grade!;
    // |4−3| ≤ 1 right, |2−4| > 1 wrong, 5 = 5 right.
    expect(g.accuracy).toBeCloseTo(2 / 3, 12);
  });
});

describe('evaluateJudge: pairwise position consistency', () => {
  const pairs = brighterExamples(6, 61); // labels 0, 1, 0, 1, 0, 1

  it('a judge that always answers "A": accuracy 1/2, never right in both orders, every choice flips', () => {
    const { model, calls } = scriptedJudge(() => wrap('A'));
    const ev = evaluateJudge(model, tok, [brighterTask], pairs, { maxNewTokens: 20 }).brighter!;
    expect(ev.accuracy).toBe(0.5);
    expect(ev.positionConsistentAccuracy).toBe(0);
    expect(ev.positionConsistency).toBe(0);
    expect(ev.flipRate).toBe(1);
    // Both orders were judged: 12 prompts.
    expect(calls.reduce((s, c) => s + c.prompts, 0)).toBe(12);
  });

  it('a judge that picks the brighter image: right in both orders, no flips; swapPairs false judges each pair once', () => {
    const brighter = (imgs: readonly RgbImage[]) => wrap(mean(imgs[0]!) > mean(imgs[1]!) ? 'A' : 'B');
    const ev = evaluateJudge(scriptedJudge(brighter).model, tok, [brighterTask], pairs, { maxNewTokens: 20 }).brighter!;
    expect(ev).toMatchObject({ accuracy: 1, macroF1: 1, positionConsistentAccuracy: 1, positionConsistency: 1, flipRate: 0, formatRate: 1 });
    const { model, calls } = scriptedJudge(brighter);
    const once = evaluateJudge(model, tok, [brighterTask], pairs, { maxNewTokens: 20, swapPairs: false }).brighter!;
    expect(once.positionConsistentAccuracy).toBeUndefined();
    expect(once.accuracy).toBe(1);
    expect(calls.reduce((s, c) => s + c.prompts, 0)).toBe(6);
  });

  it('mixed task sets give one table per task, in order of first appearance', () => {
    const mixed = [...brightExamples(2, 62), ...pairs.slice(0, 2)];
    const ev = evaluateJudge(scriptedJudge(() => wrap('yes')).model, tok, [brighterTask, brightTask], mixed, { maxNewTokens: 20 });
    expect(Object.keys(ev)).toEqual(['bright', 'brighter']);
    expect(ev.bright!.n).toBe(2);
    expect(ev.brighter!.invalidRate).toBe(1);
  });
});

describe('evaluateJudge: a real model trained to always answer "yes"', () => {
  it('gets accuracy = fraction of positives, macro-F1 = k/(n+k), format rate 1', async () => {
    const model = new JudgeModel(toyConfig(tok), { seed: 3 });
    const sft = new SftTrainer({
      model,
      tokenizer: tok,
      tasks: [brightTask],
      train: brightExamples(16, 63, () => 1),
      config: { maxSteps: 30, batchSize: 8, learningRate: 1e-2, target: 'reasoning' },
      reasoning: () => '',
    });
    await sft.train();
    const n = 10;
    const k = 3;
    const val = brightExamples(n, 64, (i) => (i < k ? 1 : 0));
    const ev = evaluateJudge(model, tok, [brightTask], val, { maxNewTokens: 8 }).bright!;
    console.log(`always-yes model: outputs ${JSON.stringify(ev.examples[0]!.output)}; accuracy ${ev.accuracy}, macro-F1 ${ev.macroF1.toFixed(4)}`);
    expect(ev.examples.every((e) => e.output === '<think></think><answer>yes</answer>')).toBe(true);
    expect(ev.accuracy).toBeCloseTo(k / n, 12);
    expect(ev.macroF1).toBeCloseTo(k / (n + k), 12);
    expect(ev.formatRate).toBe(1);
    expect(ev.invalidRate).toBe(0);
    sft.optimizer.dispose();
    model.dispose();
  });
});

describe('evaluateJudge: bad input', () => {
  const { model } = scriptedJudge(() => wrap('yes'));
  const ex = brightExamples(2, 65);
  it('names the argument and what was expected', () => {
    expect(() => evaluateJudge(model, tok, [brightTask], [{ ...ex[0]!, task: 'other' }])).toThrow(/task "other", which is not among the tasks given \(bright\)/);
    expect(() => evaluateJudge(model, tok, [brightTask], ex, { samples: 2 })).toThrow(/samples > 1 needs temperature > 0/);
    expect(() => evaluateJudge(model, tok, [brightTask], ex, { batchSize: 0 })).toThrow(/batchSize must be an integer ≥ 1/);
    expect(() => evaluateJudge(model, tok, [brightTask], ex, { temperature: -1 })).toThrow(/temperature/);
    expect(() => evaluateJudge(model, tok, [brighterTask], [{ ...ex[0]!, task: 'brighter', format: 'pairwise' }])).toThrow(/takes 2 image/);
    expect(() => evaluateJudge({} as JudgeModel, tok, [brightTask], ex)).toThrow(TypeError);
    // Explicitly undefined options fall back to the defaults.
    expect(evaluateJudge(model, tok, [brightTask], ex, { batchSize: undefined, maxNewTokens: undefined }).bright!.n).toBe(2);
    expect(evaluateJudge(model, tok, [brightTask], [])).toEqual({});
  });
});
