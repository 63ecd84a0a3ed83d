// Simulated human raters. A pool of annotators, each with a personal bias, noise level, "halo"
// (irrelevant ugliness drags their rating down) and caution (signs that merely resemble a hazard
// worry them). Every item is rated 1..5 by a few annotators drawn from the pool; the binary label is
// their majority vote, and the mean rating and the disagreement are kept, so correlation metrics and
// a human-agreement ceiling exist.
import { Rng, type Seed } from '../rng.js';

export interface RaterConfig {
  /** Annotators in the pool. */
  poolSize: number;
  /** Annotators per item (odd, so the majority is always defined). */
  perItem: number;
  /** Standard deviation of each annotator's constant bias, in rating points. */
  biasSd: number;
  /** Each annotator's per-rating noise SD is drawn uniformly from this range. */
  noiseSd: [number, number];
  /** Each annotator's halo weight (rating points lost per unit of irrelevant defect severity). */
  halo: [number, number];
  /** Each annotator's caution (rating points lost on a look-alike sign). */
  caution: [number, number];
  /** A rating at or above this votes "yes" (1); 4 means "good" on the 1..5 scale. */
  voteThreshold: number;
  /**
   * The band the mean minority-vote fraction is expected to fall into with these settings. Reported
   * by `raterStats` and checked by the tests; not enforced during generation.
   */
  disagreementRange: [number, number];
}

export const DEFAULT_RATERS: RaterConfig = {
  poolSize: 24,
  perItem: 5,
  biasSd: 0.25,
  noiseSd: [0.3, 0.65],
  halo: [0, 0.5],
  caution: [0, 0.7],
  voteThreshold: 4,
  disagreementRange: [0.01, 0.15],
};

export interface Rater {
  id: number;
  bias: number;
  noise: number;
  halo: number;
  caution: number;
}

function checkPair(v: unknown, name: string, lo: number, hi: number): [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'number' || typeof v[1] !== 'number')
    throw new TypeError(`raters: ${name} must be a [min, max] pair of numbers`);
  const [a, b] = v as [number, number];
  if (!(a >= lo && b <= hi && a <= b)) throw new RangeError(`raters: ${name} must satisfy ${lo} <= min <= max <= ${hi}, got [${a}, ${b}]`);
  return [a, b];
}

/** Merges user settings over the defaults and checks them. */
export function resolveRaterConfig(user: Partial<RaterConfig> = {}): RaterConfig {
  if (user === null || typeof user !== 'object') throw new TypeError('raters: options must be an object');
  const c = { ...DEFAULT_RATERS, ...user };
  if (!Number.isInteger(c.poolSize) || c.poolSize < 1) throw new RangeError(`raters: poolSize must be a positive integer, got ${c.poolSize}`);
  if (!Number.isInteger(c.perItem) || c.perItem < 1 || c.perItem % 2 === 0 || c.perItem > c.poolSize)
    throw new RangeError(`raters: perItem must be an odd integer between 1 and poolSize (${c.poolSize}), got ${c.perItem}`);
  if (!(c.biasSd >= 0 && c.biasSd <= 5)) throw new RangeError(`raters: biasSd must be in [0, 5], got ${c.biasSd}`);
  if (!(c.voteThreshold > 1 && c.voteThreshold <= 5)) throw new RangeError(`raters: voteThreshold must be in (1, 5], got ${c.voteThreshold}`);
  return {
    ...c,
    noiseSd: checkPair(c.noiseSd, 'noiseSd', 0, 5),
    halo: checkPair(c.halo, 'halo', 0, 5),
    caution: checkPair(c.caution, 'caution', 0, 5),
    disagreementRange: checkPair(c.disagreementRange, 'disagreementRange', 0, 0.5),
  };
}

/** The annotator pool of a suite: fixed by the seed, shared by every task and split. */
export function makeRaterPool(seed: Seed, config: RaterConfig): Rater[] {
  const rng = Rng.from(seed, 'raters');
  return Array.from({ length: config.poolSize }, (_, id) => ({
    id,
    bias: config.biasSd * rng.normal(),
    noise: rng.range(config.noiseSd[0], config.noiseSd[1]),
    halo: rng.range(config.halo[0], config.halo[1]),
    caution: rng.range(config.caution[0], config.caution[1]),
  }));
}

/** What a rater perceives about one image. */
export interface RatingInput {
  /** The latent quality on the 1..5 scale for the task's criterion (the truth is quality ≥ 3.5). */
  quality: number;
  /** Severity (0..1) of defects irrelevant to the criterion; raters with a halo are swayed by it. */
  distraction?: number;
  /** True when the image shows a sign that resembles a hazard without being one. */
  lookalike?: boolean;
}

/** One annotator's 1..5 rating of an image. */
export function rateOnce(rng: Rng, rater: Rater, input: RatingInput): number {
  const raw = input.quality + rater.bias + rater.noise * rng.normal() - rater.halo * (input.distraction ?? 0) - (input.lookalike ? rater.caution : 0);
  return Math.min(5, Math.max(1, Math.round(raw)));
}

export interface ItemRating {
  /** The annotators' ratings, 1..5. */
  ratings: number[];
  /** Which annotators (pool ids). */
  raterIds: number[];
  /** Mean rating. */
  score: number;
  /** Majority vote: 1 when most ratings are ≥ voteThreshold. */
  label: 0 | 1;
  /** Fraction of annotators who voted against the majority (0 = unanimous). */
  disagreement: number;
}

/** Rates one image with perItem annotators drawn from the pool. */
export function rateItem(rng: Rng, pool: readonly Rater[], config: RaterConfig, input: RatingInput): ItemRating {
  const chosen = rng.sample(pool, config.perItem);
  const ratings = chosen.map((r) => rateOnce(rng, r, input));
  const yes = ratings.filter((r) => r >= config.voteThreshold).length;
  const label = yes * 2 > ratings.length ? 1 : 0;
  const minority = Math.min(yes, ratings.length - yes);
  return {
    ratings,
    raterIds: chosen.map((r) => r.id),
    score: ratings.reduce((a, b) => a + b, 0) / ratings.length,
    label,
    disagreement: minority / ratings.length,
  };
}

export interface PairRating {
  /** Ratings of image 0 and image 1 by the same annotators (same order). */
  ratings: [number[], number[]];
  raterIds: number[];
  /** Each annotator's preferred image: 0, 1, or 0.5 when they rated both the same. */
  preferences: number[];
  /** Mean rating of image 0 minus mean rating of image 1. */
  margin: number;
  /** Index of the image with the higher mean rating (0 on an exact tie; callers require a margin). */
  label: 0 | 1;
  /** Fraction of annotators whose strict preference goes against the label. */
  disagreement: number;
}

/** The same annotators rate both images of a pair. */
export function ratePair(rng: Rng, pool: readonly Rater[], config: RaterConfig, a: RatingInput, b: RatingInput): PairRating {
  const chosen = rng.sample(pool, config.perItem);
  const ra = chosen.map((r) => rateOnce(rng, r, a));
  const rb = chosen.map((r) => rateOnce(rng, r, b));
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const margin = mean(ra) - mean(rb);
  const label = margin >= 0 ? 0 : 1;
  const preferences = ra.map((x, i) => (x > rb[i]! ? 0 : x < rb[i]! ? 1 : 0.5));
  const against = preferences.filter((p) => p !== 0.5 && p !== label).length;
  return { ratings: [ra, rb], raterIds: chosen.map((r) => r.id), preferences, margin, label, disagreement: against / chosen.length };
}
