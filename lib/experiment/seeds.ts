// Several training seeds of the same comparison, summarised as a mean with a 95 % bootstrap interval
// per task and for the means over tasks (seeds and test examples resampled together; see
// lib/metrics/bootstrap.ts). Methods missing from a seed's run (the deterministic base model is
// evaluated once) are summarised over the runs that have them, and the n behind each cell says so.
import { bootstrapTaskMeans, type BootstrapOptions } from '../metrics/bootstrap.js';
import { classificationReport } from '../metrics/classification.js';
import { positionConsistency } from '../metrics/consistency.js';
import type { MeanInterval, MethodReport, TaskScore } from '../report/report.js';

export interface SeedRun {
  /** The training seed of this run. */
  seed: number;
  methods: MethodReport[];
}

interface Item {
  p: number | null;
  g: number;
  s: number | null;
}

function itemsOf(score: TaskScore, where: string): Item[] {
  const raw = score.raw;
  if (!raw) throw new RangeError(`aggregateSeedRuns: ${where} has no raw predictions (evaluate with evaluateJudge, which records them)`);
  return raw.gold.map((g, i) => ({ p: raw.pred[i] ?? null, g, s: raw.swapped?.[i] ?? null }));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Seeds × tasks summary of one method on one side (in-distribution or OOD). */
function summarise(
  runs: MethodReport[],
  key: 'inDistribution' | 'outOfDistribution',
  opts: BootstrapOptions,
): { scores: Record<string, TaskScore>; mean?: MeanInterval; pcMean?: MeanInterval } {
  const tasks = Object.keys(runs[0]![key]);
  if (tasks.length === 0) return { scores: {} };
  for (const r of runs)
    for (const t of tasks) if (!r[key][t]) throw new RangeError(`aggregateSeedRuns: ${r.method} has no ${key} score for ${t} in every seed`);
  const labelsOf = (t: string) => runs[0]![key][t]!.raw?.labels;
  const items = runs.map((r) => tasks.map((t) => itemsOf(r[key][t]!, `${r.method}/${t}`)));
  const f1 = tasks.map((t) => (xs: readonly Item[]) => {
    const labels = labelsOf(t);
    return classificationReport(
      xs.map((x) => x.p),
      xs.map((x) => x.g),
      labels ? { labels } : {},
    ).macroF1;
  });
  // The statistic learns which task it scores from the items themselves (resamples are new arrays).
  const tagged = items.map((perTask) => perTask.map((xs, t) => xs.map((x) => ({ ...x, t }))));
  const stat = (xs: readonly (Item & { t: number })[]) => (xs.length ? f1[xs[0]!.t]!(xs) : NaN);
  const f1s = bootstrapTaskMeans(tagged, stat, opts);
  const pairwise = tasks.every((t) => runs[0]![key][t]!.raw?.swapped !== undefined);
  const pcs = pairwise
    ? bootstrapTaskMeans(tagged, (xs) => (xs.length ? positionConsistency(xs.map((x) => x.p), xs.map((x) => x.s), xs.map((x) => x.g)).positionConsistentAccuracy : NaN), opts)
    : undefined;
  const scores: Record<string, TaskScore> = {};
  tasks.forEach((t, i) => {
    const all = runs.map((r) => r[key][t]!);
    const avg = (f: (s: TaskScore) => number | undefined) => {
      const v = all.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
      return v.length === all.length ? mean(v) : undefined;
    };
    const fi = f1s.perTask[i]!;
    const pc = pcs?.perTask[i];
    const flip = avg((s) => s.flipRate);
    const sp = avg((s) => s.spearman);
    scores[t] = {
      macroF1: fi.estimate,
      accuracy: avg((s) => s.accuracy) ?? NaN,
      n: fi.n,
      seeds: runs.length,
      ...(avg((s) => s.formatRate) !== undefined ? { formatRate: avg((s) => s.formatRate)! } : {}),
      ...(pc ? { positionConsistentAccuracy: pc.estimate } : {}),
      ...(flip !== undefined ? { flipRate: flip } : {}),
      ...(sp !== undefined ? { spearman: sp } : {}),
      interval: { macroF1: [fi.lo, fi.hi], ...(pc ? { positionConsistentAccuracy: [pc.lo, pc.hi] as [number, number] } : {}) },
    };
  });
  return { scores, mean: f1s.mean, ...(pcs ? { pcMean: pcs.mean } : {}) };
}

/**
 * One MethodReport per method over all seed runs: per-task means with intervals, the means over
 * tasks with intervals, the seeds used; curves and examples from the first run that has the method.
 */
export function aggregateSeedRuns(runs: readonly SeedRun[], opts: BootstrapOptions = {}): MethodReport[] {
  if (runs.length === 0) throw new RangeError('aggregateSeedRuns: no runs');
  const order: string[] = [];
  for (const r of runs) for (const m of r.methods) if (!order.includes(m.method)) order.push(m.method);
  return order.map((method) => {
    const have = runs.filter((r) => r.methods.some((m) => m.method === method));
    const reports = have.map((r) => r.methods.find((m) => m.method === method)!);
    const first = reports[0]!;
    const id = summarise(reports, 'inDistribution', opts);
    const ood = summarise(reports, 'outOfDistribution', opts);
    const secs = reports.map((m) => m.trainSeconds).filter((x): x is number => x !== undefined);
    const meanIntervals: MethodReport['meanIntervals'] = {};
    if (id.mean) meanIntervals.inDistribution = id.mean;
    if (ood.mean) meanIntervals.outOfDistribution = ood.mean;
    if (ood.pcMean) meanIntervals.positionConsistentAccuracy = ood.pcMean;
    return {
      method,
      label: first.label,
      inDistribution: id.scores,
      outOfDistribution: ood.scores,
      ...(first.curves ? { curves: first.curves } : {}),
      ...(first.trainSteps !== undefined ? { trainSteps: first.trainSteps } : {}),
      ...(secs.length ? { trainSeconds: mean(secs) } : {}),
      seeds: have.map((r) => r.seed),
      meanIntervals,
    };
  });
}
