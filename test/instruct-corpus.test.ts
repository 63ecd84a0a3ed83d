// The base model's instruction corpus (lib/data/instruct.ts): deterministic, the configured mix of
// concepts, formats and vocabularies, balanced pairs, short reasoning — and never a judge task's own
// prompt nor an image of any suite split.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateInstructCorpus, generateInstructItem, INSTRUCT_MIX, INSTRUCT_MIXES, resolveMix, type InstructConcept } from '../lib/data/instruct.js';
import { loadTokenizer } from '../lib/model/tokenizer.js';
import { generateExamples, SUITE_TASKS } from '../lib/data/suite.js';
import { builtinTaskDefinitions, DEFAULT_SAFETY_POLICY } from '../lib/tasks/builtin.js';
import { DEFAULT_INSTRUCTION } from '../lib/tasks/task.js';
import { noteMatch } from '../lib/data/perception.js';
import { Rng } from '../lib/rng.js';

const N = 3000;
const items = generateInstructCorpus(0, N);
const v3 = generateInstructCorpus(0, 2000, 32, 3);
const v4 = generateInstructCorpus(0, 2000, 32, 4);

describe('instruction corpus', () => {
  it('is deterministic in (seed, index) and differs across seeds', () => {
    const a = generateInstructItem(0, 123);
    const b = generateInstructItem(0, 123);
    expect(b).toEqual(a);
    const c = generateInstructItem(1, 123);
    expect(c.prompt === a.prompt && Buffer.from(c.images[0]!.data).equals(Buffer.from(a.images[0]!.data))).toBe(false);
    expect(() => generateInstructItem(0, -1)).toThrow(/index/);
    expect(() => generateInstructItem(0, 1, 32, 5 as 1)).toThrow(/version must be 1, 2, 3 or 4/);
  });

  it('follows the concept mix, in both forms, with varied answer words', () => {
    const count = new Map<InstructConcept, number>();
    for (const it of items) count.set(it.concept, (count.get(it.concept) ?? 0) + 1);
    const total = Object.values(INSTRUCT_MIX).reduce((a, b) => a + b, 0);
    for (const [c, w] of Object.entries(INSTRUCT_MIX)) {
      const share = (count.get(c as InstructConcept) ?? 0) / N;
      expect(Math.abs(share - w / total), `${c}: share ${share.toFixed(3)} vs ${(w / total).toFixed(3)}`).toBeLessThan(0.025);
    }
    const think = items.filter((i) => i.reasoning && i.concept !== 'caption').length;
    const judged = items.filter((i) => i.concept !== 'caption').length;
    expect(think / judged).toBeGreaterThan(0.55);
    expect(think / judged).toBeLessThan(0.8);
    const answers = new Set(items.map((i) => /<answer>(.*)<\/answer>$/.exec(i.target)?.[1] ?? i.target).filter((a) => a.length < 12));
    for (const w of ['yes', 'no', 'safe', 'unsafe', 'A', 'B', 'good', 'poor', 'allowed', 'forbidden', 'natural', 'unnatural']) expect(answers, w).toContain(w);
    // The judge tasks' own output convention appears, among others.
    expect(items.some((i) => i.prompt.includes(DEFAULT_INSTRUCTION.replace('{verdicts}', 'yes or no')))).toBe(true);
  });

  it('answers pairs A and B equally often, and binary questions both ways', () => {
    const pairs = items.filter((i) => i.images.length === 2 && i.concept !== 'caption');
    const a = pairs.filter((i) => /(^|<answer>)A(<\/answer>)?$/.test(i.target)).length;
    expect(pairs.length).toBeGreaterThan(500);
    expect(Math.abs(a / pairs.length - 0.5), `A share ${(a / pairs.length).toFixed(3)}`).toBeLessThan(0.06);
    const yn = items.filter((i) => /(^|<answer>)(yes|no)(<\/answer>)?$/.test(i.target));
    const yes = yn.filter((i) => /(^|<answer>)yes(<\/answer>)?$/.test(i.target)).length;
    expect(Math.abs(yes / yn.length - 0.5)).toBeLessThan(0.06);
  });

  it('keeps judging reasoning short enough for a few dozen generated tokens', () => {
    const lens = items.filter((i) => i.reasoning && i.concept !== 'caption').map((i) => /<think>(.*)<\/think>/s.exec(i.target)![1]!.length);
    lens.sort((a, b) => a - b);
    expect(lens[Math.floor(lens.length * 0.95)]).toBeLessThan(110);
    expect(lens[lens.length - 1]).toBeLessThan(160);
  });

  it("never contains a judge task's own question", () => {
    // Every fixed phrase of every built-in question (the text between placeholders) is absent.
    const fragments = builtinTaskDefinitions()
      .flatMap((d) => d.question.split(/\{[a-z]+\}/))
      .map((f) => f.trim())
      .filter((f) => f.length >= 12);
    expect(fragments.length).toBeGreaterThanOrEqual(8);
    const v1 = generateInstructCorpus(0, 1500, 32, 1);
    for (const f of fragments) {
      const hit = [...items, ...v1, ...v3].find((i) => i.prompt.includes(f));
      expect(hit?.prompt, `fragment ${JSON.stringify(f)}`).toBeUndefined();
    }
    expect(items.some((i) => i.prompt.includes(DEFAULT_SAFETY_POLICY))).toBe(false);
  });

  it('never shows an image of any split of the suite (seeds 0..2)', () => {
    const hash = (d: Uint8Array) => createHash('sha1').update(d).digest('hex');
    const corpus = new Set([...items, ...v3].flatMap((i) => i.images.map((im) => hash(im.data))));
    let checked = 0;
    for (const seed of [0, 1, 2])
      for (const task of SUITE_TASKS)
        for (const split of ['train', 'validation', 'test'] as const)
          for (const ex of generateExamples(task, split, { seed, corpus: false }, 24)) {
            for (const im of ex.images) expect(corpus.has(hash(im.data)), `${ex.id} (seed ${seed})`).toBe(false);
            checked++;
          }
    expect(checked).toBe(3 * SUITE_TASKS.length * 3 * 24);
  });

  describe('version 3 (the perception stage)', () => {
    it('follows its mix: half perception, half version 2 concepts', () => {
      const mix = INSTRUCT_MIXES[3];
      const total = Object.values(mix).reduce((a, b) => a + (b ?? 0), 0);
      expect(((mix.perception ?? 0) + (mix['pair-perception'] ?? 0)) / total).toBeCloseTo(0.5, 5);
      for (const [c, w] of Object.entries(mix)) {
        const share = v3.filter((i) => i.concept === c).length / v3.length;
        expect(Math.abs(share - w! / total), `${c}: share ${share.toFixed(3)}`).toBeLessThan(0.03);
      }
      // Versions 1 and 2 are unchanged by it: the same item as before for the same (seed, index).
      expect(generateInstructItem(0, 77, 32, 2)).toEqual(items[77]);
    });

    it("keeps its judged targets within the judges' 40 generated tokens", () => {
      const tok = loadTokenizer('models/base/tokenizer.json');
      const lens = v3.filter((i) => i.reasoning && i.concept !== 'caption').map((i) => tok.encode(i.target).length);
      lens.sort((a, b) => a - b);
      expect(lens[Math.floor(lens.length * 0.95)]).toBeLessThanOrEqual(40);
      expect(lens.filter((n) => n > 40).length / lens.length, `max ${lens[lens.length - 1]} tokens`).toBeLessThan(0.02);
    });
  });

  describe('mix overrides (pretrain --corpus-mix)', () => {
    it('replace the named concepts\' weights and keep the others', () => {
      const corpus = generateInstructCorpus(3, 1500, 32, 4, { 'note-match': 0.4, caption: 0 });
      const mix = resolveMix(4, { 'note-match': 0.4, caption: 0 });
      const total = Object.values(mix).reduce((a, b) => a + (b ?? 0), 0);
      expect(total).toBeCloseTo(1.256, 3); // 1.001 − caption 0.045 − note-match 0.1 + 0.4
      const share = (c: string) => corpus.filter((i) => i.concept === c).length / corpus.length;
      expect(Math.abs(share('note-match') - 0.4 / total), `note-match ${share('note-match').toFixed(3)}`).toBeLessThan(0.03);
      expect(share('caption')).toBe(0);
      expect(Math.abs(share('perception') - 0.297 / total)).toBeLessThan(0.03);
      // Without an override the corpus is the version's own.
      expect(generateInstructCorpus(3, 5, 32, 4)).toEqual(generateInstructCorpus(3, 5, 32, 4, {}));
    });

    it('offer note-match-detail (notes that differ only in a shape or a position) only through the mix', () => {
      for (const v of [1, 2, 3, 4] as const) expect(Object.keys(INSTRUCT_MIXES[v])).not.toContain('note-match-detail');
      const corpus = generateInstructCorpus(5, 400, 32, 4, { 'note-match-detail': 0.5 });
      const detail = corpus.filter((i) => i.concept === 'note-match-detail');
      expect(detail.length / corpus.length).toBeGreaterThan(0.25); // 0.5 / 1.501
      expect(detail.every((i) => /^(yes|no)$/.test(i.target) && i.images.length === 1 && !i.reasoning)).toBe(true);
      const no = detail.filter((i) => i.target === 'no').length;
      expect(no / detail.length, `${no} of ${detail.length} do not fit`).toBeGreaterThan(0.3);
      expect(no / detail.length).toBeLessThan(0.7);
      // The notes never differ by a colour or a count: the object count and colours match the description.
      const changes = new Map<string, number>();
      for (let i = 0; i < 300; i++) {
        const q = noteMatch(Rng.from('detail-test', i), 32, ['wrong-shape', 'wrong-position']);
        const c = q.change ?? 'faithful';
        changes.set(c, (changes.get(c) ?? 0) + 1);
        const [noted] = q.scenes;
        expect(noted!.objects.map((o) => o.colour)).toEqual(q.intent!.objects.map((o) => o.colour));
        const diff = noted!.objects.filter((o, k) => o.shape !== q.intent!.objects[k]!.shape || o.region !== q.intent!.objects[k]!.region).length;
        expect(diff, `${c}: ${JSON.stringify(noted!.objects)} vs ${JSON.stringify(q.intent!.objects)}`).toBe(c === 'faithful' ? 0 : 1);
      }
      expect([...changes.keys()].sort()).toEqual(['faithful', 'wrong-position', 'wrong-shape']);
    });

    it('offer note-match-text (note matching with an unrelated picture) only through the mix', () => {
      for (const v of [1, 2, 3, 4] as const) expect(Object.keys(INSTRUCT_MIXES[v])).not.toContain('note-match-text');
      let unrelated = 0;
      for (let i = 0; i < 100; i++) {
        // Same draws up to the picture: the questions match, the picture is the noted one only by chance.
        const plain = noteMatch(Rng.from('text-test', i), 32);
        const text = noteMatch(Rng.from('text-test', i), 32, undefined, { unrelatedPicture: true });
        expect(text.question).toBe(plain.question);
        expect(text.answer).toBe(plain.answer);
        if (Buffer.compare(Buffer.from(text.images[0]!.data), Buffer.from(plain.images[0]!.data)) !== 0) unrelated++;
      }
      expect(unrelated, `${unrelated} of 100 pictures differ from the noted one`).toBeGreaterThan(90);
      const corpus = generateInstructCorpus(6, 300, 32, 4, { 'note-match-text': 1 });
      expect(corpus.filter((i) => i.concept === 'note-match-text').length).toBeGreaterThan(100);
    });

    it('refuse unknown concepts, bad weights and an all-zero mix, naming what is wrong', () => {
      expect(() => resolveMix(4, { 'note-matc': 1 } as never)).toThrow(/unknown concept "note-matc"; concepts: caption, .*note-match/);
      expect(() => resolveMix(4, { caption: -1 })).toThrow(/weight of caption must be a finite number ≥ 0, got -1/);
      expect(() => resolveMix(4, { caption: Number.NaN })).toThrow(/weight of caption/);
      const zero = Object.fromEntries(Object.keys(INSTRUCT_MIXES[4]).map((c) => [c, 0]));
      expect(() => resolveMix(4, zero)).toThrow(/every weight is 0/);
    });
  });

  describe('version 4 (marked two-picture notes, note matching)', () => {
    it('follows its mix, and leaves version 3 as it was', () => {
      const mix = INSTRUCT_MIXES[4];
      const total = Object.values(mix).reduce((a, b) => a + (b ?? 0), 0);
      for (const [c, w] of Object.entries(mix)) {
        const share = v4.filter((i) => i.concept === c).length / v4.length;
        expect(Math.abs(share - w! / total), `${c}: share ${share.toFixed(3)}`).toBeLessThan(0.03);
      }
      // Same concept per index as version 3 is not required, but version 3's notes carry no marks.
      for (const it of v3.filter((i) => i.concept === 'pair-perception' && i.reasoning)) expect(it.target).not.toMatch(/: (yes|no)\./);
    });

    it('marks the picture its answer names, and only that one, in two-picture notes', () => {
      const twoPictures = v4.filter((i) => i.reasoning && (i.concept === 'pair-perception' || i.concept === 'pair-alignment'));
      // A scene with room for no change falls back to a version 2 item (unmarked reasoning): rare.
      const marked = twoPictures.filter((i) => i.target.startsWith('<think>A: '));
      expect(marked.length).toBeGreaterThan(150);
      expect(twoPictures.length - marked.length).toBeLessThan(0.03 * twoPictures.length);
      let pairsWithOneYes = 0;
      for (const it of marked) {
        const m = /^<think>A: .*: (yes|no)\. B: .*: (yes|no)\.<\/think><answer>([AB])<\/answer>$/.exec(it.target);
        expect(m, it.target).not.toBeNull();
        const [, a, b, answer] = m!;
        if (it.concept === 'pair-perception') expect([a, b], it.target).toEqual(answer === 'A' ? ['yes', 'no'] : ['no', 'yes']);
        else if ((a === 'yes') !== (b === 'yes')) {
          pairsWithOneYes++;
          expect(a === 'yes' ? 'A' : 'B', it.target).toBe(answer);
        }
      }
      expect(pairsWithOneYes).toBeGreaterThan(20);
    });

    it('asks whether notes fit a description, with the noted picture, yes and no equally often', () => {
      const notes = v4.filter((i) => i.concept === 'note-match');
      expect(notes.length).toBeGreaterThan(150);
      for (const it of notes) {
        expect(it.images).toHaveLength(1);
        expect(['yes', 'no']).toContain(it.target);
      }
      const yes = notes.filter((i) => i.target === 'yes').length / notes.length;
      expect(Math.abs(yes - 0.5), `yes share ${yes.toFixed(3)}`).toBeLessThan(0.1);
    });

    it('keeps 94 % of its judged targets within 40 tokens (marks add 4; three-object pairs can exceed it)', () => {
      const tok = loadTokenizer('models/base/tokenizer.json');
      const lens = v4.filter((i) => i.reasoning && i.concept !== 'caption').map((i) => tok.encode(i.target).length);
      const over = lens.filter((n) => n > 40).length / lens.length;
      expect(over, `over 40 tokens: ${(100 * over).toFixed(1)} %, max ${Math.max(...lens)}`).toBeLessThan(0.06);
    });
  });
});
