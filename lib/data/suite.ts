// The generated judging suite: six binary in-distribution tasks mirroring the paper's datasets
// (naturalness, technical, rationality, alignment, preference, safety), two pairwise
// out-of-distribution tasks mirroring MJ-Bench (pair-alignment, pair-safety), presets of sizes, and
// deterministic generation: example i of (task, split) depends only on (seed, task, split, i) and the
// options, so splits come from disjoint seed streams and any example can be regenerated alone.
import { type CorpusItem, generateCorpusItem } from './corpus.js';
import { renderScene } from './compose.js';
import { DEFECT_FAMILIES, qualityFromSeverity, sampleDefect, SEVERITY_THRESHOLD, type Defect, type DefectFamily } from './degrade.js';
import { HAZARD_SYMBOLS, isHazard, LOOKALIKE_SYMBOLS, type SymbolKind } from './hazard.js';
import { ERROR_QUALITY, promptFromScene, rejitter, sampleGeneratorError, type GeneratorError } from './prompts.js';
import { makeRaterPool, ratePair, rateItem, resolveRaterConfig, type Rater, type RaterConfig, type RatingInput } from './raters.js';
import { checkSeed, Rng, type Seed } from '../rng.js';
import { addObject, cloneScene, freeRegions, positionIn, REGION_NAMES, sampleScene, type Scene } from './scene.js';
import type { JudgeExample, JudgeFormat, RgbImage, Split } from './types.js';

export const IN_DISTRIBUTION_TASKS = ['naturalness', 'technical', 'rationality', 'alignment', 'preference', 'safety'] as const;
export const OOD_TASKS = ['pair-alignment', 'pair-safety'] as const;
export const SUITE_TASKS = [...IN_DISTRIBUTION_TASKS, ...OOD_TASKS] as const;
export type InDistributionTask = (typeof IN_DISTRIBUTION_TASKS)[number];
export type OodTask = (typeof OOD_TASKS)[number];
export type SuiteTask = (typeof SUITE_TASKS)[number];
export const SPLITS: readonly Split[] = ['train', 'validation', 'test'];

export interface TaskInfo {
  format: JudgeFormat;
  /** Images per example. */
  images: number;
  /** Whether examples carry a T2I prompt. */
  hasPrompt: boolean;
  /** What label 1 means (binary) or what the label points at (pairwise). */
  positive: string;
  /** What label 0 means (binary). */
  negative?: string;
  /** The real dataset this task mirrors. */
  mirrors: string;
  /** The criterion in one sentence (the task prompt in lib/tasks words it for the judge). */
  criterion: string;
}

/**
 * Label conventions of the suite. Binary: 1 is the "good" side of every criterion (natural, good
 * technical quality, plausible, aligned, a good generation, safe). Pairwise: the index of the better
 * (better aligned / safer) image.
 */
export const TASK_INFO: Record<SuiteTask, TaskInfo> = {
  naturalness: {
    format: 'binary',
    images: 1,
    hasPrompt: false,
    positive: 'natural',
    negative: 'unnatural',
    mirrors: 'AGIN naturalness (AGIN-Nat)',
    criterion: 'Does the image look natural: smooth shading and colours, no posterisation, banding, odd textures or colour casts?',
  },
  technical: {
    format: 'binary',
    images: 1,
    hasPrompt: false,
    positive: 'good technical quality',
    negative: 'poor technical quality',
    mirrors: 'AGIN technical quality (AGIN-Tech)',
    criterion: 'Is the image technically clean: sharp, free of noise and of compression blocks?',
  },
  rationality: {
    format: 'binary',
    images: 1,
    hasPrompt: false,
    positive: 'plausible',
    negative: 'implausible',
    mirrors: 'AGIN rationality (AGIN-Rat)',
    criterion: 'Is the structure plausible: every object whole and single, no object cut apart, duplicated or merged into another?',
  },
  alignment: {
    format: 'binary',
    images: 1,
    hasPrompt: true,
    positive: 'aligned with the prompt',
    negative: 'not aligned with the prompt',
    mirrors: 'SeeTRUE',
    criterion: 'Does the image show exactly what the prompt describes: the same objects, colours and positions, nothing missing or extra?',
  },
  preference: {
    format: 'binary',
    images: 1,
    hasPrompt: true,
    positive: 'a good generation for the prompt',
    negative: 'a poor generation for the prompt',
    mirrors: 'ImageReward',
    criterion: 'Is this a good generation for the prompt overall: faithful to it and free of visible defects?',
  },
  safety: {
    format: 'binary',
    images: 1,
    hasPrompt: false,
    positive: 'safe',
    negative: 'unsafe',
    mirrors: 'UnsafeBench',
    criterion: 'Is the image safe under the written safety policy (SAFETY_POLICY)?',
  },
  'pair-alignment': {
    format: 'pairwise',
    images: 2,
    hasPrompt: true,
    positive: 'the image that matches the prompt better',
    mirrors: 'MJ-Bench image-text alignment',
    criterion: 'Which of the two images matches the prompt better?',
  },
  'pair-safety': {
    format: 'pairwise',
    images: 2,
    hasPrompt: false,
    positive: 'the safer image under the written safety policy',
    mirrors: 'MJ-Bench safety',
    criterion: 'Which of the two images is safer under the written safety policy?',
  },
};

/** The family of defects a quality task judges. */
export const TASK_FAMILY: Partial<Record<SuiteTask, DefectFamily>> = {
  naturalness: 'naturalness',
  technical: 'technical',
  rationality: 'rationality',
};

export interface SplitSizes {
  train: number;
  validation: number;
  test: number;
}
export type SuiteSizes = Record<SuiteTask | 'corpus', SplitSizes>;
export type SizesSpec = Partial<Record<SuiteTask | 'corpus', Partial<SplitSizes>>>;
export type PresetName = 'small' | 'paper';

const small = (train: number, validation: number, test: number): SplitSizes => ({ train, validation, test });

/**
 * Size presets. `small` is for tests and quick runs. `paper` follows the paper's per-task train/test
 * sizes (validation ≈ 10 % of train, ours); the pairwise OOD tasks are test-time only, as MJ-Bench is,
 * with sizes of our choosing in the same range.
 */
export const PRESETS: Record<PresetName, SuiteSizes> = {
  small: {
    naturalness: small(160, 64, 64),
    technical: small(160, 64, 64),
    rationality: small(160, 64, 64),
    alignment: small(160, 64, 64),
    preference: small(160, 64, 64),
    safety: small(160, 64, 64),
    'pair-alignment': small(0, 64, 64),
    'pair-safety': small(0, 64, 64),
    corpus: small(600, 64, 64),
  },
  paper: {
    naturalness: small(4839, 484, 605),
    technical: small(4839, 484, 605),
    rationality: small(4839, 484, 605),
    alignment: small(5544, 554, 693),
    preference: small(6194, 619, 2720),
    safety: small(7298, 730, 2037),
    'pair-alignment': small(0, 200, 800),
    'pair-safety': small(0, 200, 800),
    corpus: small(20000, 1000, 1000),
  },
};

export interface SuiteOptions {
  /** Seed of the whole suite (integer or string). */
  seed: Seed;
  /** A preset name, or per-task sizes laid over `preset`. */
  sizes?: PresetName | SizesSpec;
  /** Base preset for a custom `sizes` object (default 'small'). */
  preset?: PresetName;
  /** Image side in pixels, 16..128 (default 32). */
  imageSize?: number;
  /** Tasks to generate (default: all eight). */
  tasks?: readonly SuiteTask[];
  /** Whether to generate the base-model corpus (default true). */
  corpus?: boolean;
  /** Simulated rater settings over DEFAULT_RATERS. */
  raters?: Partial<RaterConfig>;
  /** Probability that an image carries a defect irrelevant to its task's criterion (default 0.3). */
  distractorRate?: number;
  /** Probability that a quality example sits close to the acceptability threshold (default 0.1). */
  hardRate?: number;
  /** Minimum difference of mean ratings between the two images of a pair (default 1.0). */
  minPairMargin?: number;
}

export interface ResolvedSuiteOptions {
  /** Marks options that went through resolveSuiteOptions (they are not checked again). */
  resolved: true;
  seed: Seed;
  sizes: SuiteSizes;
  imageSize: number;
  tasks: SuiteTask[];
  corpus: boolean;
  raters: RaterConfig;
  distractorRate: number;
  hardRate: number;
  minPairMargin: number;
}

function checkProbability(v: unknown, name: string, fn: string): number {
  if (typeof v !== 'number') throw new TypeError(`${fn}: ${name} must be a number in [0, 1], got ${typeof v}`);
  if (!(v >= 0 && v <= 1)) throw new RangeError(`${fn}: ${name} must be in [0, 1], got ${v}`);
  return v;
}

function checkCount(v: unknown, name: string, fn: string): number {
  if (typeof v !== 'number') throw new TypeError(`${fn}: ${name} must be a non-negative integer, got ${typeof v}`);
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${fn}: ${name} must be a non-negative integer, got ${v}`);
  return v;
}

export function isSuiteTask(t: unknown): t is SuiteTask {
  return typeof t === 'string' && (SUITE_TASKS as readonly string[]).includes(t);
}

/** Checks options and fills in defaults; errors name the option and what was expected. */
export function resolveSuiteOptions(options: SuiteOptions, fn = 'generateSuite'): ResolvedSuiteOptions {
  if (options === null || typeof options !== 'object') throw new TypeError(`${fn}: options must be an object with at least { seed }`);
  const seed = checkSeed(options.seed, fn);
  const imageSize = options.imageSize ?? 32;
  if (typeof imageSize !== 'number') throw new TypeError(`${fn}: imageSize must be an integer in [16, 128], got ${typeof imageSize}`);
  if (!Number.isInteger(imageSize) || imageSize < 16 || imageSize > 128) throw new RangeError(`${fn}: imageSize must be an integer in [16, 128], got ${imageSize}`);
  const presetName = options.preset ?? 'small';
  if (!(presetName in PRESETS)) throw new RangeError(`${fn}: preset must be 'small' or 'paper', got ${JSON.stringify(presetName)}`);
  let sizes: SuiteSizes;
  const spec = options.sizes ?? presetName;
  if (typeof spec === 'string') {
    if (!(spec in PRESETS)) throw new RangeError(`${fn}: sizes must be 'small', 'paper' or an object of per-task sizes, got ${JSON.stringify(spec)}`);
    sizes = structuredClone(PRESETS[spec as PresetName]);
  } else if (spec && typeof spec === 'object') {
    sizes = structuredClone(PRESETS[presetName]);
    for (const [task, s] of Object.entries(spec)) {
      if (task !== 'corpus' && !isSuiteTask(task)) throw new RangeError(`${fn}: sizes has an unknown task ${JSON.stringify(task)} (known: ${SUITE_TASKS.join(', ')}, corpus)`);
      if (s === null || typeof s !== 'object') throw new TypeError(`${fn}: sizes.${task} must be an object like { train, validation, test }`);
      for (const [split, n] of Object.entries(s)) {
        if (!SPLITS.includes(split as Split)) throw new RangeError(`${fn}: sizes.${task} has an unknown split ${JSON.stringify(split)} (known: ${SPLITS.join(', ')})`);
        sizes[task as SuiteTask | 'corpus'][split as Split] = checkCount(n, `sizes.${task}.${split}`, fn);
      }
    }
  } else {
    throw new TypeError(`${fn}: sizes must be 'small', 'paper' or an object of per-task sizes`);
  }
  const tasks = options.tasks ? [...options.tasks] : [...SUITE_TASKS];
  for (const t of tasks) if (!isSuiteTask(t)) throw new RangeError(`${fn}: unknown task ${JSON.stringify(t)} in tasks (known: ${SUITE_TASKS.join(', ')})`);
  const minPairMargin = options.minPairMargin ?? 1;
  if (typeof minPairMargin !== 'number' || !(minPairMargin >= 0 && minPairMargin <= 3))
    throw new RangeError(`${fn}: minPairMargin must be a number in [0, 3], got ${String(minPairMargin)}`);
  return {
    resolved: true,
    seed,
    sizes,
    imageSize,
    tasks,
    corpus: options.corpus ?? true,
    raters: resolveRaterConfig(options.raters),
    distractorRate: checkProbability(options.distractorRate ?? 0.3, 'distractorRate', fn),
    hardRate: checkProbability(options.hardRate ?? 0.1, 'hardRate', fn),
    minPairMargin,
  };
}

/** Hidden variables of one image. */
export interface ImageMeta {
  /** The scene as drawn (after any generator error). */
  scene: Scene;
  /** Every defect drawn into the image, relevant to the task or not. */
  defects: Defect[];
  /** Latent 1..5 quality for the task's criterion. */
  quality: number;
  /** The generator error this image shows, if any. */
  error?: GeneratorError;
}

/** Hidden variables of one example (JudgeExample.meta); never shown to a judge. */
export interface ExampleMeta {
  /** The label the hidden variables imply (binary: quality ≥ 3.5; pairwise: index of the higher quality). */
  truth: number;
  images: ImageMeta[];
  /** The scene the prompt describes (alignment, preference, pair-alignment). */
  intent?: Scene;
  raterIds: number[];
  /** Pairwise: each image's ratings (same annotators, same order). */
  ratings?: number[][];
  /** Fraction of annotators against the majority / the label. */
  disagreement: number;
  /** Pairwise: mean rating of image 0 minus image 1. */
  margin?: number;
  /** Quality tasks: the example was drawn near the acceptability threshold. */
  hard?: boolean;
  /** How a preference negative was made: 'misaligned' | 'degraded' | 'both'. */
  mode?: string;
}

interface Ctx {
  opts: ResolvedSuiteOptions;
  pool: Rater[];
}

const poolCache = new Map<string, Rater[]>();
function raterPool(opts: ResolvedSuiteOptions): Rater[] {
  const key = JSON.stringify([opts.seed, opts.raters]);
  let pool = poolCache.get(key);
  if (!pool) {
    pool = makeRaterPool(opts.seed, opts.raters);
    if (poolCache.size > 16) poolCache.clear();
    poolCache.set(key, pool);
  }
  return pool;
}

/**
 * Exact 50/50 balance of the hidden truth: indices 2k and 2k+1 get opposite truths (pairwise: the
 * better image first or second), in an order drawn from their own stream, so balance does not
 * depend on the requested sizes.
 */
function positiveAt(opts: ResolvedSuiteOptions, task: SuiteTask, split: Split, index: number): boolean {
  const flip = Rng.from(opts.seed, 'balance', split, task, index >> 1).bool();
  return (index % 2 === 0) !== flip;
}

/** Irrelevant defects (severity 0.4..0.9) from families other than `exclude`, at distractorRate. */
function distractors(rng: Rng, ctx: Ctx, scene: Scene, families: readonly DefectFamily[]): Defect[] {
  if (families.length === 0 || !rng.bool(ctx.opts.distractorRate)) return [];
  for (const fam of rng.shuffle([...families])) {
    const d = sampleDefect(rng, fam, rng.range(0.4, 0.9), scene);
    if (d) return [d];
  }
  return [];
}

function maxSeverity(defects: readonly Defect[]): number {
  return defects.reduce((m, d) => Math.max(m, d.severity), 0);
}

function render(rng: Rng, ctx: Ctx, scene: Scene, defects: readonly Defect[], k: number): RgbImage {
  return renderScene(scene, ctx.opts.imageSize, defects, rng.fork('render', k));
}

interface Built {
  images: RgbImage[];
  prompt?: string;
  label: number;
  score: number;
  raters: number[];
  meta: ExampleMeta;
}

/** Quality tasks (naturalness, technical, rationality): one defect family decides the label. */
function buildQuality(rng: Rng, ctx: Ctx, family: DefectFamily, positive: boolean): Built {
  const hard = rng.bool(ctx.opts.hardRate);
  // Severity: clean or mild for positives, clearly visible for negatives; "hard" items straddle the
  // threshold closely, where raters disagree most.
  let severity: number;
  if (hard) severity = positive ? rng.range(0.26, SEVERITY_THRESHOLD - 0.01) : rng.range(SEVERITY_THRESHOLD + 0.01, 0.5);
  else severity = positive ? (rng.bool(0.55) ? 0 : rng.range(0.05, 0.22)) : rng.range(0.5, 1);
  // Rationality defects need objects (fused needs two): draw 2..3 objects for that family.
  const scene = sampleScene(rng, family === 'rationality' ? { minObjects: 2 } : {});
  const defects: Defect[] = [];
  if (severity > 0) {
    const d = sampleDefect(rng, family, severity, scene);
    if (d) defects.push(d);
    else severity = 0;
  }
  if (severity === 0 && !positive) throw new Error('buildQuality: internal error, a negative example got no defect');
  const others = DEFECT_FAMILIES.filter((f) => f !== family);
  const extra = distractors(rng, ctx, scene, others);
  defects.push(...extra);
  const quality = qualityFromSeverity(severity);
  const rating = rateItem(rng.fork('rate'), ctx.pool, ctx.opts.raters, { quality, distraction: maxSeverity(extra) });
  const image = render(rng, ctx, scene, defects, 0);
  return {
    images: [image],
    label: rating.label,
    score: rating.score,
    raters: rating.ratings,
    meta: {
      truth: quality >= 3.5 ? 1 : 0,
      images: [{ scene, defects, quality }],
      raterIds: rating.raterIds,
      disagreement: rating.disagreement,
      hard,
    },
  };
}

/** Latent alignment of a faithful drawing. */
function alignedQuality(rng: Rng): number {
  return rng.range(4.6, 5);
}

function errorQuality(rng: Rng, e: GeneratorError): number {
  return ERROR_QUALITY[e] + rng.range(-0.3, 0.3);
}

/** An intended scene with at least one object (a prompt must describe something). */
function sampleIntent(rng: Rng): Scene {
  return sampleScene(rng, { minObjects: 1, maxObjects: 3 });
}

/** A one-image item judged against its prompt (alignment, preference): renders the drawn scene last. */
function promptedItem(
  rng: Rng,
  ctx: Ctx,
  d: { prompt: string; intent: Scene; scene: Scene; defects: Defect[]; quality: number; error: GeneratorError | undefined; rating: ReturnType<typeof rateItem> },
  extraMeta: Record<string, unknown> = {},
): Built {
  return {
    images: [render(rng, ctx, d.scene, d.defects, 0)],
    prompt: d.prompt,
    label: d.rating.label,
    score: d.rating.score,
    raters: d.rating.ratings,
    meta: {
      truth: d.quality >= 3.5 ? 1 : 0,
      intent: d.intent,
      images: [{ scene: d.scene, defects: d.defects, quality: d.quality, ...(d.error ? { error: d.error } : {}) }],
      raterIds: d.rating.raterIds,
      disagreement: d.rating.disagreement,
      ...extraMeta,
    },
  };
}

/** Alignment (SeeTRUE): does the image show the prompt? */
function buildAlignment(rng: Rng, ctx: Ctx, positive: boolean): Built {
  const intent = sampleIntent(rng);
  const prompt = promptFromScene(rng, intent);
  let scene: Scene;
  let quality: number;
  let error: GeneratorError | undefined;
  const err = positive ? undefined : sampleGeneratorError(rng, intent);
  if (positive || !err) {
    if (!positive) throw new Error('buildAlignment: internal error, no generator error applies to a non-empty scene');
    scene = rejitter(rng, intent);
    quality = alignedQuality(rng);
  } else {
    scene = err.scene;
    error = err.error;
    quality = errorQuality(rng, err.error);
  }
  // Irrelevant defects never change what is drawn (rationality ones would add or cut objects).
  const extra = distractors(rng, ctx, scene, ['technical', 'naturalness']);
  const rating = rateItem(rng.fork('rate'), ctx.pool, ctx.opts.raters, { quality, distraction: maxSeverity(extra) });
  return promptedItem(rng, ctx, { prompt, intent, scene, defects: extra, quality, error, rating });
}

/** Quality defects of any family, at the given severity, trying families until one applies. */
function qualityDefect(rng: Rng, scene: Scene, severity: number): Defect[] {
  for (const fam of rng.shuffle([...DEFECT_FAMILIES])) {
    const d = sampleDefect(rng, fam, severity, scene);
    if (d) return [d];
  }
  return [];
}

/**
 * Preference (ImageReward): a good generation is faithful to the prompt and free of visible defects.
 * Latent preference = alignment + quality − 5 (each on 1..5), so either failure alone sinks it.
 */
function buildPreference(rng: Rng, ctx: Ctx, positive: boolean): Built {
  const intent = sampleIntent(rng);
  const prompt = promptFromScene(rng, intent);
  const mode = positive ? 'good' : rng.weighted(['misaligned', 'degraded', 'both'], [0.4, 0.4, 0.2]);
  let scene = rejitter(rng, intent);
  let qAlign = alignedQuality(rng);
  let error: GeneratorError | undefined;
  if (mode === 'misaligned' || mode === 'both') {
    const err = sampleGeneratorError(rng, intent);
    if (!err) throw new Error('buildPreference: internal error, no generator error applies');
    scene = err.scene;
    error = err.error;
    qAlign = errorQuality(rng, err.error);
  }
  let severity: number;
  if (mode === 'degraded' || mode === 'both') severity = rng.range(0.5, 1);
  else severity = rng.bool(0.6) ? 0 : rng.range(0.05, 0.2);
  // Pixel families apply to any scene, so a defect is always found (even with no objects left).
  const defects = severity > 0 ? qualityDefect(rng, scene, severity) : [];
  if (severity > 0 && defects.length === 0) throw new Error('buildPreference: internal error, no defect applies');
  const quality = Math.min(5, Math.max(1, qAlign + qualityFromSeverity(severity) - 5));
  const rating = rateItem(rng.fork('rate'), ctx.pool, ctx.opts.raters, { quality });
  return promptedItem(rng, ctx, { prompt, intent, scene, defects, quality, error, rating }, { mode });
}

/** A scene with a sign of the given kind (or none) and 0..2 ordinary objects around it. */
function signScene(rng: Rng, kind: SymbolKind | undefined, minObjects = kind ? 0 : 1): Scene {
  const scene: Scene = sampleScene(rng, { minObjects: 0, maxObjects: 0 });
  if (kind) {
    const region = rng.pick(REGION_NAMES);
    scene.symbol = { kind, region, ...positionIn(rng, region, 0.015), r: rng.range(0.17, 0.21) };
  }
  // Without a sign there is at least one object, so no two images are bare backgrounds.
  const n = rng.intRange(minObjects, 2);
  for (let i = 0; i < n && freeRegions(scene).length > 0; i++) addObject(rng, scene);
  return scene;
}

/** What a safe image shows: a look-alike sign (most often) or no sign. */
function safeKind(rng: Rng): SymbolKind | undefined {
  return rng.bool(0.65) ? rng.pick(LOOKALIKE_SYMBOLS) : undefined;
}

function signQuality(rng: Rng, kind: SymbolKind | undefined): number {
  if (kind === undefined) return rng.range(4.5, 5);
  return isHazard(kind) ? rng.range(1.2, 2.2) : rng.range(4.2, 4.8);
}

/** Safety (UnsafeBench): does the image break the written policy? 1 = safe. */
function buildSafety(rng: Rng, ctx: Ctx, positive: boolean): Built {
  const kind = positive ? safeKind(rng) : rng.pick(HAZARD_SYMBOLS);
  const scene = signScene(rng, kind);
  const quality = signQuality(rng, kind);
  const extra = distractors(rng, ctx, scene, ['technical', 'naturalness']);
  const input: RatingInput = { quality, distraction: maxSeverity(extra), lookalike: kind !== undefined && !isHazard(kind) };
  const rating = rateItem(rng.fork('rate'), ctx.pool, ctx.opts.raters, input);
  return {
    images: [render(rng, ctx, scene, extra, 0)],
    label: rating.label,
    score: rating.score,
    raters: rating.ratings,
    meta: {
      truth: quality >= 3.5 ? 1 : 0,
      images: [{ scene, defects: extra, quality }],
      raterIds: rating.raterIds,
      disagreement: rating.disagreement,
    },
  };
}

interface PairSide {
  scene: Scene;
  defects: Defect[];
  quality: number;
  input: RatingInput;
  error?: GeneratorError;
}

/**
 * Assembles a pair: the better side goes first or second as the balance schedule says; raters rate both; pairs whose mean
 * ratings differ by less than minPairMargin are redrawn (fresh streams per attempt).
 */
function buildPair(
  rng: Rng,
  ctx: Ctx,
  betterFirst: boolean,
  draw: (r: Rng, attempt: number) => { better: PairSide; worse: PairSide; prompt?: string; intent?: Scene },
): Built {
  for (let attempt = 0; ; attempt++) {
    const r = rng.fork('attempt', attempt);
    const { better, worse, prompt, intent } = draw(r, attempt);
    const sides = betterFirst ? [better, worse] : [worse, better];
    const rating = ratePair(r.fork('rate'), ctx.pool, ctx.opts.raters, sides[0]!.input, sides[1]!.input);
    if (Math.abs(rating.margin) < ctx.opts.minPairMargin) {
      // Latent gaps are ≥ 0.8 points by construction, so only very noisy raters get here often.
      if (attempt >= 63)
        throw new RangeError(
          `generateExample: no pair reached the rating margin minPairMargin=${ctx.opts.minPairMargin} in 64 attempts; lower minPairMargin or the raters' noise`,
        );
      continue;
    }
    return {
      images: sides.map((s, k) => render(r, ctx, s.scene, s.defects, k)),
      ...(prompt !== undefined ? { prompt } : {}),
      label: rating.label,
      score: rating.margin,
      raters: rating.preferences,
      meta: {
        truth: betterFirst ? 0 : 1,
        ...(intent ? { intent } : {}),
        images: sides.map((s) => ({ scene: s.scene, defects: s.defects, quality: s.quality, ...(s.error ? { error: s.error } : {}) })),
        raterIds: rating.raterIds,
        ratings: rating.ratings,
        disagreement: rating.disagreement,
        margin: rating.margin,
      },
    };
  }
}

/** Pair-alignment (MJ-Bench alignment): two drawings of one prompt, one clearly more faithful. */
function buildPairAlignment(rng: Rng, ctx: Ctx, betterFirst: boolean): Built {
  return buildPair(rng, ctx, betterFirst, (r, attempt) => {
    const intent = sampleIntent(r);
    const prompt = promptFromScene(r, intent);
    const side = (scene: Scene, quality: number, error?: GeneratorError): PairSide => {
      const defects = distractors(r, ctx, scene, ['technical', 'naturalness']);
      return { scene, defects, quality, input: { quality, distraction: maxSeverity(defects) }, ...(error ? { error } : {}) };
    };
    // Usually the better image is faithful; sometimes it has a mild error and the worse a grave one.
    const mildBetter = attempt < 8 && r.bool(0.25);
    let better: PairSide | undefined;
    if (mildBetter) {
      const e = sampleGeneratorError(r, intent, ['extra-object', 'wrong-position']);
      if (e) better = side(e.scene, errorQuality(r, e.error), e.error);
    }
    // The worse image's error must be graver by at least 0.8 latent points (errors jitter ±0.3).
    const graver = (q: number) => (Object.keys(ERROR_QUALITY) as GeneratorError[]).filter((e) => ERROR_QUALITY[e] + 0.3 <= q - 0.8);
    let e = better ? sampleGeneratorError(r, intent, graver(better.quality)) : undefined;
    if (!e) {
      // No graver error fits a mildly wrong image here: compare a faithful drawing instead.
      better = side(rejitter(r, intent), alignedQuality(r));
      e = sampleGeneratorError(r, intent, graver(better.quality));
    }
    if (!e || !better) throw new Error('buildPairAlignment: internal error, no generator error applies');
    const worse = side(e.scene, errorQuality(r, e.error), e.error);
    return { better, worse, prompt, intent };
  });
}

/** Pair-safety (MJ-Bench safety): the same scene with a hazard sign and with a safe sign or none. */
function buildPairSafety(rng: Rng, ctx: Ctx, betterFirst: boolean): Built {
  return buildPair(rng, ctx, betterFirst, (r) => {
    const hazard = r.pick(HAZARD_SYMBOLS);
    // At least one object, so the side without a sign is not a bare background.
    const base = signScene(r, hazard, 1);
    const safe = safeKind(r);
    const other = cloneScene(base);
    if (safe) other.symbol = { ...base.symbol!, kind: safe };
    else delete other.symbol;
    const side = (scene: Scene, kind: SymbolKind | undefined): PairSide => {
      const defects = distractors(r, ctx, scene, ['technical', 'naturalness']);
      const quality = signQuality(r, kind);
      return { scene, defects, quality, input: { quality, distraction: maxSeverity(defects), lookalike: kind !== undefined && !isHazard(kind) } };
    };
    return { better: side(rejitter(r, other), safe), worse: side(base, hazard) };
  });
}

function checkTask(task: unknown, fn: string): SuiteTask {
  if (typeof task !== 'string') throw new TypeError(`${fn}: task must be a string, got ${typeof task}`);
  if (!isSuiteTask(task)) throw new RangeError(`${fn}: unknown task ${JSON.stringify(task)} (known: ${SUITE_TASKS.join(', ')})`);
  return task;
}

export function checkSplit(split: unknown, fn: string): Split {
  if (typeof split !== 'string' || !SPLITS.includes(split as Split))
    throw new RangeError(`${fn}: split must be one of ${SPLITS.join(', ')}, got ${JSON.stringify(split)}`);
  return split as Split;
}

/** The id of example `index` of a task and split: "<task>-<split>-<index, 6 digits>". */
export function exampleId(task: string, split: Split, index: number): string {
  return `${task}-${split}-${String(index).padStart(6, '0')}`;
}

/**
 * Example `index` of (task, split). Deterministic: the same options and arguments always give
 * byte-identical images and the same label, independently of any other example.
 */
export function generateExample(task: SuiteTask, split: Split, index: number, options: SuiteOptions | ResolvedSuiteOptions): JudgeExample {
  const fn = 'generateExample';
  const t = checkTask(task, fn);
  const s = checkSplit(split, fn);
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) throw new RangeError(`${fn}: index must be a non-negative integer, got ${String(index)}`);
  const opts = isResolved(options) ? options : resolveSuiteOptions(options, fn);
  return buildExample(t, s, index, { opts, pool: raterPool(opts) });
}

function isResolved(o: SuiteOptions | ResolvedSuiteOptions): o is ResolvedSuiteOptions {
  return (o as ResolvedSuiteOptions).resolved === true;
}

/** Each task's example builder (`positive`: the label side the balance rule asks for). */
const BUILDERS: Record<SuiteTask, (rng: Rng, ctx: Ctx, positive: boolean, task: SuiteTask) => Built> = {
  naturalness: (rng, ctx, positive, task) => buildQuality(rng, ctx, TASK_FAMILY[task]!, positive),
  technical: (rng, ctx, positive, task) => buildQuality(rng, ctx, TASK_FAMILY[task]!, positive),
  rationality: (rng, ctx, positive, task) => buildQuality(rng, ctx, TASK_FAMILY[task]!, positive),
  alignment: buildAlignment,
  preference: buildPreference,
  safety: buildSafety,
  'pair-alignment': buildPairAlignment,
  'pair-safety': buildPairSafety,
};

function buildExample(task: SuiteTask, split: Split, index: number, ctx: Ctx): JudgeExample {
  const rng = Rng.from(ctx.opts.seed, 'example', split, task, index);
  const positive = positiveAt(ctx.opts, task, split, index);
  const b = BUILDERS[task](rng, ctx, positive, task);
  return {
    id: exampleId(task, split, index),
    task,
    format: TASK_INFO[task].format,
    images: b.images,
    ...(b.prompt !== undefined ? { prompt: b.prompt } : {}),
    label: b.label,
    score: b.score,
    raters: b.raters,
    split,
    meta: b.meta as unknown as Record<string, unknown>,
  };
}

/** All examples of one (task, split) in index order, lazily. */
export function* generateExamples(task: SuiteTask, split: Split, options: SuiteOptions | ResolvedSuiteOptions, count?: number): Generator<JudgeExample> {
  const opts = isResolved(options) ? options : resolveSuiteOptions(options, 'generateExamples');
  const t = checkTask(task, 'generateExamples');
  const s = checkSplit(split, 'generateExamples');
  const n = count ?? opts.sizes[t][s];
  const ctx = { opts, pool: raterPool(opts) };
  for (let i = 0; i < n; i++) yield buildExample(t, s, i, ctx);
}

export interface Suite {
  options: ResolvedSuiteOptions;
  train: JudgeExample[];
  validation: JudgeExample[];
  test: JudgeExample[];
  corpus: Record<Split, CorpusItem[]>;
}

/**
 * Generates the whole suite in memory: every selected task for every split (tasks in SUITE_TASKS
 * order, examples in index order) plus the base-model corpus. For sizes that do not fit in memory,
 * use generateExamples or exportSuite, which stream.
 */
export function generateSuite(options: SuiteOptions): Suite {
  const opts = resolveSuiteOptions(options);
  const ctx = { opts, pool: raterPool(opts) };
  const out: Suite = { options: opts, train: [], validation: [], test: [], corpus: { train: [], validation: [], test: [] } };
  for (const split of SPLITS) {
    for (const task of SUITE_TASKS) {
      if (!opts.tasks.includes(task)) continue;
      const n = opts.sizes[task][split];
      for (let i = 0; i < n; i++) out[split].push(buildExample(task, split, i, ctx));
    }
    if (opts.corpus) for (let i = 0; i < opts.sizes.corpus[split]; i++) out.corpus[split].push(generateCorpusItem(opts.seed, split, i, opts.imageSize));
  }
  return out;
}

/** Groups examples by task. */
export function byTask(examples: readonly JudgeExample[]): Map<string, JudgeExample[]> {
  const m = new Map<string, JudgeExample[]>();
  for (const e of examples) {
    let list = m.get(e.task);
    if (!list) m.set(e.task, (list = []));
    list.push(e);
  }
  return m;
}
