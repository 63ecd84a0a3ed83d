// Judgment consistency: position-swap consistency and flip rate for pairwise judges (J1), and
// self-consistency with majority voting across k sampled judgments.
import type { Prediction } from './classification.js';

export interface PositionConsistency {
  /** Pairs judged. */
  n: number;
  /** Pairs with a valid verdict in both orders. */
  bothValid: number;
  /** Of bothValid: fraction choosing the same underlying item in both orders. */
  consistency: number;
  /** Of bothValid: fraction whose choice of item flips when the order is swapped (1 − consistency). */
  flipRate: number;
  /** Of all n: fraction right in both orders (J1's position-consistent accuracy; invalid = wrong). */
  positionConsistentAccuracy: number;
  /** Accuracy in the original order and in the swapped order (invalid = wrong). */
  accuracyOriginal: number;
  accuracySwapped: number;
  /** Of bothValid: fraction answering "first position" (label 0) in both orders, and "second" (1). */
  firstPositionBias: number;
  secondPositionBias: number;
}

/**
 * Position-swap analysis. `original[i]` is the verdict (0 = first image, 1 = second) for pair i as
 * presented; `swapped[i]` the verdict when the two images are exchanged, in that presentation's own
 * positions; `gold[i]` the better image in the original order. Consistent: swapped = 1 − original.
 */
export function positionConsistency(original: readonly Prediction[], swapped: readonly Prediction[], gold: readonly number[]): PositionConsistency {
  const fn = 'positionConsistency';
  if (!Array.isArray(original) || !Array.isArray(swapped) || !Array.isArray(gold)) throw new TypeError(`${fn}: original, swapped, gold: expected arrays`);
  if (original.length !== gold.length || swapped.length !== gold.length) {
    throw new RangeError(`${fn}: original (${original.length}), swapped (${swapped.length}) and gold (${gold.length}) differ in length`);
  }
  const check = (v: Prediction, what: string, i: number, allowNull: boolean) => {
    if ((v === null && !allowNull) || (v !== null && v !== 0 && v !== 1)) {
      throw new TypeError(`${fn}: ${what}[${i}]: expected 0 or 1${allowNull ? ' or null' : ''}, got ${String(v)}`);
    }
  };
  const n = gold.length;
  let bothValid = 0;
  let consistent = 0;
  let pcAcc = 0;
  let accO = 0;
  let accS = 0;
  let first = 0;
  let second = 0;
  for (let i = 0; i < n; i++) {
    const o = original[i]!;
    const s = swapped[i]!;
    const g = gold[i]!;
    check(o, 'original', i, true);
    check(s, 'swapped', i, true);
    check(g, 'gold', i, false);
    const okO = o === g;
    const okS = s === 1 - g;
    if (okO) accO++;
    if (okS) accS++;
    if (okO && okS) pcAcc++;
    if (o !== null && s !== null) {
      bothValid++;
      if (s === 1 - o) consistent++;
      else if (o === 0) first++;
      else second++;
    }
  }
  const frac = (a: number, b: number) => (b > 0 ? a / b : NaN);
  return {
    n,
    bothValid,
    consistency: frac(consistent, bothValid),
    flipRate: frac(bothValid - consistent, bothValid),
    positionConsistentAccuracy: frac(pcAcc, n),
    accuracyOriginal: frac(accO, n),
    accuracySwapped: frac(accS, n),
    firstPositionBias: frac(first, bothValid),
    secondPositionBias: frac(second, bothValid),
  };
}

export interface MajorityOptions {
  /**
   * Ties between the most frequent labels: "first" (default) picks the tied label that appears first
   * among the samples; "none" gives null.
   */
  tieBreak?: 'first' | 'none';
}

function checkSamples(fn: string, samples: readonly (readonly Prediction[])[]): void {
  if (!Array.isArray(samples)) throw new TypeError(`${fn}: samples: expected an array (one entry per item) of arrays of k verdicts`);
  samples.forEach((row, i) => {
    if (!Array.isArray(row) || row.length === 0) throw new TypeError(`${fn}: samples[${i}]: expected a non-empty array of verdicts`);
    row.forEach((v, j) => {
      if (v !== null && !Number.isFinite(v)) throw new TypeError(`${fn}: samples[${i}][${j}]: expected a number or null, got ${String(v)}`);
    });
  });
}

function voteOne(row: readonly Prediction[], tieBreak: 'first' | 'none'): { label: Prediction; count: number } {
  const counts = new Map<number, number>();
  for (const v of row) if (v !== null) counts.set(v, (counts.get(v) ?? 0) + 1);
  if (counts.size === 0) return { label: null, count: 0 };
  let best = 0;
  for (const c of counts.values()) best = Math.max(best, c);
  const tied = [...counts.entries()].filter(([, c]) => c === best).map(([l]) => l);
  if (tied.length > 1 && tieBreak === 'none') return { label: null, count: best };
  // Map iteration order is first-insertion order, i.e. first appearance among the samples.
  return { label: tied[0]!, count: best };
}

/** Majority vote per item over its k sampled verdicts (nulls do not vote; all null → null). */
export function majorityVote(samples: readonly (readonly Prediction[])[], opts: MajorityOptions = {}): Prediction[] {
  checkSamples('majorityVote', samples);
  const tb = opts.tieBreak ?? 'first';
  if (tb !== 'first' && tb !== 'none') throw new RangeError(`majorityVote: opts.tieBreak: expected "first" or "none", got ${JSON.stringify(tb)}`);
  return samples.map((row) => voteOne(row, tb).label);
}

export interface SelfConsistency {
  /** Mean over items of (samples agreeing with the item's most frequent verdict) / k; nulls never agree. */
  agreement: number;
  /** Fraction of items whose k samples are all the same valid verdict. */
  unanimity: number;
  /** Fraction of all samples that had no valid verdict. */
  invalidRate: number;
  /** Majority verdict per item (tie-break as in majorityVote). */
  majority: Prediction[];
}

/** Self-consistency of a judge across k samples per item. */
export function selfConsistency(samples: readonly (readonly Prediction[])[], opts: MajorityOptions = {}): SelfConsistency {
  checkSamples('selfConsistency', samples);
  const tb = opts.tieBreak ?? 'first';
  let agree = 0;
  let unanimous = 0;
  let invalid = 0;
  let total = 0;
  const majority: Prediction[] = [];
  for (const row of samples) {
    const { label, count } = voteOne(row, tb);
    majority.push(label);
    agree += count / row.length;
    if (count === row.length) unanimous++;
    for (const v of row) if (v === null) invalid++;
    total += row.length;
  }
  const m = samples.length;
  return {
    agreement: m > 0 ? agree / m : NaN,
    unanimity: m > 0 ? unanimous / m : NaN,
    invalidRate: total > 0 ? invalid / total : NaN,
    majority,
  };
}
