// Confidence intervals over training seeds and test examples: a two-level (hierarchical) percentile
// bootstrap. Each replicate draws the seeds with replacement, then, inside every drawn seed, that
// seed's test items with replacement, and recomputes the statistic, so the interval reflects both
// how much a method varies from one training run to the next and how few test examples there are.
// With one seed it reduces to the ordinary bootstrap over examples.
import { Rng } from '../rng.js';

export interface BootstrapOptions {
  /** Replicates. Default 1000. */
  resamples?: number;
  /** Two-sided coverage. Default 0.95. */
  level?: number;
  /** Seed of the resampling stream (the interval is reproducible). Default 0. */
  seed?: number;
}

/** A point estimate with its percentile interval and what it rests on. */
export interface Interval {
  /** Mean over seeds of the statistic on all items (the number reported). */
  estimate: number;
  lo: number;
  hi: number;
  /** Training seeds behind the estimate. */
  seeds: number;
  /** Test items per seed (the mean when seeds differ). */
  n: number;
}

/** The `q`-quantile (0..1) of `sorted` (ascending) by linear interpolation between order statistics. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const i = Math.floor(pos);
  const frac = pos - i;
  return i + 1 < sorted.length ? sorted[i]! + frac * (sorted[i + 1]! - sorted[i]!) : sorted[i]!;
}

/** The central `level` interval of `values` (NaNs dropped). */
export function percentileInterval(values: readonly number[], level = 0.95): [number, number] {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const a = (1 - level) / 2;
  return [quantile(v, a), quantile(v, 1 - a)];
}

function checkOptions(o: BootstrapOptions, fn: string): Required<BootstrapOptions> {
  const resamples = o.resamples ?? 1000;
  const level = o.level ?? 0.95;
  if (!Number.isInteger(resamples) || resamples < 1) throw new RangeError(`${fn}: resamples must be a positive integer, got ${String(resamples)}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`${fn}: level must be in (0, 1), got ${String(level)}`);
  return { resamples, level, seed: o.seed ?? 0 };
}

function resample<T>(rng: Rng, items: readonly T[]): T[] {
  const out = new Array<T>(items.length);
  for (let i = 0; i < items.length; i++) out[i] = items[rng.int(items.length)]!;
  return out;
}

/**
 * Intervals for several tasks and for their mean, from one shared set of replicates (the same seeds
 * are drawn for every task in a replicate, so the mean's interval keeps the seed-to-seed correlation
 * between tasks).
 *
 * @param runs runs[s][t] = the test items of task t in training seed s (every seed has every task)
 * @param stat the statistic of one task's items (e.g. macro-F1 of their predictions)
 */
export function bootstrapTaskMeans<T>(runs: readonly (readonly (readonly T[])[])[], stat: (items: readonly T[]) => number, opts: BootstrapOptions = {}): { perTask: Interval[]; mean: Interval } {
  const fn = 'bootstrapTaskMeans';
  const o = checkOptions(opts, fn);
  if (!Array.isArray(runs) || runs.length === 0) throw new RangeError(`${fn}: runs must hold at least one seed`);
  const nTasks = runs[0]!.length;
  for (const [s, r] of runs.entries()) if (r.length !== nTasks) throw new RangeError(`${fn}: seed ${s} has ${r.length} tasks, seed 0 has ${nTasks}`);
  const seeds = runs.length;
  const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const estimates = Array.from({ length: nTasks }, (_, t) => meanOf(runs.map((r) => stat(r[t]!))));
  const rng = Rng.from('bootstrap', o.seed);
  const reps: number[][] = Array.from({ length: nTasks }, () => []);
  const meanReps: number[] = [];
  for (let b = 0; b < o.resamples; b++) {
    const drawn = Array.from({ length: seeds }, () => runs[rng.int(seeds)]!);
    const perTask = estimates.map((_, t) => meanOf(drawn.map((r) => stat(resample(rng, r[t]!)))));
    perTask.forEach((v, t) => reps[t]!.push(v));
    meanReps.push(meanOf(perTask));
  }
  const nOf = (t: number) => meanOf(runs.map((r) => r[t]!.length));
  const perTask = estimates.map((estimate, t) => {
    const [lo, hi] = percentileInterval(reps[t]!, o.level);
    return { estimate, lo, hi, seeds, n: nOf(t) };
  });
  const [lo, hi] = percentileInterval(meanReps, o.level);
  return { perTask, mean: { estimate: meanOf(estimates), lo, hi, seeds, n: meanOf(estimates.map((_, t) => nOf(t))) } };
}
