// Perception items for the base model's third pretraining stage (instruction corpus version 3).
// The probe (scripts/perception-probe.ts) showed the two-stage base names an object's colour but
// guesses its shape and place, so it cannot tell a drawing with a wrong shape, a moved, missing or
// extra object from a faithful one. These items ask exactly that, with hard negatives: "Is there a
// red star?" when the picture has a red circle; "Is the red star at the top?" when it is on the left;
// and, over two pictures, "Which picture has a red star at the top?" when the other one shows the
// same text with one thing changed. The short reasoning lists what each picture shows before the
// answer (look first, then compare), a chain a small model can follow.
//
// Scenes are sampled from the item's own rng (under the corpus' instruct seed), never from a suite
// split; no wording here is a judge task's question (test/instruct-corpus.test.ts).
import { renderScene } from './compose.js';
import { applyGeneratorError, describeObject, joinPhrases, regionPhrase, withArticle, type GeneratorError } from './prompts.js';
import type { Rng } from '../rng.js';
import { cloneScene, coloursFor, REGION_NAMES, sampleScene, SHAPES, type Scene, type SceneObject } from './scene.js';
import type { RgbImage } from './types.js';

/** A perception item before the output format is chosen: question, closed answer and what to note first. */
export interface PerceptionQa {
  images: RgbImage[];
  question: string;
  /** The answer vocabulary, first word first (yes/no, A/B, or undefined for an open answer). */
  words?: readonly [string, string];
  answer: string;
  /** What a careful viewer notes before answering: the objects of each picture. */
  looking: string;
  /** 1 when the closed question's answer is the first word (pairs: index of the picture asked for). */
  truth?: number;
  /** What was asked and what is drawn (for tests and analysis; not shown to the model). */
  kind: 'spot' | 'place' | 'shape-of' | 'where' | 'count' | 'pair' | 'notes';
  scenes: Scene[];
  /** The object asked about (spot, place: with the region asked about). */
  asked?: { shape: string; colour: string; region?: string };
  /** Pairs: the scene the question describes. */
  intent?: Scene;
  /** Pairs: what the other picture changes. */
  change?: GeneratorError;
}

const NUMBER_WORDS = ['no objects', 'one object', 'two objects', 'three objects', 'four objects'];

/** "a red star at the top left and a blue circle in the middle" (or "nothing but the background"). */
export function listObjects(rng: Rng, scene: Scene): string {
  if (scene.objects.length === 0) return 'nothing but the background';
  return joinPhrases(scene.objects.map((o) => `${describeObject(o)} ${regionPhrase(rng, o.region)}`));
}

/**
 * The same list in note form, "red star top left, blue circle center" ("nothing"): judges generate
 * at most 48 tokens, so the reasoning of two pictures must fit in about 30.
 */
export function noteObjects(scene: Scene): string {
  if (scene.objects.length === 0) return 'nothing';
  return scene.objects.map((o) => `${o.colour} ${o.shape} ${o.region}`).join(', ');
}

/** A clean scene of 1–3 objects and its rendering. */
function scenePicture(rng: Rng, imageSize: number): { scene: Scene; image: RgbImage } {
  const scene = sampleScene(rng, { minObjects: 1, maxObjects: 3 });
  return { scene, image: renderScene(scene, imageSize) };
}

const has = (scene: Scene, shape: string, colour: string) => scene.objects.some((o) => o.shape === shape && o.colour === colour);

/** An object the scene does not have, one attribute away from one it has (a hard negative). */
function nearMiss(rng: Rng, scene: Scene, o: SceneObject): { shape: string; colour: string } {
  for (let attempt = 0; attempt < 8; attempt++) {
    const changeShape = rng.bool(0.6);
    const shape = changeShape ? rng.pick(SHAPES.filter((s) => s !== o.shape)) : o.shape;
    const colour = changeShape ? o.colour : rng.pick(coloursFor(scene.background).filter((c) => c !== o.colour));
    if (colour !== undefined && !has(scene, shape, colour)) return { shape, colour };
  }
  return { shape: rng.pick(SHAPES.filter((s) => s !== o.shape)), colour: o.colour };
}

/** One single-picture perception question with a hard negative half of the time. */
export function singlePerception(rng: Rng, imageSize: number): PerceptionQa {
  const { scene, image } = scenePicture(rng, imageSize);
  const looking = `I see ${noteObjects(scene)}.`;
  const o = rng.pick(scene.objects);
  const unique = scene.objects.filter((p) => p.colour === o.colour).length === 1;
  const kind = rng.weighted(['spot', 'place', 'shape-of', 'where', 'count'] as const, [0.32, 0.28, unique ? 0.16 : 0, 0.16, 0.08]);
  const scenes = [scene];
  const YN = ['yes', 'no'] as const;
  switch (kind) {
    case 'spot': {
      const present = rng.bool();
      const asked = present ? o : nearMiss(rng, scene, o);
      const q = rng.pick(['Is there {o} in the picture?', 'Does the picture contain {o}?', 'Can you see {o} here?']);
      return { kind, scenes, asked: { shape: asked.shape, colour: asked.colour }, images: [image], question: q.replace('{o}', withArticle(`${asked.colour} ${asked.shape}`)), words: YN, answer: present ? 'yes' : 'no', looking, truth: present ? 1 : 0 };
    }
    case 'place': {
      const right = rng.bool();
      const region = right ? o.region : rng.pick(REGION_NAMES.filter((r) => r !== o.region));
      const q = rng.pick(['Is the {o} {where}?', 'Look at the {o}: is it {where}?']);
      const question = q.replace('{o}', `${o.colour} ${o.shape}`).replace('{where}', regionPhrase(rng, region));
      return { kind, scenes, asked: { shape: o.shape, colour: o.colour, region }, images: [image], question, words: YN, answer: right ? 'yes' : 'no', looking, truth: right ? 1 : 0 };
    }
    case 'shape-of':
      return { kind, scenes, images: [image], question: rng.pick([`What shape is the ${o.colour} object?`, `Name the shape of the ${o.colour} object.`]), answer: o.shape, looking };
    case 'where': {
      const q = rng.pick([`Where is the ${o.colour} ${o.shape}?`, `In which part of the picture is the ${o.colour} ${o.shape}?`]);
      return { kind, scenes, images: [image], question: q, answer: regionPhrase(rng, o.region).replace(/^(at|in|on|near) the /, ''), looking };
    }
    default:
      return { kind, scenes, images: [image], question: rng.pick(['How many objects does the picture show?', 'Count the objects in the picture.']), answer: NUMBER_WORDS[scene.objects.length]!, looking };
  }
}

/** Generator errors a pair can differ by, each one visible thing. */
const PAIR_CHANGES: readonly GeneratorError[] = ['wrong-colour', 'wrong-shape', 'wrong-position', 'missing-object', 'extra-object', 'swapped-colours'];

/**
 * Two pictures, one showing a description and one with a single thing changed, in random order:
 * "Which picture has …?" (A/B). Returns undefined when the scene has room for no change.
 */
export function pairPerception(rng: Rng, imageSize: number, opts: { marks?: boolean } = {}): PerceptionQa | undefined {
  const intent = sampleScene(rng, { minObjects: 1, maxObjects: 3 });
  const change = rng.pick(PAIR_CHANGES);
  const changed = applyGeneratorError(rng, intent, change);
  if (!changed) return undefined;
  const faithful = cloneScene(intent);
  const firstIsFaithful = rng.bool();
  const scenes = firstIsFaithful ? [faithful, changed.scene] : [changed.scene, faithful];
  const text = listObjects(rng, intent);
  const q = rng.pick(['Which picture has {t}?', 'Which picture shows exactly {t}?', 'In which picture is there {t}?']).replace('{t}', text);
  // With marks (corpus version 4) each picture's notes end with whether they fit the question, so the
  // answer copies a decision made next to one picture's notes instead of comparing three lists at once.
  const mark = (k: number) => (opts.marks ? `: ${(k === 0) === firstIsFaithful ? 'yes' : 'no'}` : '');
  const looking = `A: ${noteObjects(scenes[0]!)}${mark(0)}. B: ${noteObjects(scenes[1]!)}${mark(1)}.`;
  return {
    kind: 'pair',
    scenes,
    intent,
    change,
    images: scenes.map((s) => renderScene(s, imageSize)),
    question: q,
    words: ['A', 'B'],
    answer: firstIsFaithful ? 'A' : 'B',
    looking,
    truth: firstIsFaithful ? 0 : 1,
  };
}

/**
 * Corpus version 4: the notes of a picture, in the judges' note form (the picture comes with them,
 * since every item has one), and a description that fits them or differs by one visible change —
 * "do the notes fit?". Trains the comparison a judge makes after noting what it sees, with the
 * whole loss on the decision.
 */
export function noteMatch(rng: Rng, imageSize: number, changes: readonly GeneratorError[] = PAIR_CHANGES, opts: { unrelatedPicture?: boolean } = {}): PerceptionQa {
  const intent = sampleScene(rng, { minObjects: 1, maxObjects: 3 });
  const change = rng.pick(changes);
  const changed = rng.bool() ? applyGeneratorError(rng, intent, change) : undefined;
  const noted = changed?.scene ?? intent;
  const question = rng
    .pick(['Notes: {n}. Do these notes fit {t}?', 'Someone noted: {n}. Is that {t}?', 'A picture was noted as: {n}. Does it show {t}?'])
    .replace('{n}', noteObjects(noted))
    .replace('{t}', listObjects(rng, intent));
  // With the noted picture the answer can be read off the picture instead of the notes (the shipped
  // base does exactly that: docs/training.md); an unrelated picture leaves only the notes to compare.
  const picture = opts.unrelatedPicture ? sampleScene(rng, { minObjects: 1, maxObjects: 3 }) : noted;
  return { kind: 'notes', scenes: [noted], intent, ...(changed ? { change } : {}), images: [renderScene(picture, imageSize)], question, words: ['yes', 'no'], answer: changed ? 'no' : 'yes', looking: '', truth: changed ? 0 : 1 };
}
