// The generated judging suite: determinism, disjoint splits, label balance, oracle accuracy, rater
// statistics, pair margins, the corpus, and option errors.
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_RATERS,
  generateExample,
  generateExamples,
  generateSuite,
  IN_DISTRIBUTION_TASKS,
  OOD_TASKS,
  oracleLabel,
  oracleReport,
  SUITE_TASKS,
  type ExampleMeta,
  type JudgeExample,
  type Suite,
} from '../lib/data/index.js';

const sha = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');
const digest = (e: JudgeExample) => `${e.id}|${e.label}|${e.prompt ?? ''}|${e.images.map((i) => sha(i.data)).join(',')}`;

let suite: Suite;
beforeAll(() => {
  suite = generateSuite({ seed: 11 });
});

describe('determinism', () => {
  it('same seed gives byte-identical images, labels, prompts and ratings', () => {
    const again = generateSuite({ seed: 11 });
    for (const split of ['train', 'validation', 'test'] as const) {
      expect(again[split].length).toBe(suite[split].length);
      suite[split].forEach((e, i) => {
        const f = again[split][i]!;
        expect(digest(f)).toBe(digest(e));
        expect(f.raters).toEqual(e.raters);
        expect(f.meta).toEqual(e.meta);
      });
    }
    expect(again.corpus.train.map((c) => `${c.answer}|${c.images.map((i) => sha(i.data))}`)).toEqual(
      suite.corpus.train.map((c) => `${c.answer}|${c.images.map((i) => sha(i.data))}`),
    );
  });

  it('an example does not depend on the requested sizes (random access equals the stream)', () => {
    const alone = generateExample('preference', 'validation', 37, { seed: 11 });
    const inSuite = suite.validation.find((e) => e.id === 'preference-validation-000037')!;
    expect(digest(alone)).toBe(digest(inSuite));
    const bigger = [...generateExamples('safety', 'test', { seed: 11 }, 70)];
    const inSmall = suite.test.filter((e) => e.task === 'safety');
    inSmall.forEach((e, i) => expect(digest(bigger[i]!)).toBe(digest(e)));
  });

  it('a different seed gives different data; string seeds work', () => {
    const other = generateSuite({ seed: 12, tasks: ['technical'], corpus: false });
    const mine = suite.train.filter((e) => e.task === 'technical');
    const same = other.train.filter((e, i) => digest(e) === digest(mine[i]!)).length;
    expect(same).toBe(0);
    const s1 = generateExample('alignment', 'train', 3, { seed: 'abc' });
    const s2 = generateExample('alignment', 'train', 3, { seed: 'abc' });
    expect(digest(s1)).toBe(digest(s2));
  });

  it('the same scene renders at every image size (16..128)', () => {
    for (const imageSize of [16, 48, 128]) {
      const e = generateExample('safety', 'train', 5, { seed: 11, imageSize });
      expect(e.images[0]!.width).toBe(imageSize);
      expect(e.images[0]!.height).toBe(imageSize);
      expect(e.images[0]!.data.length).toBe(imageSize * imageSize * 3);
      const base = suite.train.find((x) => x.id === e.id)!;
      expect(e.meta).toEqual(base.meta);
      expect(e.label).toBe(base.label);
    }
  });
});

describe('splits', () => {
  it('ids, images and prompts+images never repeat across train, validation and test', () => {
    const owner = new Map<string, string>();
    let clashes = 0;
    for (const split of ['train', 'validation', 'test'] as const) {
      for (const e of suite[split]) {
        expect(e.split).toBe(split);
        for (const img of e.images) {
          const h = sha(img.data);
          const prev = owner.get(h);
          if (prev !== undefined && prev !== split) clashes++;
          owner.set(h, split);
        }
      }
    }
    expect(clashes).toBe(0);
    const ids = [...suite.train, ...suite.validation, ...suite.test].map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('OOD pairwise tasks are test-time only in the presets', () => {
    expect(suite.train.some((e) => e.format === 'pairwise')).toBe(false);
    for (const t of OOD_TASKS) expect(suite.test.filter((e) => e.task === t).length).toBe(64);
  });
});

describe('labels, oracle and raters', () => {
  it('binary labels are balanced (40–60 % positive) and pairwise winners are position-balanced', () => {
    for (const split of ['train', 'validation', 'test'] as const) {
      for (const r of oracleReport(suite[split])) {
        expect(r.positiveRate, `${split}/${r.task} positive rate ${r.positiveRate.toFixed(3)}`).toBeGreaterThanOrEqual(0.4);
        expect(r.positiveRate, `${split}/${r.task} positive rate ${r.positiveRate.toFixed(3)}`).toBeLessThanOrEqual(0.6);
      }
    }
    // Exact 50/50 of the hidden truth per pair of indices.
    const tr = oracleReport(suite.train);
    for (const r of tr) expect(r.truthPositiveRate).toBe(0.5);
  });

  it('the oracle, reading only hidden scene variables, matches the truth on every task', () => {
    const reports = oracleReport([...suite.train, ...suite.validation, ...suite.test]);
    expect(reports.map((r) => r.task).sort()).toEqual([...SUITE_TASKS].sort());
    for (const r of reports) expect(r.oracleAccuracy, `${r.task}: oracle accuracy ${r.oracleAccuracy}`).toBeGreaterThanOrEqual(0.99);
  });

  it('the oracle is not the stored truth: corrupting the hidden scene changes its verdict', () => {
    const e = suite.train.find((x) => x.task === 'safety' && (x.meta as unknown as ExampleMeta).truth === 0)!;
    const meta = structuredClone(e.meta) as unknown as ExampleMeta;
    expect(oracleLabel(e)).toBe(0);
    meta.images[0]!.scene.symbol!.kind = 'dot-disc';
    expect(oracleLabel({ ...e, meta: meta as unknown as Record<string, unknown> })).toBe(1);
    const a = suite.train.find((x) => x.task === 'alignment' && (x.meta as unknown as ExampleMeta).truth === 1)!;
    const am = structuredClone(a.meta) as unknown as ExampleMeta;
    am.images[0]!.scene.objects[0]!.colour = am.images[0]!.scene.objects[0]!.colour === 'red' ? 'blue' : 'red';
    expect(oracleLabel({ ...a, meta: am as unknown as Record<string, unknown> })).toBe(0);
  });

  it('rater disagreement of the binary tasks falls in the configured range and a ceiling exists', () => {
    const [lo, hi] = DEFAULT_RATERS.disagreementRange;
    for (const r of oracleReport(suite.train)) {
      const msg = `${r.task}: disagreement ${r.disagreement.toFixed(4)}, ceiling ${r.raterCeiling.toFixed(4)}`;
      expect(r.disagreement, msg).toBeGreaterThanOrEqual(lo);
      expect(r.disagreement, msg).toBeLessThanOrEqual(hi);
      expect(r.raterCeiling, msg).toBeGreaterThanOrEqual(0.85);
    }
    // Over all in-distribution tasks the raters must be imperfect somewhere (a measurable ceiling).
    const all = oracleReport(suite.train);
    expect(Math.min(...all.map((r) => r.raterCeiling))).toBeLessThan(1);
  });

  it('noiseless raters agree with the truth; noisier raters disagree more', () => {
    const quiet = generateSuite({
      seed: 11,
      tasks: ['naturalness', 'alignment', 'safety'],
      corpus: false,
      sizes: { naturalness: { validation: 0, test: 0 }, alignment: { validation: 0, test: 0 }, safety: { validation: 0, test: 0 } },
      raters: { biasSd: 0, noiseSd: [0, 0], halo: [0, 0], caution: [0, 0] },
    });
    for (const r of oracleReport(quiet.train)) {
      expect(r.disagreement, r.task).toBe(0);
      expect(r.raterCeiling, r.task).toBe(1);
    }
    const noisy = generateSuite({ seed: 11, tasks: ['naturalness'], corpus: false, raters: { noiseSd: [1.2, 1.6] } });
    const base = oracleReport(suite.train).find((r) => r.task === 'naturalness')!;
    const loud = oracleReport(noisy.train)[0]!;
    expect(loud.disagreement, `noisy ${loud.disagreement} vs default ${base.disagreement}`).toBeGreaterThan(base.disagreement + 0.05);
    expect(loud.raterCeiling).toBeLessThan(base.raterCeiling);
  });

  it('each example keeps consistent ratings: majority label, mean score, odd rater count', () => {
    for (const e of suite.train) {
      expect(e.raters!.length).toBe(DEFAULT_RATERS.perItem);
      const yes = e.raters!.filter((r) => r >= DEFAULT_RATERS.voteThreshold).length;
      expect(e.label).toBe(yes * 2 > e.raters!.length ? 1 : 0);
      const mean = e.raters!.reduce((a, b) => a + b, 0) / e.raters!.length;
      expect(e.score).toBeCloseTo(mean, 12);
      for (const r of e.raters!) expect(Number.isInteger(r) && r >= 1 && r <= 5).toBe(true);
    }
  });

  it('pairs have two images, a rating margin ≥ minPairMargin, and the label points at the higher mean', () => {
    const pairs = suite.test.filter((e) => e.format === 'pairwise');
    expect(pairs.length).toBe(128);
    for (const e of pairs) {
      const m = e.meta as unknown as ExampleMeta;
      expect(e.images.length).toBe(2);
      expect(Math.abs(m.margin!)).toBeGreaterThanOrEqual(1);
      const mean = (x: number[]) => x.reduce((a, b) => a + b, 0) / x.length;
      const margin = mean(m.ratings![0]!) - mean(m.ratings![1]!);
      expect(margin).toBeCloseTo(m.margin!, 12);
      expect(e.label).toBe(margin > 0 ? 0 : 1);
    }
    const strict = [...generateExamples('pair-alignment', 'test', { seed: 11, minPairMargin: 2 }, 40)];
    for (const e of strict) expect(Math.abs((e.meta as unknown as ExampleMeta).margin!)).toBeGreaterThanOrEqual(2);
  });

  it('prompts exist exactly for the tasks that have one', () => {
    for (const e of suite.validation) {
      const has = ['alignment', 'preference', 'pair-alignment'].includes(e.task);
      expect(typeof e.prompt === 'string' && e.prompt.length > 5, `${e.id}`).toBe(has);
    }
  });
});

describe('base-model corpus', () => {
  const JUDGE_WORDS = /\b(safe|unsafe|safety|hazard|policy|natural|unnatural|naturalness|align\w*|prompt|quality|rational\w*|plausib\w*|prefer\w*|better|judge|verdict)\b|<think>|<answer>/i;

  it('never contains the judge tasks’ words or tags', () => {
    const items = [...suite.corpus.train, ...suite.corpus.validation, ...suite.corpus.test];
    expect(items.length).toBe(600 + 64 + 64);
    for (const it of items) {
      expect(`${it.question ?? ''} ${it.answer}`, it.id).not.toMatch(JUDGE_WORDS);
    }
  });

  it('two-image comparisons answer A (first) or B (second) by the object counts', () => {
    let checked = 0;
    for (const it of suite.corpus.train) {
      if (it.images.length !== 2 || !/A \(first\) or B \(second\)/.test(it.question ?? '')) continue;
      const scenes = (it.meta as { scenes: Array<{ objects: unknown[] }> }).scenes;
      const want = scenes[0]!.objects.length > scenes[1]!.objects.length ? 'A' : 'B';
      expect(scenes[0]!.objects.length).not.toBe(scenes[1]!.objects.length);
      expect(it.kind === 'vqa' ? it.answer : /So the answer is: ([AB])\.$/.exec(it.answer)?.[1], it.id).toBe(want);
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('covers captions, VQA, describe-then-answer and two-image items; count answers match the scene', () => {
    const items = suite.corpus.train;
    const kinds = new Set(items.map((i) => i.kind));
    expect([...kinds].sort()).toEqual(['caption', 'describe-answer', 'vqa']);
    expect(items.some((i) => i.images.length === 2)).toBe(true);
    const words = ['zero', 'one', 'two', 'three', 'four', 'five', 'six'];
    let checked = 0;
    for (const it of items) {
      if (it.images.length !== 1 || it.kind !== 'vqa') continue;
      const scene = (it.meta as { scenes: Array<{ objects: Array<{ colour: string }> }> }).scenes[0]!;
      if (it.question === 'How many objects are there?' || it.question === 'How many objects are there, not counting the sign?') {
        expect(it.answer).toBe(words[scene.objects.length]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(5);
  });
});

describe('options', () => {
  it('rejects bad options with errors naming the option', () => {
    expect(() => generateSuite({ seed: -1 })).toThrow(/generateSuite: seed/);
    expect(() => generateSuite({ seed: 1.5 })).toThrow(RangeError);
    expect(() => generateSuite({} as never)).toThrow(TypeError);
    expect(() => generateSuite({ seed: 1, imageSize: 8 })).toThrow(/imageSize must be an integer in \[16, 128\]/);
    expect(() => generateSuite({ seed: 1, imageSize: 129 })).toThrow(RangeError);
    expect(() => generateSuite({ seed: 1, sizes: 'huge' as never })).toThrow(/sizes must be/);
    expect(() => generateSuite({ seed: 1, sizes: { nope: { train: 1 } } as never })).toThrow(/unknown task "nope"/);
    expect(() => generateSuite({ seed: 1, sizes: { safety: { train: -1 } } })).toThrow(/sizes.safety.train/);
    expect(() => generateSuite({ seed: 1, sizes: { safety: { dev: 1 } } as never })).toThrow(/unknown split "dev"/);
    expect(() => generateSuite({ seed: 1, tasks: ['vibes' as never] })).toThrow(/unknown task "vibes"/);
    expect(() => generateSuite({ seed: 1, distractorRate: 2 })).toThrow(/distractorRate/);
    expect(() => generateSuite({ seed: 1, raters: { perItem: 4 } })).toThrow(/perItem must be an odd integer/);
    expect(() => generateSuite({ seed: 1, raters: { noiseSd: [1, 0] } })).toThrow(/noiseSd/);
    expect(() => generateExample('safety', 'dev' as never, 0, { seed: 1 })).toThrow(/split must be one of/);
    expect(() => generateExample('safety', 'train', -2, { seed: 1 })).toThrow(/index must be a non-negative integer/);
    expect(() => generateExample('x' as never, 'train', 0, { seed: 1 })).toThrow(/unknown task "x"/);
  });

  it('the paper preset has the paper’s per-task train/test sizes', () => {
    const s = generateSuite({ seed: 1, sizes: 'paper', tasks: [], corpus: false });
    expect(s.options.sizes.naturalness).toMatchObject({ train: 4839, test: 605 });
    expect(s.options.sizes.alignment).toMatchObject({ train: 5544, test: 693 });
    expect(s.options.sizes.preference).toMatchObject({ train: 6194, test: 2720 });
    expect(s.options.sizes.safety).toMatchObject({ train: 7298, test: 2037 });
    const total = IN_DISTRIBUTION_TASKS.reduce((a, t) => a + s.options.sizes[t].train, 0);
    expect(total).toBe(33553);
  });
});
