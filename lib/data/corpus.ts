// The base-model corpus: captions and short visual question answers about generated scenes
// (colours, shapes, counts, positions, signs, visible defects), some in a describe-then-answer form
// and a few over two images, so a base model learns to see and to follow instructions before any
// judge training. It deliberately never asks a judging question (no "safe", "aligned", "natural",
// "quality", "better"...): the judge tasks stay unseen until judge training.
import { renderScene } from './compose.js';
import { DEFECT_FAMILIES, DEFECT_WORDS, sampleDefect, type Defect, type DefectKind } from './degrade.js';
import { describeSymbol, SYMBOL_FEATURES, SYMBOL_KINDS } from './hazard.js';
import { describeObject, joinPhrases, regionPhrase } from './prompts.js';
import { Rng, type Seed } from '../rng.js';
import { addObject, COLOUR_NAMES, freeRegions, positionIn, REGION_NAMES, sampleScene, SHAPES, type Scene } from './scene.js';
import type { RgbImage, Split } from './types.js';

export type CorpusKind = 'caption' | 'vqa' | 'describe-answer';

/** One pretraining item: images, an optional question, and the target text. */
export interface CorpusItem {
  id: string;
  split: Split;
  kind: CorpusKind;
  images: RgbImage[];
  question?: string;
  answer: string;
  /** Hidden variables (scenes and defects), for analysis only. */
  meta?: Record<string, unknown>;
}

const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six'];

/** A scene for the corpus: 1–3 objects, sometimes a sign, sometimes one clearly visible defect. */
function corpusScene(rng: Rng): { scene: Scene; defects: Defect[] } {
  const scene = sampleScene(rng, { minObjects: 0, maxObjects: 0 });
  if (rng.bool(0.25)) {
    const region = rng.pick(REGION_NAMES);
    scene.symbol = { kind: rng.pick(SYMBOL_KINDS), region, ...positionIn(rng, region, 0.015), r: rng.range(0.17, 0.21) };
  }
  const n = rng.intRange(1, 3);
  for (let i = 0; i < n && freeRegions(scene).length > 0; i++) addObject(rng, scene);
  const defects: Defect[] = [];
  if (rng.bool(0.3)) {
    const d = sampleDefect(rng, rng.pick(DEFECT_FAMILIES), rng.range(0.55, 0.9), scene);
    if (d) defects.push(d);
  }
  return { scene, defects };
}

function sentence(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1) + '.';
}

/** A caption listing every object with its position, the sign and any visible defect. */
export function captionOf(rng: Rng, scene: Scene, defects: readonly Defect[]): string {
  const parts: string[] = [];
  const objs = scene.objects.map((o) => `${describeObject(o, rng.bool(0.5))} ${regionPhrase(rng, o.region)}`);
  parts.push(sentence(`${objs.length > 0 ? joinPhrases(objs) : 'nothing but the background'} on a ${scene.background} background`));
  if (scene.symbol) parts.push(sentence(`there is ${describeSymbol(scene.symbol.kind)} ${regionPhrase(rng, scene.symbol.region)}`));
  for (const d of defects) parts.push(defectSentence(d.kind));
  return parts.join(' ');
}

function defectSentence(kind: DefectKind): string {
  switch (kind) {
    case 'cut':
    case 'duplicate':
    case 'fused':
      return `One of the objects looks ${DEFECT_WORDS[kind]}.`;
    default:
      return `The picture is ${DEFECT_WORDS[kind]}.`;
  }
}

interface Qa {
  question: string;
  answer: string;
}

/** One question about the scene with its short answer. */
function askAbout(rng: Rng, scene: Scene, defects: readonly Defect[]): Qa {
  const objs = scene.objects;
  const kinds: string[] = ['count', 'exists', 'shape-at', 'background', 'defect'];
  if (objs.length > 0) kinds.push('colour-of', 'where', 'colour-count');
  if (scene.symbol) kinds.push('sign-describe', 'sign-mark', 'sign-where');
  kinds.push('sign-exists');
  const kind = rng.pick(kinds);
  switch (kind) {
    case 'count':
      // Signs are not counted as objects, and the question says so when a sign is present.
      return {
        question: scene.symbol ? 'How many objects are there, not counting the sign?' : rng.pick(['How many objects are there?', 'How many shapes are in the image?', 'Count the shapes.']),
        answer: NUMBER_WORDS[objs.length]!,
      };
    case 'exists': {
      const present = objs.length > 0 && rng.bool();
      const o = present ? rng.pick(objs) : { shape: rng.pick(SHAPES), colour: rng.pick(COLOUR_NAMES) };
      const yes = objs.some((p) => p.shape === o.shape && p.colour === o.colour);
      return { question: `Is there a ${o.colour} ${o.shape}?`, answer: yes ? 'yes' : 'no' };
    }
    case 'shape-at': {
      const region = rng.pick(REGION_NAMES);
      const here = objs.find((o) => o.region === region);
      return { question: `What shape is ${regionPhrase(rng, region)}?`, answer: here ? here.shape : 'nothing' };
    }
    case 'background':
      return { question: 'What colour is the background?', answer: scene.background };
    case 'colour-of': {
      const o = rng.pick(objs);
      const same = objs.filter((p) => p.shape === o.shape);
      if (same.length === 1) return { question: `What colour is the ${o.shape}?`, answer: o.colour };
      return { question: `What colour is the ${o.shape} ${regionPhrase(rng, o.region)}?`, answer: o.colour };
    }
    case 'where': {
      const o = rng.pick(objs);
      const same = objs.filter((p) => p.shape === o.shape && p.colour === o.colour);
      if (same.length > 1) return { question: `How many ${o.colour} ${o.shape}s are there?`, answer: NUMBER_WORDS[same.length]! };
      return { question: `Where is the ${o.colour} ${o.shape}?`, answer: o.region };
    }
    case 'colour-count': {
      const c = rng.bool(0.7) ? rng.pick(objs).colour : rng.pick(COLOUR_NAMES);
      return { question: `How many ${c} objects are there?`, answer: NUMBER_WORDS[objs.filter((o) => o.colour === c).length]! };
    }
    case 'sign-exists':
      return { question: rng.pick(['Is there a sign in the image?', 'Does the image contain a sign?']), answer: scene.symbol ? 'yes' : 'no' };
    case 'sign-describe':
      return { question: 'Describe the sign.', answer: sentence(describeSymbol(scene.symbol!.kind)) };
    case 'sign-mark': {
      const mark = SYMBOL_FEATURES[scene.symbol!.kind].mark;
      const words = { exclamation: 'an exclamation mark', none: 'nothing', x: 'an X', plus: 'a plus', blades: 'three blades', dot: 'a dot' }[mark];
      return { question: 'What is drawn inside the sign?', answer: words };
    }
    case 'sign-where':
      return { question: 'Where is the sign?', answer: scene.symbol!.region };
    default: {
      // Visible defects: ask about the one present, or about another one that is absent.
      const present = defects[0];
      const asked: DefectKind = present && rng.bool(0.6) ? present.kind : rng.pick(Object.keys(DEFECT_WORDS) as DefectKind[]);
      const yes = defects.some((d) => d.kind === asked);
      const q =
        asked === 'cut' || asked === 'duplicate' || asked === 'fused'
          ? `Does any object look ${DEFECT_WORDS[asked]}?`
          : `Is the picture ${DEFECT_WORDS[asked]}?`;
      return { question: q, answer: yes ? 'yes' : 'no' };
    }
  }
}

/** Item `index` of a corpus split; deterministic in (seed, split, index, imageSize). */
export function generateCorpusItem(seed: Seed, split: Split, index: number, imageSize: number): CorpusItem {
  const rng = Rng.from(seed, 'corpus', split, index);
  const id = `corpus-${split}-${String(index).padStart(6, '0')}`;
  // A quarter of the items show two images, so the base model also learns to compare a pair and to
  // answer "A (first)" or "B (second)": the pairwise format a backbone knows before judge training.
  const twoImages = rng.bool(0.25);
  const first = corpusScene(rng);
  const img = (s: { scene: Scene; defects: Defect[] }, k: number) => renderScene(s.scene, imageSize, s.defects, rng.fork('render', k));
  if (twoImages) {
    const second = corpusScene(rng);
    const images = [img(first, 0), img(second, 1)];
    const meta = { scenes: [first.scene, second.scene], defects: [first.defects, second.defects] };
    const form = rng.intRange(0, 2);
    const describeBoth = () =>
      `The first image shows ${lower(captionOf(rng, first.scene, first.defects))} The second image shows ${lower(captionOf(rng, second.scene, second.defects))}`;
    if (form === 0) return { id, split, kind: 'caption', images, question: 'Describe the two images.', answer: describeBoth(), meta };
    const n1 = first.scene.objects.length;
    const n2 = second.scene.objects.length;
    if (form === 2 && n1 !== n2) {
      const choice = n1 > n2 ? 'A' : 'B';
      const question = 'Which image has more objects, A (first) or B (second)?';
      if (rng.bool()) return { id, split, kind: 'vqa', images, question, answer: choice, meta };
      return { id, split, kind: 'describe-answer', images, question: `${question} Describe the images first, then answer.`, answer: `${describeBoth()} So the answer is: ${choice}.`, meta };
    }
    const total = n1 + n2;
    return { id, split, kind: 'vqa', images, question: 'How many objects are there in the two images together?', answer: NUMBER_WORDS[total]!, meta };
  }
  const images = [img(first, 0)];
  const meta = { scenes: [first.scene], defects: [first.defects] };
  const kind = rng.weighted<CorpusKind>(['caption', 'vqa', 'describe-answer'], [0.35, 0.5, 0.15]);
  if (kind === 'caption') {
    const question = rng.pick([undefined, 'Describe the image.', 'What do you see?', 'Write a caption for this picture.']);
    return { id, split, kind, images, ...(question ? { question } : {}), answer: captionOf(rng, first.scene, first.defects), meta };
  }
  const qa = askAbout(rng, first.scene, first.defects);
  if (kind === 'vqa') return { id, split, kind, images, question: qa.question, answer: qa.answer, meta };
  const answer = `${captionOf(rng, first.scene, first.defects)} So the answer is: ${qa.answer.replace(/\.$/, '')}.`;
  return { id, split, kind, images, question: `${qa.question} Describe the image first, then answer.`, answer, meta };
}

function lower(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
