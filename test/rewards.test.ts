// Tests for the output parser and the reward logic on hand-written judge outputs: well-formed, missing
// tags, two answers, trailing text, synonyms; the composite against its formula; pairwise, score,
// position-consistency and length rewards; custom (sync/async) rewards, weights, gates and nulls.
import { describe, expect, it } from 'vitest';
import type { JudgeExample } from '../lib/data/types.js';
import {
  RewardModel,
  accuracyReward,
  combineRewards,
  componentFromSpec,
  compositeReward,
  formatReward,
  lengthLimitReward,
  makeRewardContext,
  pairwiseReward,
  parseJudgeOutput,
  positionConsistencyReward,
  scoreClosenessReward,
  type RewardInput,
} from '../lib/rewards/index.js';
import { TaskRegistry, createTask, paperRewards, swapPair } from '../lib/tasks/index.js';

const reg = new TaskRegistry();
const nat = reg.get('naturalness');
const pair = reg.get('pair-alignment');
const scoreTask = createTask({ name: 'score5', format: 'score', question: 'Rate it.', scoreRange: [1, 5], scoreTolerance: 0 });

const ex = (label: number, format: JudgeExample['format'] = 'binary', task = 'naturalness'): JudgeExample => ({ id: `e${label}`, task, format, images: [], label });
const input = (completion: string, label = 1, extra: Partial<RewardInput> = {}): RewardInput => ({ completion, example: ex(label), task: nat, ...extra });
const run = (fn: (c: ReturnType<typeof makeRewardContext>) => unknown, i: RewardInput) => fn(makeRewardContext(i));

describe('parseJudgeOutput (strict)', () => {
  const strict = (s: string) => parseJudgeOutput(s, { mode: 'strict' });

  it('accepts the well-formed shape, with whitespace around blocks', () => {
    const p = strict('<think>The shading is smooth.</think><answer>yes</answer>');
    expect(p).toEqual({ mode: 'strict', ok: true, think: 'The shading is smooth.', answer: 'yes', answerCount: 1, issues: [] });
    const q = strict('\n <think>\n a\n b \n</think>\n\n<answer> No. </answer>\n');
    expect(q.ok).toBe(true);
    expect(q.think).toBe('a\n b');
    expect(q.answer).toBe('No.');
    expect(strict('<think></think><answer>yes</answer>').ok).toBe(true); // empty reasoning allowed by default
    expect(parseJudgeOutput('<think> </think><answer>yes</answer>', { requireReasoning: true }).issues).toEqual(['empty reasoning']);
  });

  const cases: Array<[string, string, RegExp]> = [
    ['missing think', '<answer>yes</answer>', /missing <think> block/],
    ['missing answer', '<think>hmm</think> yes', /missing <answer> block/],
    ['no tags at all', 'yes', /missing <think> block/],
    ['two answers', '<think>a</think><answer>yes</answer><answer>yes</answer>', /expected one <answer> block, found 2/],
    ['two thinks', '<think>a</think><think>b</think><answer>no</answer>', /expected one <think> block/],
    ['trailing text', '<think>a</think><answer>yes</answer> I am sure.', /text after <\/answer>/],
    ['leading text', 'Sure! <think>a</think><answer>yes</answer>', /text before <think>/],
    ['text between', '<think>a</think> so <answer>yes</answer>', /text between <\/think> and <answer>/],
    ['answer before think', '<answer>yes</answer><think>a</think>', /out of order/],
    ['nested', '<think>a <answer>yes</answer></think><answer>yes</answer>', /expected one <answer> block/],
    ['unclosed answer', '<think>a</think><answer>yes', /unclosed or unopened <answer>/],
    ['empty answer', '<think>a</think><answer>  </answer>', /empty answer/],
    ['upper-case tags', '<THINK>a</THINK><Answer>yes</Answer>', /lower case/],
  ];
  for (const [name, text, re] of cases) {
    it(`rejects: ${name}`, () => {
      const p = strict(text);
      expect(p.ok).toBe(false);
      expect(p.answer).toBeNull();
      expect(p.issues.join('; ')).toMatch(re);
    });
  }

  it('rejects a non-string and a bad mode', () => {
    expect(() => parseJudgeOutput(undefined as unknown as string)).toThrow(/parseJudgeOutput: text: expected a string, got undefined/);
    expect(() => parseJudgeOutput('x', { mode: 'loose' as 'strict' })).toThrow(/opts\.mode: expected "strict" or "lenient"/);
  });
});

describe('parseJudgeOutput (lenient)', () => {
  const len = (s: string) => parseJudgeOutput(s, { mode: 'lenient' });

  it('reads the answer despite format problems', () => {
    expect(len('<think>a</think><answer>yes</answer>')).toMatchObject({ ok: true, think: 'a', answer: 'yes', issues: [] });
    expect(len('<answer>yes</answer>')).toMatchObject({ ok: true, think: null, answer: 'yes' });
    expect(len('<think>a</think><answer>yes</answer> I am sure.')).toMatchObject({ answer: 'yes', issues: ['text after </answer> (ignored)'] });
    expect(len('<THINK>a</THINK><ANSWER>No</ANSWER>').answer).toBe('No');
    expect(len('<think>long reasoning cut off</think><answer>yes').answer).toBe('yes'); // truncated at the length limit
    expect(len('<think>a</think><answer>Yes</answer><answer>yes.</answer>')).toMatchObject({ answer: 'yes.', answerCount: 2 });
  });

  it('refuses two answers that disagree (a hedging judge earns nothing)', () => {
    const p = len('<think>a</think><answer>yes</answer><answer>no</answer>');
    expect(p.ok).toBe(false);
    expect(p.answer).toBeNull();
    expect(p.issues).toContain('2 answer blocks that disagree');
  });

  it('falls back to an "Answer:" line or a short bare reply', () => {
    expect(len('The image looks fine.\nAnswer: yes').answer).toBe('yes');
    expect(len('<think>smooth</think> Final answer: No.').answer).toBe('No.');
    expect(len('Yes.').answer).toBe('Yes.');
    expect(len('<think>smooth</think> yes').answer).toBe('yes');
    expect(len('I think that this image is natural because the colours are smooth').answer).toBeNull();
    expect(len('<think>never closed and no answer').answer).toBeNull();
    expect(len('<think>never closed. Answer: no').answer).toBe('no');
    expect(len('<think>the answer: yes, surely</think> No.').answer).toBe('No.'); // not read from inside the reasoning
    expect(len('<think>a</think><answer></answer>').answer).toBeNull();
  });
});

describe('format and accuracy rewards', () => {
  const fmt = formatReward();
  const acc = accuracyReward();
  const accStrict = accuracyReward({ parse: 'strict' });

  const table: Array<[string, number, number, number, number]> = [
    // completion, label, format, accuracy (lenient), accuracy (strict)
    ['<think>smooth</think><answer>yes</answer>', 1, 1, 1, 1],
    ['<think>smooth</think><answer>Yes.</answer>', 1, 1, 1, 1],
    ['<think>smooth</think><answer>TRUE</answer>', 1, 1, 1, 1],
    ['<think>banding</think><answer>no</answer>', 1, 1, 0, 0],
    ['<answer>yes</answer>', 1, 0, 1, 0],
    ['<think>a</think><answer>yes</answer> trailing', 1, 0, 1, 0],
    ['<think>a</think><answer>yes</answer><answer>no</answer>', 1, 0, 0, 0],
    ['<think>a</think><answer>Yes, it is natural</answer>', 1, 0, 1, 0], // not exactly one verdict
    ['<think>a</think><answer>maybe</answer>', 0, 0, 0, 0],
    ['no', 0, 0, 1, 0],
    ['', 0, 0, 0, 0],
  ];
  for (const [c, label, f, a, as] of table) {
    it(`${JSON.stringify(c)} → format ${f}, accuracy ${a}/${as}`, () => {
      expect(run(fmt, input(c, label))).toBe(f);
      expect(run(acc, input(c, label))).toBe(a);
      expect(run(accStrict, input(c, label))).toBe(as);
    });
  }

  it('format can ignore the verdict vocabulary', () => {
    expect(run(formatReward({ requireVerdict: false }), input('<think>a</think><answer>maybe</answer>'))).toBe(1);
  });

  it('the composite equals (1 − α)·acc + α·format for every case and α', () => {
    for (const alpha of [0, 0.1, 0.25, 0.5, 1]) {
      const comp = compositeReward({ alpha });
      for (const [c, label, f, a] of table) {
        expect(run(comp, input(c, label))).toBe((1 - alpha) * a + alpha * f);
      }
    }
    expect(run(compositeReward(), input('<answer>yes</answer>', 1))).toBeCloseTo(0.9, 15); // α defaults to 0.1
    expect(() => compositeReward({ alpha: 1.5 })).toThrow(/alpha: expected a number in \[0, 1\]/);
  });

  it("the paper's two-component model gives the same totals and logs each component", async () => {
    const inputs = table.map(([c, label]) => input(c, label));
    const batch = await new RewardModel({ components: paperRewards(0.1) }).score(inputs);
    expect(batch.names).toEqual(['accuracy', 'format']);
    table.forEach(([, , f, a], i) => {
      expect(batch.components.format![i]).toBe(f);
      expect(batch.components.accuracy![i]).toBe(a);
      expect(batch.totals[i]).toBeCloseTo(0.9 * a + 0.1 * f, 15);
    });
    const meanAcc = table.reduce((s, r) => s + r[3], 0) / table.length;
    expect(batch.summary.accuracy).toEqual({ mean: meanAcc, count: table.length });
    // By default each task's own reward specs apply (built-ins use the paper's composite).
    const byTask = new RewardModel().scoreSync(inputs);
    expect(byTask.totals).toEqual(batch.totals);
  });
});

describe('pairwise, score and position-consistency rewards', () => {
  const pairEx: JudgeExample = { id: 'p', task: 'pair-alignment', format: 'pairwise', images: [], label: 1, prompt: 'x' };

  it('pairwise verdict: synonyms, and null on non-pairwise tasks', () => {
    const r = pairwiseReward();
    expect(run(r, { completion: '<think>a</think><answer>Image B</answer>', example: pairEx, task: pair })).toBe(1);
    expect(run(r, { completion: '<think>a</think><answer>second</answer>', example: pairEx, task: pair })).toBe(1);
    expect(run(r, { completion: '<think>a</think><answer>A</answer>', example: pairEx, task: pair })).toBe(0);
    expect(run(r, input('<think>a</think><answer>yes</answer>'))).toBeNull();
  });

  it('score closeness: linear and step shapes by hand', () => {
    const sEx = { ...ex(4, 'score', 'score5') };
    const at = (answer: string, opts: Parameters<typeof scoreClosenessReward>[0] = {}) =>
      run(scoreClosenessReward(opts), { completion: `<think>a</think><answer>${answer}</answer>`, example: sEx, task: scoreTask });
    expect(at('4')).toBe(1);
    expect(at('3')).toBe(0.75); // 1 − 1/4 (span = 5 − 1)
    expect(at('1')).toBe(0.25);
    expect(at('5', { tolerance: 1 })).toBe(1);
    expect(at('2', { tolerance: 1 })).toBe(0.75); // 1 − (2 − 1)/4
    expect(at('2', { tolerance: 0.5, span: 2 })).toBe(0.25); // 1 − 1.5/2
    expect(at('1', { span: 2 })).toBe(0);
    expect(at('3', { shape: 'step' })).toBe(0);
    expect(at('3.5', { tolerance: 0.5, shape: 'step' })).toBe(1);
    expect(at('nine')).toBe(0);
    expect(run(scoreClosenessReward(), input('<think>a</think><answer>yes</answer>'))).toBeNull();
    expect(() => scoreClosenessReward({ shape: 'cubic' as 'step' })).toThrow(/shape: expected "linear" or "step"/);
  });

  it('position consistency (J1): 1 only when right in both orders', () => {
    const r = positionConsistencyReward();
    const sw = swapPair({ ...pairEx, images: [{ width: 1, height: 1, data: new Uint8Array(3) }, { width: 1, height: 1, data: new Uint8Array(3) }] });
    const mk = (mine: string, theirs: string) => ({
      completion: `<think>a</think><answer>${mine}</answer>`,
      example: pairEx,
      task: pair,
      counterpart: { completion: `<think>b</think><answer>${theirs}</answer>`, example: sw },
    });
    // pairEx: B (label 1) is better; swapped, the same image is A (label 0).
    expect(run(r, mk('B', 'A'))).toBe(1);
    expect(run(r, mk('B', 'B'))).toBe(0); // position bias: always "B"
    expect(run(r, mk('A', 'A'))).toBe(0);
    expect(run(r, mk('B', 'unsure'))).toBe(0);
    expect(run(r, { completion: '<answer>B</answer>', example: pairEx, task: pair })).toBeNull(); // no counterpart
    expect(run(r, input('<answer>yes</answer>'))).toBeNull();
  });
});

describe('RewardModel: weights, gates, nulls, custom and async rewards', () => {
  const good = '<think>smooth</think><answer>yes</answer>';
  const bad = '<think>smooth</think><answer>no</answer>';

  it('the length limit gates the total to 0 past the budget', async () => {
    const model = new RewardModel({ extra: [{ name: 'lengthLimit', params: { maxTokens: 10 } }] });
    const b = await model.score([input(good, 1, { numTokens: 10 }), input(good, 1, { numTokens: 11 }), input(bad, 1, { numTokens: 3 })]);
    expect(b.names).toEqual(['accuracy', 'format', 'lengthLimit']);
    expect(b.components.lengthLimit).toEqual([1, 0, 1]);
    expect(b.totals[0]).toBeCloseTo(1, 15);
    expect(b.totals[1]).toBe(0);
    expect(b.totals[2]).toBeCloseTo(0.1, 15);
    const counted = new RewardModel({ extra: [{ name: 'lengthLimit', fn: lengthLimitReward({ maxTokens: 2, countTokens: (s) => s.split(' ').length }), gate: true }] });
    expect(counted.scoreSync([input('<think>a b c</think><answer>yes</answer>')]).totals[0]).toBe(0);
    await expect(model.score([input(good)])).rejects.toThrow(/component "lengthLimit" failed on input 0: lengthLimitReward: needs input\.numTokens or the countTokens option/);
  });

  it('custom sync and async rewards with weights; each component reported', async () => {
    const calls: number[] = [];
    const model = new RewardModel({
      components: [
        { name: 'accuracy', weight: 0.9 },
        { name: 'brevity', weight: 0.5, fn: (ctx) => (ctx.completion.length < 45 ? 1 : 0) },
        {
          name: 'verifier',
          weight: 2,
          fn: async (ctx) => {
            calls.push(ctx.example.label);
            await new Promise((r) => setTimeout(r, 1));
            return ctx.example.label === 1 ? 0.25 : null; // not applicable to negatives
          },
        },
      ],
    });
    const b = await model.score([input(good, 1), input(`${bad} and more words here`, 0)]);
    expect(b.components).toEqual({ accuracy: [1, 1], brevity: [1, 0], verifier: [0.25, null] });
    expect(b.totals[0]).toBeCloseTo(0.9 * 1 + 0.5 * 1 + 2 * 0.25, 15);
    expect(b.totals[1]).toBeCloseTo(0.9, 15); // the null verifier adds nothing
    expect(b.summary.verifier).toEqual({ mean: 0.25, count: 1 });
    expect(calls.sort()).toEqual([0, 1]);
    expect(() => model.scoreSync([input(good)])).toThrow(/component "verifier" is async; use score\(\) instead/);
  });

  it('a completion with every additive component null has a null total', async () => {
    const model = new RewardModel({ components: [{ name: 'pairwise' }, { name: 'lengthLimit', params: { maxTokens: 5 } }] });
    const b = await model.score([input(good, 1, { numTokens: 2 })]);
    expect(b.components.pairwise).toEqual([null]);
    expect(b.totals).toEqual([null]);
    expect(b.totalSummary).toEqual({ mean: NaN, count: 0 });
  });

  it('a multi-task batch uses each task its own rewards; absent components are null', () => {
    const t2 = createTask({ name: 'bright', format: 'binary', question: 'Bright?', rewards: [{ name: 'accuracy', weight: 1 }] });
    const b = new RewardModel().scoreSync([input(good, 1), { completion: '<answer>yes</answer>', example: ex(1, 'binary', 'bright'), task: t2 }]);
    expect(b.components).toEqual({ accuracy: [1, 1], format: [1, null] });
    expect(b.totals[0]).toBeCloseTo(1, 15);
    expect(b.totals[1]).toBe(1);
    expect(b.byTask).toEqual({
      naturalness: { total: { mean: expect.closeTo(1, 15), count: 1 }, components: { accuracy: { mean: 1, count: 1 }, format: { mean: 1, count: 1 } } },
      bright: { total: { mean: 1, count: 1 }, components: { accuracy: { mean: 1, count: 1 } } },
    });
  });

  it('custom names in specs resolve through `custom`; combineRewards is the one-shot form', async () => {
    const b = await combineRewards([input(good)], [{ name: 'mine', weight: 3 }], { custom: { mine: () => 0.5 } });
    expect(b.totals).toEqual([1.5]);
  });

  it('bad components and values give errors that name them', async () => {
    expect(() => componentFromSpec({ name: 'acuracy' })).toThrow(/unknown reward "acuracy" \(built-in: format, accuracy, composite/);
    expect(() => componentFromSpec({ name: 'accuracy', params: { mode: 'strict' } })).toThrow(/reward "accuracy": unknown param "mode" \(known: parse\)/);
    expect(() => componentFromSpec({ name: 'lengthLimit', weight: 0.5, params: { maxTokens: 9 } })).toThrow(/reward "lengthLimit" is a gate .* it takes no weight, got 0\.5/);
    expect(componentFromSpec({ name: 'lengthLimit', gate: false, weight: 0.5, params: { maxTokens: 9 } })).toMatchObject({ gate: false, weight: 0.5 });
    expect(() => componentFromSpec({ name: 'lengthLimit', params: {} })).toThrow(/lengthLimitReward: maxTokens: expected a positive integer/);
    expect(() => new RewardModel({ components: [{ name: 'format' }, { name: 'format' }] })).toThrow(/component name "format" is used twice/);
    expect(() => new RewardModel({ components: [{ name: 'x', fn: () => 1, weight: NaN }] })).toThrow(/\("x"\)\.weight: expected a finite number/);
    const nan = new RewardModel({ components: [{ name: 'broken', fn: () => NaN }] });
    expect(() => nan.scoreSync([input(good)])).toThrow(/component "broken" returned NaN for input 0; expected a finite number or null/);
    const str = new RewardModel({ components: [{ name: 'broken', fn: async () => '1' as unknown as number }] });
    await expect(str.score([input(good)])).rejects.toThrow(/component "broken" returned string/);
    const gate = new RewardModel({ components: [{ name: 'accuracy' }, { name: 'g', fn: () => 2, gate: true }] });
    expect(() => gate.scoreSync([input(good)])).toThrow(/gate "g" returned 2 for input 0; a gate must lie in \[0, 1\]/);
    const throwing = new RewardModel({ components: [{ name: 'boom', fn: () => { throw new Error('verifier offline'); } }] });
    expect(() => throwing.scoreSync([input(good)])).toThrow(/component "boom" failed on input 0: verifier offline/);
    expect(() => new RewardModel().scoreSync([{ completion: 3, example: ex(1), task: nat } as unknown as RewardInput])).toThrow(/inputs\[0\]\.completion: expected a string/);
    expect(() => new RewardModel().scoreSync([{ completion: 'x', example: ex(1), task: {} } as unknown as RewardInput])).toThrow(/inputs\[0\]\.task: expected a Task/);
  });
});
