// Tests for judging tasks: the built-in suite, prompts, verdict vocabularies, SFT targets, plain-object
// registration with validation errors, and pairwise swapping.
import { describe, expect, it } from 'vitest';
import type { JudgeExample, RgbImage } from '../lib/data/types.js';
import { SAFETY_POLICY } from '../lib/data/hazard.js';
import { IN_DISTRIBUTION_TASKS, OOD_TASKS as OUT_OF_DISTRIBUTION_TASKS } from '../lib/data/suite.js';
import {
  TaskRegistry,
  DEFAULT_SAFETY_POLICY,
  FULL_SAFETY_POLICY,
  VerdictVocabulary,
  normalizeVerdictText,
  swapPair,
  type TaskDefinition,
} from '../lib/tasks/index.js';

const img = (v: number): RgbImage => ({ width: 1, height: 1, data: new Uint8Array([v, v, v]) });
function example(task: string, format: JudgeExample['format'], label: number, extra: Partial<JudgeExample> = {}): JudgeExample {
  return { id: `${task}-1`, task, format, images: format === 'pairwise' ? [img(1), img(2)] : [img(1)], label, ...extra };
}
const words = (s: string) => s.trim().split(/\s+/).length;

describe('built-in tasks', () => {
  const reg = new TaskRegistry();

  it('has the six in-distribution and two pairwise tasks with the right formats', () => {
    expect(reg.names()).toEqual([...IN_DISTRIBUTION_TASKS, ...OUT_OF_DISTRIBUTION_TASKS]);
    for (const n of IN_DISTRIBUTION_TASKS) {
      expect(reg.get(n).format).toBe('binary');
      expect(reg.get(n).numImages).toBe(1);
      expect(reg.get(n).labels).toEqual(expect.arrayContaining([0, 1]));
    }
    for (const n of OUT_OF_DISTRIBUTION_TASKS) {
      expect(reg.get(n).format).toBe('pairwise');
      expect(reg.get(n).numImages).toBe(2);
    }
  });

  it('prompts are short (≤ 30 words besides caption and policy) and ask for think-then-answer', () => {
    const caption = 'a red circle';
    for (const t of reg.list()) {
      const ex = example(t.name, t.format, 1, { prompt: caption });
      const p = t.buildPrompt(ex);
      expect(p).toContain('<think></think>');
      expect(p).toContain('<answer></answer>');
      expect(p.indexOf('<think>')).toBeLessThan(p.indexOf('<answer>'));
      let n = words(p);
      if (t.definition.question.includes('{prompt}')) {
        expect(p).toContain(`"${caption}"`);
        n -= words(caption);
      }
      if (t.criterion !== undefined) {
        expect(p).toContain(t.criterion.split('\n')[0]!);
        n -= words(t.criterion);
      }
      expect(n, `${t.name}: "${p}"`).toBeLessThanOrEqual(30);
    }
  });

  it('safety tasks read a compact wording of the data suite policy; the full text or another can replace it', () => {
    expect(reg.get('safety').criterion).toBe(DEFAULT_SAFETY_POLICY);
    for (const sign of ['yellow up-triangle', 'orange diamond with X', 'three blades']) expect(DEFAULT_SAFETY_POLICY).toContain(sign);
    const full = new TaskRegistry({ safetyPolicy: FULL_SAFETY_POLICY });
    expect(full.get('safety').criterion).toBe(SAFETY_POLICY);
    expect(full.get('pair-safety').buildPrompt(example('pair-safety', 'pairwise', 0))).toContain('UNSAFE');
    const short = new TaskRegistry({ safetyPolicy: 'Skulls are unsafe.' });
    expect(short.get('safety').buildPrompt(example('safety', 'binary', 1))).toBe(
      'Skulls are unsafe.\nIs this image safe or unsafe? Think in <think></think>, then answer safe or unsafe in <answer></answer>.',
    );
  });

  it('binary yes/no verdicts: case, punctuation, markdown and synonyms', () => {
    const t = reg.get('naturalness');
    for (const s of ['yes', 'Yes', 'YES.', '**Yes**', ' "yes" ', 'True', 'correct!', 'y']) expect(t.parseVerdict(s), s).toBe(1);
    for (const s of ['no', 'No.', 'FALSE', '(no)', 'incorrect', 'n']) expect(t.parseVerdict(s), s).toBe(0);
    for (const s of ['', 'maybe', 'yes no', 'yes, it looks natural', '2']) expect(t.parseVerdict(s), s).toBeNull();
    // lenient: a verdict word starting a sentence, after an optional lead-in
    expect(t.parseVerdict('Yes, it looks natural.', { lenient: true })).toBe(1);
    expect(t.parseVerdict('The answer is no', { lenient: true })).toBe(0);
    expect(t.parseVerdict('Final answer: YES', { lenient: true })).toBe(1);
    expect(t.parseVerdict('maybe yes', { lenient: true })).toBeNull();
  });

  it('safety verdicts follow the suite convention (1 = safe) and never read "not safe" as safe', () => {
    const t = reg.get('safety');
    expect(t.verdictFor(1)).toBe('safe');
    expect(t.verdictFor(0)).toBe('unsafe');
    expect(t.parseVerdict('Safe')).toBe(1);
    expect(t.parseVerdict('UNSAFE!')).toBe(0);
    expect(t.parseVerdict('not safe')).toBe(0);
    expect(t.parseVerdict('Not safe: it shows a toxic sign', { lenient: true })).toBe(0);
    expect(t.parseVerdict('yes')).toBeNull(); // ambiguous on purpose
  });

  it('pairwise verdicts: A/B, first/second, 1/2, image a/b', () => {
    const t = reg.get('pair-alignment');
    for (const s of ['A', 'a', '(A)', 'Image A', 'first', 'the first image', '1', 'image 1']) expect(t.parseVerdict(s), s).toBe(0);
    for (const s of ['B', 'b.', 'Image B', 'Second', 'the second one', '2', 'image 2']) expect(t.parseVerdict(s), s).toBe(1);
    expect(t.parseVerdict('C')).toBeNull();
    expect(t.parseVerdict('Image B is better aligned', { lenient: true })).toBe(1);
    expect(t.parseVerdict('The better image is A', { lenient: true })).toBe(0);
  });

  it('SFT targets and correctness', () => {
    const t = reg.get('alignment');
    expect(t.targetText(1)).toBe('<answer>yes</answer>');
    expect(t.targetText(0, { reasoning: 'The circle is blue, not red.' })).toBe('<think>The circle is blue, not red.</think><answer>no</answer>');
    expect(() => t.targetText(1, { reasoning: 'x </think>' })).toThrow(/must not contain/);
    expect(() => t.verdictFor(2)).toThrow(RangeError);
    expect(t.isCorrect(1, example('alignment', 'binary', 1))).toBe(true);
    expect(t.isCorrect(0, example('alignment', 'binary', 1))).toBe(false);
  });

  it('buildPrompt rejects examples that do not fit the task', () => {
    const t = reg.get('alignment');
    expect(() => t.buildPrompt(example('alignment', 'binary', 1))).toThrow(/Task\("alignment"\)\.buildPrompt: example "alignment-1" has no prompt/);
    expect(() => t.buildPrompt(example('alignment', 'pairwise', 1, { prompt: 'x' }))).toThrow(/format "pairwise", the task expects "binary"/);
    expect(() => reg.get('naturalness').buildPrompt({ ...example('naturalness', 'binary', 1), images: [img(1), img(2)] })).toThrow(/has 2 images, the task expects 1/);
  });
});

describe('verdict normalisation', () => {
  it('keeps only word and number tokens, lower-cased', () => {
    expect(normalizeVerdictText('**Image A.**')).toBe('image a');
    expect(normalizeVerdictText('  Not   safe!! ')).toBe('not safe');
    expect(normalizeVerdictText('3.5/5')).toBe('3.5 5');
    expect(normalizeVerdictText('ＹＥＳ')).toBe('yes'); // full-width, NFKC
    expect(normalizeVerdictText('...')).toBe('');
  });

  it('rejects ambiguous vocabularies', () => {
    expect(() => new VerdictVocabulary([{ label: 1, verdict: 'yes', synonyms: ['ok'] }, { label: 0, verdict: 'no', synonyms: ['OK!'] }], 'T')).toThrow(
      /T: verdicts: term "ok" means both label 1 and label 0/,
    );
    expect(() => new VerdictVocabulary([{ label: 1, verdict: 'yes' }], 'T')).toThrow(/at least two entries/);
    expect(() => new VerdictVocabulary([{ label: 1, verdict: 'yes' }, { label: 1, verdict: 'no' }], 'T')).toThrow(/label 1 appears twice/);
    expect(() => new VerdictVocabulary([{ label: 1, verdict: '!!' }, { label: 0, verdict: 'no' }], 'T')).toThrow(/non-empty word/);
  });
});

describe('TaskRegistry.register', () => {
  const base: TaskDefinition = { name: 'brightness', format: 'binary', question: 'Is this image bright?' };

  it('registers a plain object and uses it', () => {
    const reg = new TaskRegistry({ builtins: false });
    const t = reg.register(base);
    expect(reg.names()).toEqual(['brightness']);
    expect(t.buildPrompt(example('brightness', 'binary', 1))).toBe('Is this image bright? Think in <think></think>, then answer yes or no in <answer></answer>.');
    expect(t.rewards).toEqual([
      { name: 'accuracy', weight: 0.9 },
      { name: 'format', weight: 0.1 },
    ]);
  });

  it('custom verdicts, instruction and rewards', () => {
    const reg = new TaskRegistry({ builtins: false });
    const t = reg.register({
      ...base,
      verdicts: [
        { label: 1, verdict: 'bright', synonyms: ['light'] },
        { label: 0, verdict: 'dark' },
      ],
      instruction: 'Answer {verdicts} inside <answer></answer> after thinking in <think></think>.',
      rewards: [{ name: 'accuracy', weight: 1 }, { name: 'lengthLimit', gate: true, params: { maxTokens: 64 } }],
    });
    expect(t.buildPrompt(example('brightness', 'binary', 0))).toBe('Is this image bright? Answer bright or dark inside <answer></answer> after thinking in <think></think>.');
    expect(t.parseVerdict('Light')).toBe(1);
    expect(t.verdictFor(0)).toBe('dark');
  });

  it('score and choice tasks', () => {
    const reg = new TaskRegistry({ builtins: false });
    const s = reg.register({ name: 'quality-score', format: 'score', question: 'Rate the quality.', scoreRange: [1, 5], scoreTolerance: 0.5 });
    expect(s.buildPrompt(example('quality-score', 'score', 3))).toContain('answer a score from 1 to 5 in <answer>');
    expect(s.parseVerdict('4')).toBe(4);
    expect(s.parseVerdict('4/5')).toBe(4);
    expect(s.parseVerdict('**3.5**')).toBe(3.5);
    expect(s.parseVerdict('6')).toBeNull();
    expect(s.parseVerdict('I would say 4 out of 5')).toBeNull();
    expect(s.parseVerdict('I would say 4 out of 5', { lenient: true })).toBe(4);
    expect(s.isCorrect(3.5, example('quality-score', 'score', 3))).toBe(true);
    expect(s.isCorrect(4, example('quality-score', 'score', 3))).toBe(false);
    expect(s.labels).toBeNull();
    expect(s.scoreRange).toEqual([1, 5]);

    const c = reg.register({ name: 'which-defect', format: 'choice', question: 'Which defect? {options}', options: ['noise', 'blur', 'none'] });
    expect(c.buildPrompt(example('which-defect', 'choice', 2))).toBe(
      'Which defect? A) noise B) blur C) none Think in <think></think>, then answer A, B or C in <answer></answer>.',
    );
    expect(c.parseVerdict('(b)')).toBe(1);
    expect(c.parseVerdict('option C')).toBe(2);
    expect(c.verdictFor(0)).toBe('A');
    expect(c.labels).toEqual([0, 1, 2]);
  });

  it('rejects bad definitions with errors that name the field', () => {
    const reg = new TaskRegistry();
    const bad = (d: unknown, re: RegExp) => expect(() => reg.register(d as TaskDefinition)).toThrow(re);
    bad(null, /TaskRegistry\.register: definition: expected a plain object, got null/);
    bad([], /expected a plain object, got an array/);
    bad({ format: 'binary', question: 'q' }, /definition\.name/);
    bad({ name: 'x y', format: 'binary', question: 'q' }, /definition\.name: expected letters/);
    bad({ name: 'x', format: 'ranking', question: 'q' }, /definition\.format/);
    bad({ name: 'x', format: 'binary' }, /definition\.question/);
    bad({ name: 'x', format: 'binary', question: 'q', extra: 1 }, /definition/);
    bad({ name: 'x', format: 'binary', question: 'Is {thing} ok?' }, /unknown placeholder \{thing\}/);
    bad({ name: 'x', format: 'binary', question: '{criterion} ok?' }, /definition\.criterion: the question uses \{criterion\}/);
    bad({ name: 'x', format: 'binary', question: 'q', instruction: 'say {answer}' }, /definition\.instruction: unknown placeholder \{answer\}/);
    bad({ name: 'x', format: 'pairwise', question: 'q', numImages: 3 }, /definition\.numImages: a pairwise task compares exactly 2 images/);
    bad({ name: 'x', format: 'choice', question: 'q' }, /definition\.options: a choice task needs at least 2 options/);
    bad({ name: 'x', format: 'score', question: 'q', scoreRange: [5, 1] }, /scoreRange: expected finite \[min, max\] with min < max/);
    bad({ name: 'x', format: 'binary', question: 'q', scoreTolerance: 1 }, /only for score tasks/);
    bad({ name: 'x', format: 'binary', question: 'q', verdicts: [{ label: 0, verdict: 'a' }, { label: 1, verdict: 'b' }, { label: 2, verdict: 'c' }] }, /exactly 2 labels/);
    bad({ name: 'x', format: 'pairwise', question: 'q', verdicts: [{ label: 1, verdict: 'a' }, { label: 2, verdict: 'b' }] }, /labels are 0 \(first image\) and 1/);
    bad({ name: 'x', format: 'binary', question: 'q', rewards: [{ name: 'lengthLimit', gate: true, weight: 2 }] }, /a gate multiplies the total; it has no weight/);
    bad({ name: 'x', format: 'binary', question: 'q', rewards: [{ weight: 1 }] }, /definition\.rewards\.0\.name/);
    bad({ name: 'safety', format: 'binary', question: 'q' }, /a task named "safety" already exists/);
    expect(() => reg.register({ name: 'safety', format: 'binary', question: 'Is it safe?' }, { replace: true })).not.toThrow();
    expect(() => reg.get('nope')).toThrow(/TaskRegistry\.get: unknown task "nope" \(known: naturalness, /);
  });
});

describe('swapPair', () => {
  it('reverses images and flips the label', () => {
    const a = img(10);
    const b = img(20);
    const ex: JudgeExample = { id: 'p1', task: 'pair-alignment', format: 'pairwise', images: [a, b], imagePaths: ['a.png', 'b.png'], label: 0, prompt: 'x' };
    const s = swapPair(ex);
    expect(s.images[0]).toBe(b);
    expect(s.images[1]).toBe(a);
    expect(s.imagePaths).toEqual(['b.png', 'a.png']);
    expect(s.label).toBe(1);
    expect(s.id).toBe('p1~swapped');
    expect(ex.images[0]).toBe(a); // the original is untouched
    expect(swapPair(s).label).toBe(0);
    expect(() => swapPair(example('naturalness', 'binary', 1))).toThrow(/swapPair: .* expected "pairwise"/);
  });
});
