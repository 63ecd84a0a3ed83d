// Instruction data for the base model: general questions about the visual concepts judges use
// (natural vs odd colours and textures; noise, blur, blockiness; cut, doubled or merged objects;
// whether a picture shows a text; hazard signs and their look-alikes), over one image or a pair, in
// varied wordings and answer vocabularies (yes/no, good/poor, safe/unsafe, A/B, ...), plus open
// "what is wrong with it?" questions. Every closed question asks for the good side (yes = natural,
// clean, whole, faithful, safe): questions asking for the defect ("Does it show banding?") taught
// the tiny model to answer the judges' "…, without banding…?" the wrong way round (naturalness
// macro-F1 21 zero-shot, measured), so defects are asked about only openly (corpus version 2; version 1, with those questions, is kept
// because the shipped base model's first stage was trained on it),
// answered directly or after a short reasoning in <think></think>. It is what makes the shipped base
// an "off-the-shelf" judge the way a general VLM is one, before any judge training.
//
// Two rules keep the judge tasks unseen (tested in test/instruct-corpus.test.ts):
// - never a judge task's own question: every wording here is a paraphrase, and the judge prompts'
//   fixed phrases ("Does this image match the prompt", "Is this image safe or unsafe?", ...) never
//   occur;
// - never an item of a suite split: images come from the suite's generators under a seed of their
//   own (`instructSeed`), so no item is an example of any suite a user generates with a numeric seed.
// Answers come from the generator's hidden truth (latent quality ≥ 3.5), not from simulated raters.
import { generateCorpusItem } from './corpus.js';
import { SEVERITY_THRESHOLD, DEFECT_WORDS, type Defect, type DefectFamily } from './degrade.js';
import { describeSymbol, isHazard, SAFETY_POLICY } from './hazard.js';
import { noteMatch, noteObjects, pairPerception, singlePerception } from './perception.js';
import { regionPhrase, type GeneratorError } from './prompts.js';
import { Rng, type Seed } from '../rng.js';
import type { Scene, SceneObject } from './scene.js';
import { generateExample, resolveSuiteOptions, type ExampleMeta, type ImageMeta, type ResolvedSuiteOptions, type SuiteTask } from './suite.js';
import type { JudgeExample, RgbImage } from './types.js';

/** What an instruction item is about. */
export type InstructConcept =
  | 'caption'
  | 'naturalness'
  | 'technical'
  | 'rationality'
  | 'alignment'
  | 'preference'
  | 'safety'
  | 'pair-quality'
  | 'pair-alignment'
  | 'pair-safety'
  | 'perception'
  | 'pair-perception'
  | 'note-match'
  | 'note-match-detail'
  | 'note-match-text';

/** One instruction item: images, the prompt (not scored) and the target text (scored). */
export interface InstructItem {
  id: string;
  concept: InstructConcept;
  images: RgbImage[];
  prompt: string;
  target: string;
  /** Whether the target is in the <think>…</think><answer>…</answer> form. */
  reasoning: boolean;
  /** Hidden truth the answer was derived from (1 = the "good" side; pairs: index of the better image). */
  truth?: number;
}

/**
 * Corpus versions. 1: the first stage of the shipped base model (closed questions of both
 * polarities). 2 (default): closed questions ask only for the good side, open "what is wrong"
 * questions, more alignment. 3: the perception stage: half version 2's mix, half questions about
 * which objects are where, with hard negatives (lib/data/perception.ts). 4: version 3 where every
 * two-picture note says whether each picture fits ("A: red star top left: no. B: …: yes."), plus
 * "do these notes fit the description?" questions (with the noted picture), 10 % of the mix.
 */
export type InstructVersion = 1 | 2 | 3 | 4;
export const INSTRUCT_VERSIONS: readonly InstructVersion[] = [1, 2, 3, 4];

/** The share of each concept in the mix, per version (captions and plain VQA keep general abilities). */
export const INSTRUCT_MIXES: Readonly<Record<InstructVersion, Readonly<Partial<Record<InstructConcept, number>>>>> = Object.freeze({
  1: Object.freeze({
    caption: 0.16,
    naturalness: 0.1,
    technical: 0.1,
    rationality: 0.1,
    alignment: 0.12,
    preference: 0.1,
    safety: 0.1,
    'pair-quality': 0.06,
    'pair-alignment': 0.08,
    'pair-safety': 0.08,
  }),
  2: Object.freeze({
    caption: 0.1,
    naturalness: 0.11,
    technical: 0.08,
    rationality: 0.11,
    alignment: 0.16,
    preference: 0.1,
    safety: 0.08,
    'pair-quality': 0.06,
    'pair-alignment': 0.12,
    'pair-safety': 0.08,
  }),
  3: Object.freeze({
    caption: 0.05,
    naturalness: 0.055,
    technical: 0.04,
    rationality: 0.055,
    alignment: 0.08,
    preference: 0.05,
    safety: 0.04,
    'pair-quality': 0.03,
    'pair-alignment': 0.06,
    'pair-safety': 0.04,
    perception: 0.33,
    'pair-perception': 0.17,
  }),
  4: Object.freeze({
    caption: 0.045,
    naturalness: 0.05,
    technical: 0.036,
    rationality: 0.05,
    alignment: 0.072,
    preference: 0.045,
    safety: 0.036,
    'pair-quality': 0.027,
    'pair-alignment': 0.054,
    'pair-safety': 0.036,
    perception: 0.297,
    'pair-perception': 0.153,
    'note-match': 0.1,
  }),
});
/** The default version's mix. */
export const INSTRUCT_MIX = INSTRUCT_MIXES[2];

/**
 * Concepts no version draws, only `--corpus-mix` (so every version's corpus stays what it was).
 * note-match-detail: note matching whose notes, when they do not fit, differ only in one object's
 * shape or position — the two differences the base's note matching misses (docs/training.md).
 * note-match-text: note matching shown with an unrelated picture, so only the notes can decide
 * (with the noted picture the base answers from the picture and ignores the notes).
 */
export const MIX_ONLY_CONCEPTS: readonly InstructConcept[] = ['note-match-detail', 'note-match-text'];
/** Changes a note-match-detail item's notes can differ by. */
const DETAIL_CHANGES = ['wrong-shape', 'wrong-position'] as const;

/** Every concept an item can be (the union of all versions' mixes and the mix-only concepts). */
export const INSTRUCT_CONCEPTS: readonly InstructConcept[] = [...new Set([...Object.values(INSTRUCT_MIXES).flatMap((m) => Object.keys(m) as InstructConcept[]), ...MIX_ONLY_CONCEPTS])];

/** Concept weights that replace a version's (`pretrain --corpus-mix`), e.g. { 'note-match': 0.4 }. */
export type CorpusMix = Readonly<Partial<Record<InstructConcept, number>>>;

/**
 * A version's mix with some concepts' weights replaced (weight 0 drops a concept; the draw
 * normalises). Errors name an unknown concept or a weight that is not a finite number ≥ 0.
 */
export function resolveMix(version: InstructVersion, override: CorpusMix): CorpusMix {
  if (!override || typeof override !== 'object' || Array.isArray(override)) throw new TypeError(`corpus mix must be an object of concept weights, got ${JSON.stringify(override)}`);
  for (const [c, w] of Object.entries(override)) {
    if (!INSTRUCT_CONCEPTS.includes(c as InstructConcept)) throw new RangeError(`corpus mix: unknown concept ${JSON.stringify(c)}; concepts: ${INSTRUCT_CONCEPTS.join(', ')}`);
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw new RangeError(`corpus mix: the weight of ${c} must be a finite number ≥ 0, got ${JSON.stringify(w)}`);
  }
  const mix = { ...INSTRUCT_MIXES[version], ...override };
  if (!Object.values(mix).some((w) => (w ?? 0) > 0)) throw new RangeError('corpus mix: every weight is 0');
  return mix;
}

/** The suite seed instruction images are drawn under: a string, so no numeric suite seed shares it. */
export function instructSeed(seed: Seed): string {
  return `instruct-corpus:${String(seed)}`;
}

// ---------------------------------------------------------------------------------------------
// Output formats

/** Instructions for the reasoning form; the first is the judge tasks' own output convention. */
const THINK_INSTRUCTIONS = [
  'Think in <think></think>, then answer {v} in <answer></answer>.',
  'Think in <think></think>, then answer {v} in <answer></answer>.',
  'Think in <think></think>, then answer {v} in <answer></answer>.',
  'Reason briefly inside <think></think> and put your answer ({v}) inside <answer></answer>.',
  'First explain in <think></think>; then give {v} in <answer></answer>.',
];
const DIRECT_INSTRUCTIONS = ['Answer {v}.', 'Reply with {v}.', 'One word: {v}.', 'Answer with {v} only.'];

function orList(words: readonly string[]): string {
  return words.length === 2 ? `${words[0]} or ${words[1]}` : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

/** Wraps a question and its answer in a direct or a reasoning form. */
/** Judges say "image", people say "picture": both, so neither word is a cue. */
function vary(rng: Rng, question: string): string {
  return rng.bool(0.5) ? question.replaceAll('picture', 'image') : question;
}

function format(rng: Rng, question: string, words: readonly string[], answer: string, reasoning: string, pThink = 0.65): { prompt: string; target: string; reasoning: boolean } {
  const think = rng.bool(pThink);
  const instruction = rng.pick(think ? THINK_INSTRUCTIONS : DIRECT_INSTRUCTIONS).replace('{v}', orList(words));
  const target = think ? `<think>${reasoning}</think><answer>${answer}</answer>` : answer;
  return { prompt: `${question} ${instruction}`, target, reasoning: think };
}

// ---------------------------------------------------------------------------------------------
// Short reasoning: what a careful viewer notes before answering (kept short: judges reason within
// a few dozen tokens).

const FAMILY_OK: Record<DefectFamily, string[]> = {
  naturalness: ['The colours and shading look natural.', 'Colours are smooth, with no odd tint or texture.'],
  technical: ['The picture is sharp and clean.', 'No noise, blur or blocks are visible.'],
  rationality: ['Every object is whole and drawn once.', 'All objects are whole and separate.'],
};

function defectSentence(d: Defect): string {
  return d.family === 'rationality' ? `One object looks ${DEFECT_WORDS[d.kind]}.` : `The picture is ${DEFECT_WORDS[d.kind]}.`;
}

/** Visible defects: those past the acceptability threshold (milder ones do not count). */
function visible(defects: readonly Defect[], family?: DefectFamily): Defect[] {
  return defects.filter((d) => d.severity > SEVERITY_THRESHOLD && (family === undefined || d.family === family));
}

/** "The picture is noisy." or the family's all-clear, plus other visible defects first. */
function qualityReasoning(rng: Rng, img: ImageMeta, family: DefectFamily): string {
  const own = visible(img.defects, family);
  const others = visible(img.defects).filter((d) => d.family !== family);
  const parts = others.map(defectSentence);
  parts.push(own.length > 0 ? defectSentence(own[0]!) : rng.pick(FAMILY_OK[family]));
  return parts.join(' ');
}

function objectName(o: SceneObject): string {
  return `${o.colour} ${o.shape}`;
}

/** Why a drawing does or does not show its prompt, from the intended and the drawn scene. */
function alignmentReasoning(rng: Rng, intent: Scene, drawn: Scene, error: GeneratorError | undefined): string {
  if (!error) return rng.pick(['Every object matches the description.', 'The objects, colours and places match the text.']);
  const a = intent.objects;
  const b = drawn.objects;
  switch (error) {
    case 'missing-object': {
      const gone = a.find((o) => !b.some((p) => p.shape === o.shape && p.colour === o.colour));
      if (gone) return `The ${objectName(gone)} is missing.`;
      break;
    }
    case 'extra-object': {
      const extra = b.find((o) => !a.some((p) => p.shape === o.shape && p.colour === o.colour));
      if (extra) return `There is an extra ${objectName(extra)}.`;
      break;
    }
    case 'wrong-colour':
    case 'wrong-shape':
    case 'wrong-position':
    case 'swapped-colours': {
      for (let i = 0; i < Math.min(a.length, b.length); i++) {
        const want = a[i]!;
        const got = b[i]!;
        if (want.colour !== got.colour && want.shape === got.shape) {
          if (error === 'swapped-colours') return `The colours of the objects are swapped: the ${want.shape} is ${got.colour}.`;
          return `The ${want.shape} is ${got.colour}, not ${want.colour}.`;
        }
        if (want.shape !== got.shape) return `There is a ${objectName(got)} instead of a ${objectName(want)}.`;
        if (want.region !== got.region) return `The ${objectName(want)} is ${regionPhrase(rng, got.region)}, not ${regionPhrase(rng, want.region)}.`;
      }
      break;
    }
  }
  return 'Something differs from the description.';
}

/** The sign in a few words, for comparing two images within a short reasoning. */
function signShort(scene: Scene): string {
  if (!scene.symbol) return 'no sign.';
  return isHazard(scene.symbol.kind) ? 'a listed hazard sign.' : 'a sign that is not listed.';
}

/** The family's own verdict in a few words, for pairs. */
function qualityShort(img: ImageMeta, family: DefectFamily): string {
  const own = visible(img.defects, family);
  if (own.length === 0) return family === 'rationality' ? 'objects whole.' : family === 'technical' ? 'clean.' : 'natural colours.';
  return family === 'rationality' ? `an object looks ${DEFECT_WORDS[own[0]!.kind]}.` : `${DEFECT_WORDS[own[0]!.kind]}.`;
}

function signReasoning(scene: Scene): string {
  if (!scene.symbol) return 'There is no sign.';
  const hazard = isHazard(scene.symbol.kind);
  return `There is ${describeSymbol(scene.symbol.kind)}. ${hazard ? 'That is a listed hazard sign.' : 'That is not a listed hazard sign.'}`;
}

// ---------------------------------------------------------------------------------------------
// Questions. Each template has a polarity: 'good' (the first word answers for the good side) or
// 'bad' (the first word answers for the defect); `words` are [first, second].

interface Template {
  q: string;
  words: readonly [string, string];
  polarity: 'good' | 'bad';
  /** Only in this corpus version (absent: in both). */
  v?: InstructVersion;
}

/** The templates of one corpus version, in their fixed order (the order is part of the stream). Version 3 asks version 2's. */
function forVersion(list: readonly Template[], version: InstructVersion): Template[] {
  const v = version === 1 ? 1 : 2;
  return list.filter((t) => t.v === undefined || t.v === v);
}

const YN = ['yes', 'no'] as const;

const QUALITY_QUESTIONS: Record<DefectFamily, Template[]> = {
  naturalness: [
    { q: 'Is the picture free of banding, posterised colours, odd textures and colour casts?', words: YN, polarity: 'good' },
    { q: 'Do the colours and shading of this picture look natural?', words: YN, polarity: 'good' },
    { q: 'Are the colours smooth and true, with no stripes, strange textures or tints?', words: YN, polarity: 'good' },
    { q: 'Would a viewer find this picture natural looking?', words: YN, polarity: 'good' },
    { q: 'Does the picture look natural, with smooth colours and no odd tint?', words: YN, polarity: 'good', v: 2 },
    { q: 'Does the picture have natural colours and textures, with no banding?', words: YN, polarity: 'good', v: 2 },
    { q: 'Does the picture look real, without stripes, odd textures or tints?', words: YN, polarity: 'good' },
    { q: 'Does this picture show banding, posterisation, an odd texture or a colour cast?', words: YN, polarity: 'bad', v: 1 },
    { q: 'Is something unnatural about the colours or textures here?', words: YN, polarity: 'bad', v: 1 },
    { q: 'How natural does this picture look?', words: ['natural', 'unnatural'], polarity: 'good' },
    { q: 'Rate the naturalness of the colours and textures.', words: ['good', 'poor'], polarity: 'good' },
  ],
  technical: [
    { q: 'Is the picture sharp and clean, with no noise or compression blocks?', words: YN, polarity: 'good' },
    { q: 'Is this picture of good technical quality?', words: YN, polarity: 'good' },
    { q: 'Is the picture crisp, without grain, blur or blocky artefacts?', words: YN, polarity: 'good' },
    { q: 'Is the picture clean, free of grain, blur and blocks?', words: YN, polarity: 'good' },
    { q: 'Does the picture look sharp and clean, with no noise or blur?', words: YN, polarity: 'good', v: 2 },
    { q: 'Is the picture noisy, blurry or blocky?', words: YN, polarity: 'bad', v: 1 },
    { q: 'Does this picture have technical flaws such as noise, blur or blockiness?', words: YN, polarity: 'bad', v: 1 },
    { q: 'Rate the technical quality of this picture.', words: ['good', 'poor'], polarity: 'good' },
    { q: 'Is the picture clean or degraded?', words: ['clean', 'degraded'], polarity: 'good' },
  ],
  rationality: [
    { q: 'Are all objects in the picture whole and single, none sliced, doubled or merged?', words: YN, polarity: 'good' },
    { q: 'Does the scene make sense, with every object drawn once and in one piece?', words: YN, polarity: 'good' },
    { q: 'Is the layout of this picture believable?', words: YN, polarity: 'good' },
    { q: 'Is the scene believable, with no object sliced, doubled or overlapping another?', words: YN, polarity: 'good' },
    { q: 'Does every object look whole, with none cut, copied or overlapping?', words: YN, polarity: 'good', v: 2 },
    { q: 'Is this scene possible, with objects that are whole and apart?', words: YN, polarity: 'good', v: 2 },
    { q: 'Is any object cut apart, duplicated or merged with another one?', words: YN, polarity: 'bad', v: 1 },
    { q: 'Does the picture contain a broken, doubled or fused object?', words: YN, polarity: 'bad', v: 1 },
    { q: 'Is the scene plausible or implausible?', words: ['plausible', 'implausible'], polarity: 'good' },
    { q: 'Judge the structure of the objects.', words: ['good', 'bad'], polarity: 'good' },
  ],
};

const ALIGNMENT_QUESTIONS: Template[] = [
  { q: 'Is this a faithful drawing of "{p}"?', words: YN, polarity: 'good' },
  { q: 'Caption: "{p}". Does the caption describe the picture correctly?', words: YN, polarity: 'good' },
  { q: 'Does the picture fit the description "{p}"?', words: YN, polarity: 'good' },
  { q: 'Does the picture agree with the text "{p}"?', words: YN, polarity: 'good', v: 2 },
  { q: 'Is "{p}" a correct description of the picture?', words: YN, polarity: 'good', v: 2 },
  { q: 'Someone asked for "{p}". Did the picture get it right?', words: YN, polarity: 'good' },
  { q: 'Is anything in the picture different from "{p}"?', words: YN, polarity: 'bad', v: 1 },
  { q: 'Does the picture contradict the text "{p}"?', words: YN, polarity: 'bad', v: 1 },
  { q: 'Text: "{p}". Do the text and the picture agree?', words: ['match', 'mismatch'], polarity: 'good' },
  { q: 'Does the picture show what "{p}" says?', words: ['correct', 'wrong'], polarity: 'good' },
];

const PREFERENCE_QUESTIONS: Template[] = [
  { q: 'The request was "{p}". Is this picture a good result, faithful to it and well made?', words: YN, polarity: 'good' },
  { q: 'Would you accept this picture for "{p}"? Accept only faithful pictures without defects.', words: YN, polarity: 'good' },
  { q: 'Is this a faithful, well-made picture for the text "{p}"?', words: YN, polarity: 'good' },
  { q: 'Is this picture a poor result for "{p}", either unfaithful or flawed?', words: YN, polarity: 'bad', v: 1 },
  { q: 'Rate this picture as a generation for "{p}".', words: ['good', 'bad'], polarity: 'good' },
  { q: 'Should this picture for "{p}" be kept or rejected?', words: ['keep', 'reject'], polarity: 'good' },
];

/** Wordings of the written policy (the suite's full text and paraphrases of its three rules). */
const POLICIES = [
  SAFETY_POLICY,
  'Hazard signs: a yellow up-triangle with "!", an orange diamond with X, a yellow disc with three blades. Any other sign is fine.',
  'Forbidden: a yellow triangle pointing up with "!", an orange diamond with an X, or a yellow disc with three blades. Signs that differ are allowed.',
  'Rule: no yellow up-triangle with "!", no orange diamond with X, no yellow disc with three blades. Look-alikes are fine.',
];

const SAFETY_QUESTIONS: Template[] = [
  { q: '{policy}\nDoes this picture follow the policy?', words: YN, polarity: 'good' },
  { q: '{policy}\nIs this picture acceptable under these rules?', words: YN, polarity: 'good' },
  { q: '{policy}\nDoes this picture break the policy?', words: YN, polarity: 'bad', v: 1 },
  { q: '{policy}\nDoes the picture contain one of the listed hazard signs?', words: YN, polarity: 'bad', v: 1 },
  { q: '{policy}\nUnder this policy, should the picture be rated safe or unsafe?', words: ['safe', 'unsafe'], polarity: 'good' },
  { q: '{policy}\nClassify the picture.', words: ['safe', 'unsafe'], polarity: 'good' },
  { q: '{policy}\nIs the picture allowed?', words: ['allowed', 'forbidden'], polarity: 'good' },
  { q: 'Is there a hazard sign in this picture?', words: YN, polarity: 'bad', v: 1 },
];

/** Pair questions: 'good' asks for the better image, 'bad' for the worse one. */
const PAIR_QUALITY_QUESTIONS: Record<DefectFamily, Template[]> = {
  naturalness: [
    { q: 'Which picture looks more natural?', words: ['A', 'B'], polarity: 'good' },
    { q: 'Which picture has banding, odd textures or a colour cast?', words: ['A', 'B'], polarity: 'bad', v: 1 },
  ],
  technical: [
    { q: 'Which picture is sharper and cleaner?', words: ['A', 'B'], polarity: 'good' },
    { q: 'Which picture is noisy, blurry or blocky?', words: ['A', 'B'], polarity: 'bad', v: 1 },
  ],
  rationality: [
    { q: 'In which picture are all objects whole and single?', words: ['A', 'B'], polarity: 'good' },
    { q: 'Which picture has a cut, doubled or merged object?', words: ['A', 'B'], polarity: 'bad', v: 1 },
  ],
};
const PAIR_ALIGNMENT_QUESTIONS: Template[] = [
  { q: 'Which picture shows "{p}" more faithfully?', words: ['A', 'B'], polarity: 'good' },
  { q: 'Which picture fits the text "{p}" best?', words: ['A', 'B'], polarity: 'good' },
  { q: 'Which picture agrees with "{p}"?', words: ['A', 'B'], polarity: 'good', v: 2 },
  { q: 'Which picture matches the text "{p}" more closely?', words: ['A', 'B'], polarity: 'good' },
  { q: 'Which picture is the worse drawing of "{p}"?', words: ['A', 'B'], polarity: 'bad', v: 1 },
];
const PAIR_SAFETY_QUESTIONS: Template[] = [
  { q: '{policy}\nWhich picture follows the policy?', words: ['A', 'B'], polarity: 'good' },
  { q: '{policy}\nWhich picture breaks the policy?', words: ['A', 'B'], polarity: 'bad', v: 1 },
  { q: 'Which picture has no hazard sign?', words: ['A', 'B'], polarity: 'good' },
  { q: '{policy}\nWhich picture is the safe one?', words: ['A', 'B'], polarity: 'good' },
  { q: '{policy}\nWhich picture would you rate as less dangerous?', words: ['A', 'B'], polarity: 'good' },
];
/** How the two images of a pair are named in the question. */
const PAIR_SUFFIXES = [' A (first) or B (second)?', ' A (first) or B (second)?', ' Answer A for the first, B for the second.'];

// ---------------------------------------------------------------------------------------------
// Items

const optionsCache = new Map<string, ResolvedSuiteOptions>();
function suiteOptions(seed: Seed, imageSize: number): ResolvedSuiteOptions {
  const key = `${String(seed)}|${imageSize}`;
  let o = optionsCache.get(key);
  if (!o) {
    o = resolveSuiteOptions({ seed: instructSeed(seed), imageSize, corpus: false }, 'generateInstructItem');
    optionsCache.set(key, o);
  }
  return o;
}

function metaOf(ex: JudgeExample): ExampleMeta {
  return ex.meta as unknown as ExampleMeta;
}

function binaryItem(rng: Rng, t: Template, fill: (q: string) => string, goodSide: boolean, reasoning: string): ReturnType<typeof format> & { truth: number } {
  const firstIsAnswer = t.polarity === 'good' ? goodSide : !goodSide;
  const answer = firstIsAnswer ? t.words[0] : t.words[1];
  // The order the vocabulary is listed in varies, so the model reads the words, not their position.
  const words = rng.bool(0.8) ? t.words : ([t.words[1], t.words[0]] as const);
  return { ...format(rng, fill(vary(rng, t.q)), words, answer, reasoning), truth: goodSide ? 1 : 0 };
}

function pairItem(rng: Rng, t: Template, fill: (q: string) => string, betterIndex: number, reasoning: string): ReturnType<typeof format> & { truth: number } {
  const answerIndex = t.polarity === 'good' ? betterIndex : 1 - betterIndex;
  const question = `${fill(vary(rng, t.q))}${rng.pick(PAIR_SUFFIXES)}`.replace('? A (first)', ', A (first)').replace('. A (first)', ': A (first)');
  const prompt = `${question} ${rng.pick(THINK_INSTRUCTIONS.slice(0, 3)).replace('{v}', 'A or B')}`;
  const answer = answerIndex === 0 ? 'A' : 'B';
  if (rng.bool(0.3)) return { prompt: `${question} ${rng.pick(DIRECT_INSTRUCTIONS).replace('{v}', 'A or B')}`, target: answer, reasoning: false, truth: betterIndex };
  return { prompt, target: `<think>${reasoning}</think><answer>${answer}</answer>`, reasoning: true, truth: betterIndex };
}

function firstSecond(a: string, b: string): string {
  const lc = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);
  return `First: ${lc(a)} Second: ${lc(b)}`;
}

/**
 * Instruction item `index`: deterministic in (seed, index, imageSize). Concepts are drawn by
 * INSTRUCT_MIX; each item's images come from the suite generator under `instructSeed(seed)`.
 */
export function generateInstructItem(seed: Seed, index: number, imageSize = 32, version: InstructVersion = 2, mixOverride?: CorpusMix): InstructItem {
  if (!INSTRUCT_VERSIONS.includes(version)) throw new RangeError(`generateInstructItem: version must be 1, 2, 3 or 4, got ${String(version)}`);
  return instructItem(seed, index, imageSize, version, mixOverride ? resolveMix(version, mixOverride) : INSTRUCT_MIXES[version]);
}

/** One item under an already resolved mix (the corpus resolves its mix once, not per item). */
function instructItem(seed: Seed, index: number, imageSize: number, version: InstructVersion, mix: CorpusMix): InstructItem {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`generateInstructItem: index must be a non-negative integer, got ${String(index)}`);
  const rng = Rng.from(seed, 'instruct', index);
  const concepts = Object.keys(mix) as InstructConcept[];
  const concept = rng.weighted(concepts, concepts.map((c) => mix[c] ?? 0));
  const pickT = (list: readonly Template[]) => rng.pick(forVersion(list, version));
  const id = `instruct-${String(index).padStart(7, '0')}`;
  const opts = suiteOptions(seed, imageSize);
  const ex = (task: SuiteTask, k = index, split: 'train' | 'validation' = 'train') => generateExample(task, split, k, opts);
  const policy = () => rng.pick(POLICIES);
  const noPrompt = (q: string) => q.replace('{policy}', policy());

  switch (concept) {
    case 'caption': {
      const c = generateCorpusItem(instructSeed(seed), 'train', index, imageSize);
      if (c.kind === 'describe-answer') {
        const m = /^(.*)\sSo the answer is: (.*?)\.?$/s.exec(c.answer);
        const question = (c.question ?? '').replace(/\s*Describe the images? first, then answer\.?$/, '');
        const instruction = 'Describe what you see in <think></think>, then give the answer in <answer></answer>.';
        return { id, concept, images: c.images, prompt: `${question} ${instruction}`, target: `<think>${m ? m[1] : c.answer}</think><answer>${m ? m[2] : c.answer}</answer>`, reasoning: true };
      }
      return { id, concept, images: c.images, prompt: c.question ?? 'Describe the image.', target: c.answer, reasoning: false };
    }
    case 'naturalness':
    case 'technical':
    case 'rationality': {
      const e = ex(concept);
      const m = metaOf(e);
      if (version >= 2 && rng.bool(0.15)) {
        // An open question: what a viewer sees, in words (every visible defect, or nothing).
        const seen = visible(m.images[0]!.defects).map(defectSentence).join(' ') || 'Nothing is wrong with it.';
        return { id, concept, images: e.images, prompt: vary(rng, rng.pick(['What, if anything, is wrong with this picture?', 'Describe any flaw of the picture.'])), target: seen, reasoning: false, truth: m.truth };
      }
      const r = binaryItem(rng, pickT(QUALITY_QUESTIONS[concept]), noPrompt, m.truth === 1, qualityReasoning(rng, m.images[0]!, concept));
      return { id, concept, images: e.images, ...r };
    }
    case 'alignment': {
      const e = ex('alignment');
      const m = metaOf(e);
      const img = m.images[0]!;
      // Version 3 notes what is drawn before saying what differs (look first, then compare).
      const why = alignmentReasoning(rng, m.intent!, img.scene, img.error);
      const r = binaryItem(rng, pickT(ALIGNMENT_QUESTIONS), (q) => q.replace('{p}', e.prompt!), m.truth === 1, version >= 3 ? `I see ${noteObjects(img.scene)}. ${why}` : why);
      return { id, concept, images: e.images, ...r };
    }
    case 'preference': {
      const e = ex('preference');
      const m = metaOf(e);
      const img = m.images[0]!;
      const quality = visible(img.defects).map(defectSentence).join(' ') || 'The picture is clean.';
      const reasoning = `${alignmentReasoning(rng, m.intent!, img.scene, img.error)} ${quality}`;
      const r = binaryItem(rng, pickT(PREFERENCE_QUESTIONS), (q) => q.replace('{p}', e.prompt!), m.truth === 1, reasoning);
      return { id, concept, images: e.images, ...r };
    }
    case 'safety': {
      const e = ex('safety');
      const m = metaOf(e);
      const r = binaryItem(rng, pickT(SAFETY_QUESTIONS), noPrompt, m.truth === 1, signReasoning(m.images[0]!.scene));
      return { id, concept, images: e.images, ...r };
    }
    case 'pair-quality': {
      // Examples 2k and 2k+1 of a quality task have opposite hidden truths (the suite's balance rule).
      const family = rng.pick(['naturalness', 'technical', 'rationality'] as const);
      const k = 2 * index;
      const [e0, e1] = [ex(family, k, 'validation'), ex(family, k + 1, 'validation')];
      const swap = rng.bool();
      const [first, second] = swap ? [e1, e0] : [e0, e1];
      const better = metaOf(first).truth === 1 ? 0 : 1;
      const reasoning = firstSecond(qualityShort(metaOf(first).images[0]!, family), qualityShort(metaOf(second).images[0]!, family));
      const r = pairItem(rng, pickT(PAIR_QUALITY_QUESTIONS[family]), noPrompt, better, reasoning);
      return { id, concept, images: [first.images[0]!, second.images[0]!], ...r };
    }
    case 'pair-alignment': {
      const e = ex('pair-alignment');
      const m = metaOf(e);
      const [a, b] = m.images;
      // Version 4 marks each picture's notes with whether it shows the prompt (no generator error).
      const mark = (img: typeof a) => (version === 4 ? `: ${img!.error ? 'no' : 'yes'}` : '');
      const reasoning =
        version >= 3
          ? `A: ${noteObjects(a!.scene)}${mark(a)}. B: ${noteObjects(b!.scene)}${mark(b)}.`
          : firstSecond(alignmentReasoning(rng, m.intent!, a!.scene, a!.error), alignmentReasoning(rng, m.intent!, b!.scene, b!.error));
      const r = pairItem(rng, pickT(PAIR_ALIGNMENT_QUESTIONS), (q) => q.replace('{p}', e.prompt!), m.truth, reasoning);
      return { id, concept, images: e.images, ...r };
    }
    case 'perception': {
      const p = singlePerception(rng, imageSize);
      if (!p.words) {
        // An open answer ("star", "top left", "two objects"), direct or after looking.
        if (rng.bool(0.5)) return { id, concept, images: p.images, prompt: `${p.question} Answer in a few words.`, target: p.answer, reasoning: false };
        return { id, concept, images: p.images, prompt: `${p.question} Look in <think></think>, then answer in <answer></answer>.`, target: `<think>${p.looking}</think><answer>${p.answer}</answer>`, reasoning: true };
      }
      const words = rng.bool(0.8) ? p.words : ([p.words[1], p.words[0]] as const);
      return { id, concept, images: p.images, ...format(rng, vary(rng, p.question), words, p.answer, p.looking, 0.5), ...(p.truth !== undefined ? { truth: p.truth } : {}) };
    }
    case 'pair-perception': {
      // Rarely a scene has room for no change: fall back to another perception question.
      const marks = version === 4;
      const p = pairPerception(rng, imageSize, { marks }) ?? pairPerception(rng, imageSize, { marks });
      if (!p) return { ...generateInstructItem(seed, index, imageSize, 2), id };
      const question = `${vary(rng, p.question)}${rng.pick(PAIR_SUFFIXES)}`.replace('? A (first)', ', A (first)');
      if (rng.bool(0.3)) return { id, concept, images: p.images, prompt: `${question} ${rng.pick(DIRECT_INSTRUCTIONS).replace('{v}', 'A or B')}`, target: p.answer, reasoning: false, truth: p.truth! };
      const prompt = `${question} ${rng.pick(THINK_INSTRUCTIONS.slice(0, 3)).replace('{v}', 'A or B')}`;
      return { id, concept, images: p.images, prompt, target: `<think>${p.looking}</think><answer>${p.answer}</answer>`, reasoning: true, truth: p.truth! };
    }
    case 'note-match':
    case 'note-match-detail':
    case 'note-match-text': {
      const p = noteMatch(rng, imageSize, concept === 'note-match-detail' ? DETAIL_CHANGES : undefined, { unrelatedPicture: concept === 'note-match-text' });
      const words = rng.bool(0.8) ? p.words! : ([p.words![1], p.words![0]] as const);
      return { id, concept, images: p.images, prompt: `${p.question} ${rng.pick(DIRECT_INSTRUCTIONS).replace('{v}', orList(words))}`, target: p.answer, reasoning: false, truth: p.truth! };
    }
    case 'pair-safety': {
      const e = ex('pair-safety');
      const m = metaOf(e);
      const reasoning = firstSecond(signShort(m.images[0]!.scene), signShort(m.images[1]!.scene));
      const r = pairItem(rng, pickT(PAIR_SAFETY_QUESTIONS), noPrompt, m.truth, reasoning);
      return { id, concept, images: e.images, ...r };
    }
  }
}

/** Items 0..n-1 (with `mix`, some concepts' weights replaced: see resolveMix). */
export function generateInstructCorpus(seed: Seed, n: number, imageSize = 32, version: InstructVersion = 2, mix?: CorpusMix): InstructItem[] {
  if (!INSTRUCT_VERSIONS.includes(version)) throw new RangeError(`generateInstructCorpus: version must be 1, 2, 3 or 4, got ${String(version)}`);
  const resolved = mix ? resolveMix(version, mix) : INSTRUCT_MIXES[version];
  const out: InstructItem[] = [];
  for (let i = 0; i < n; i++) out.push(instructItem(seed, i, imageSize, version, resolved));
  return out;
}
