// Text-to-image prompts written from an intended scene, and the "generator errors" a T2I model makes
// when it draws that prompt: wrong colour, wrong shape, wrong position, a missing or an extra object,
// or colours bound to the wrong objects. The alignment, preference and pair-alignment tasks are built
// from (prompt, image with or without an error).
import type { Rng } from '../rng.js';
import {
  addObject,
  cloneScene,
  coloursFor,
  freeRegions,
  isClean,
  positionIn,
  SHAPES,
  type Region,
  type Scene,
  type SceneObject,
} from './scene.js';

export const GENERATOR_ERRORS = ['wrong-colour', 'wrong-shape', 'wrong-position', 'missing-object', 'extra-object', 'swapped-colours'] as const;
export type GeneratorError = (typeof GENERATOR_ERRORS)[number];

/**
 * Latent 1..5 alignment of an image that shows each error once: a missing object is worst, an extra
 * one is the mildest (the prompt is still all there). Faithful images sit at 4.6..5.
 */
export const ERROR_QUALITY: Record<GeneratorError, number> = {
  'missing-object': 1.6,
  'wrong-shape': 2.0,
  'wrong-colour': 2.0,
  'swapped-colours': 2.3,
  'wrong-position': 2.6,
  'extra-object': 3.0,
};

/** How often each error is drawn when an image must be misaligned. */
export const ERROR_WEIGHTS: Record<GeneratorError, number> = {
  'wrong-colour': 3,
  'wrong-shape': 3,
  'wrong-position': 2,
  'missing-object': 2,
  'extra-object': 2,
  'swapped-colours': 2,
};

/** Every phrase a caption or prompt uses for each region. */
export const REGION_PHRASES: Readonly<Record<Region, readonly string[]>> = {
  'top left': ['at the top left', 'in the top left corner', 'in the upper left'],
  top: ['at the top', 'at the top center', 'near the top'],
  'top right': ['at the top right', 'in the top right corner', 'in the upper right'],
  left: ['on the left', 'at the left side', 'on the left side'],
  center: ['in the center', 'in the middle', 'at the center'],
  right: ['on the right', 'at the right side', 'on the right side'],
  'bottom left': ['at the bottom left', 'in the bottom left corner', 'in the lower left'],
  bottom: ['at the bottom', 'at the bottom center', 'near the bottom'],
  'bottom right': ['at the bottom right', 'in the bottom right corner', 'in the lower right'],
};

/** "a large red circle" (size only when asked). */
export function describeObject(o: SceneObject, withSize = false): string {
  return withArticle(`${withSize ? `${o.size} ` : ''}${o.colour} ${o.shape}`);
}

/** "an orange star", "a red circle". */
export function withArticle(phrase: string): string {
  return `${/^[aeiou]/i.test(phrase) ? 'an' : 'a'} ${phrase}`;
}

/** Joins phrases as "a, b and c". */
export function joinPhrases(parts: readonly string[]): string {
  if (parts.length <= 1) return parts[0] ?? '';
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

/** A region phrase, varied by the rng ("in the top left corner"). */
export function regionPhrase(rng: Rng, region: Region): string {
  return rng.pick(REGION_PHRASES[region]);
}

/** A T2I prompt describing every object of the intended scene, with varied templates. */
export function promptFromScene(rng: Rng, scene: Scene): string {
  const withSize = rng.bool(0.4);
  const parts = scene.objects.map((o) => `${describeObject(o, withSize)} ${regionPhrase(rng, o.region)}`);
  const list = joinPhrases(parts);
  const bg = `${scene.background} background`;
  const templates = [
    () => `${list}`,
    () => `${list} on a ${bg}`,
    () => `A picture of ${list}.`,
    () => `An image showing ${list}, ${bg}.`,
    () => `Simple drawing: ${list}, on a ${bg}.`,
  ];
  const text = rng.pick(templates)();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Errors this intended scene can show. */
export function possibleErrors(intent: Scene): GeneratorError[] {
  const n = intent.objects.length;
  const errs: GeneratorError[] = [];
  if (n >= 1) errs.push('wrong-colour', 'wrong-shape');
  // Dropping the only object would leave a bare background, identical across many prompts.
  if (n >= 2) errs.push('missing-object');
  if (n >= 1 && freeRegions(intent).length > 0) errs.push('wrong-position', 'extra-object');
  if (n >= 2 && new Set(intent.objects.map((o) => o.colour)).size >= 2) errs.push('swapped-colours');
  return errs;
}

/** Moves each object to a fresh position inside its own region (a second drawing of the same prompt). */
export function rejitter(rng: Rng, scene: Scene): Scene {
  for (let attempt = 0; attempt < 6; attempt++) {
    const s = cloneScene(scene);
    for (const o of s.objects) Object.assign(o, positionIn(rng, o.region));
    if (isClean(s)) return s;
  }
  return cloneScene(scene);
}

export interface ErrorResult {
  scene: Scene;
  error: GeneratorError;
  /** Which object of the intent the error touched (index), when one did. */
  object?: number;
}

/**
 * Draws the intended scene with one generator error. Returns undefined when the scene has no room
 * for it (the caller then picks another error).
 */
export function applyGeneratorError(rng: Rng, intent: Scene, error: GeneratorError): ErrorResult | undefined {
  const s = rejitter(rng, intent);
  const n = s.objects.length;
  if (n === 0 && error !== 'extra-object') return undefined;
  switch (error) {
    case 'wrong-colour': {
      const i = rng.int(n);
      const o = s.objects[i]!;
      const options = coloursFor(s.background).filter((c) => c !== o.colour);
      if (options.length === 0) return undefined;
      o.colour = rng.pick(options);
      return { scene: s, error, object: i };
    }
    case 'wrong-shape': {
      const i = rng.int(n);
      const o = s.objects[i]!;
      o.shape = rng.pick(SHAPES.filter((sh) => sh !== o.shape));
      // A wider shape may now touch a neighbour: give up and let the caller draw another error.
      if (!isClean(s)) return undefined;
      return { scene: s, error, object: i };
    }
    case 'wrong-position': {
      const i = rng.int(n);
      const o = s.objects[i]!;
      const rest: Scene = { ...s, objects: s.objects.filter((_, k) => k !== i) };
      for (const region of rng.shuffle(freeRegions(s))) {
        const moved = { ...o, region, ...positionIn(rng, region) };
        const trial: Scene = { ...rest, objects: [...rest.objects, moved] };
        if (isClean(trial)) {
          // Keep object order (index i stays the moved object) so meta lines up with the intent.
          s.objects[i] = moved;
          return { scene: s, error, object: i };
        }
      }
      return undefined;
    }
    case 'missing-object': {
      const i = rng.int(n);
      s.objects.splice(i, 1);
      return { scene: s, error, object: i };
    }
    case 'extra-object': {
      const extra = addObject(rng, s);
      if (!extra) return undefined;
      return { scene: s, error };
    }
    case 'swapped-colours': {
      const pairs: Array<[number, number]> = [];
      for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) if (s.objects[a]!.colour !== s.objects[b]!.colour) pairs.push([a, b]);
      if (pairs.length === 0) return undefined;
      const [a, b] = rng.pick(pairs);
      const ca = s.objects[a]!.colour;
      s.objects[a]!.colour = s.objects[b]!.colour;
      s.objects[b]!.colour = ca;
      return { scene: s, error, object: a };
    }
  }
}

/** Draws one error, trying others when the first has no room. */
export function sampleGeneratorError(rng: Rng, intent: Scene, allowed: readonly GeneratorError[] = GENERATOR_ERRORS): ErrorResult | undefined {
  let candidates = possibleErrors(intent).filter((e) => allowed.includes(e));
  while (candidates.length > 0) {
    const e = rng.weighted(
      candidates,
      candidates.map((c) => ERROR_WEIGHTS[c]),
    );
    const r = applyGeneratorError(rng, intent, e);
    if (r) return r;
    candidates = candidates.filter((c) => c !== e);
  }
  return undefined;
}

/**
 * Whether an image's scene shows exactly what the prompt's scene asks for: the same multiset of
 * (shape, colour, region). Sizes and exact positions inside a region do not count.
 */
export function sceneMatches(intent: Scene, drawn: Scene): boolean {
  const key = (o: SceneObject) => `${o.shape}|${o.colour}|${o.region}`;
  const a = intent.objects.map(key).sort();
  const b = drawn.objects.map(key).sort();
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

