// Confidence intervals over seeds and test examples (lib/metrics/bootstrap.ts) and the seed summary of
// an experiment (lib/experiment/seeds.ts), on settings small enough to check by hand.
import { describe, expect, it } from 'vitest';
import { bootstrapTaskMeans, percentileInterval, quantile } from '../lib/metrics/bootstrap.js';
import { aggregateSeedRuns } from '../lib/experiment/seeds.js';
import { scoreTable, type MethodReport, type TaskScore } from '../lib/report/report.js';

const meanOf = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('percentile intervals', () => {
  it('interpolates between order statistics', () => {
    expect(quantile([1, 2, 3, 4, 5], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4, 5], 0.25)).toBe(2);
    expect(quantile([0, 10], 0.025)).toBeCloseTo(0.25, 12);
    // 0..100: the 2.5 % and 97.5 % quantiles are 2.5 and 97.5.
    const v = Array.from({ length: 101 }, (_, i) => i);
    const [lo, hi] = percentileInterval(v, 0.95);
    expect(lo).toBeCloseTo(2.5, 12);
    expect(hi).toBeCloseTo(97.5, 12);
  });
});

describe('bootstrapTaskMeans', () => {
  it('a constant statistic has a zero-width interval', () => {
    const runs = [[[1, 1, 1, 1]], [[1, 1, 1, 1]]];
    const r = bootstrapTaskMeans(runs, meanOf, { resamples: 200 });
    expect(r.perTask[0]).toEqual({ estimate: 1, lo: 1, hi: 1, seeds: 2, n: 4 });
  });

  it('two seeds that disagree completely: replicates are 0, 0.5 or 1 with odds 1:2:1', () => {
    // Seed A scores 1 on every item, seed B 0; resampling items inside a seed changes nothing, so a
    // replicate is the mean of two seeds drawn with replacement: P(0) = 1/4, P(0.5) = 1/2, P(1) = 1/4.
    const runs = [[[1, 1, 1]], [[0, 0, 0]]];
    const r = bootstrapTaskMeans(runs, meanOf, { resamples: 4000, seed: 3 });
    expect(r.perTask[0]!.estimate).toBe(0.5);
    expect(r.perTask[0]!.lo).toBe(0);
    expect(r.perTask[0]!.hi).toBe(1);
    const r90 = bootstrapTaskMeans(runs, meanOf, { resamples: 4000, seed: 3, level: 0.4 });
    // The central 40 % lies inside the 0.5 mass (from 0.25 to 0.75 of the distribution).
    expect([r90.perTask[0]!.lo, r90.perTask[0]!.hi]).toEqual([0.5, 0.5]);
  });

  it('one seed of 400 fair coin flips: interval ≈ 0.5 ± 1.96·0.025', () => {
    const items = Array.from({ length: 400 }, (_, i) => i % 2);
    const r = bootstrapTaskMeans([[items]], meanOf, { resamples: 3000, seed: 1 });
    const iv = r.perTask[0]!;
    expect(iv.estimate).toBe(0.5);
    expect(Math.abs(iv.lo - 0.451)).toBeLessThan(0.012);
    expect(Math.abs(iv.hi - 0.549)).toBeLessThan(0.012);
  });

  it('the mean over tasks: estimate is the mean of the task estimates; reproducible by seed', () => {
    const runs = [
      [
        [1, 1, 0, 1],
        [0, 0, 1, 0],
      ],
      [
        [1, 0, 1, 1],
        [0, 1, 0, 0],
      ],
    ];
    const a = bootstrapTaskMeans(runs, meanOf, { resamples: 300, seed: 7 });
    const b = bootstrapTaskMeans(runs, meanOf, { resamples: 300, seed: 7 });
    expect(a).toEqual(b);
    expect(a.perTask.map((t) => t.estimate)).toEqual([0.75, 0.25]);
    expect(a.mean.estimate).toBe(0.5);
    expect(a.mean.lo).toBeLessThanOrEqual(0.5);
    expect(a.mean.hi).toBeGreaterThanOrEqual(0.5);
    expect(a.mean.lo).toBeGreaterThanOrEqual(0);
    expect(a.mean.hi).toBeLessThanOrEqual(1);
  });

  it('rejects bad options and ragged runs with errors that name them', () => {
    expect(() => bootstrapTaskMeans([], meanOf)).toThrow(/runs/);
    expect(() => bootstrapTaskMeans([[[1]], [[1], [0]]], meanOf)).toThrow(/seed 1 has 2 tasks/);
    expect(() => bootstrapTaskMeans([[[1]]], meanOf, { resamples: 0 })).toThrow(/resamples/);
    expect(() => bootstrapTaskMeans([[[1]]], meanOf, { level: 1 })).toThrow(/level/);
  });
});

function score(pred: (number | null)[], gold: number[], swapped?: (number | null)[]): TaskScore {
  const acc = pred.filter((p, i) => p === gold[i]).length / gold.length;
  return { macroF1: NaN, accuracy: acc, n: gold.length, formatRate: 1, raw: { pred, gold, labels: [1, 0], ...(swapped ? { swapped } : {}) } };
}

describe('aggregateSeedRuns', () => {
  // Two seeds of one method on one binary task and one pairwise task; a base model in the first only.
  const perfect = score([1, 0, 1, 0], [1, 0, 1, 0]);
  const allYes = score([1, 1, 1, 1], [1, 0, 1, 0]); // macro-F1 = (2/3 + 0) / 2 = 1/3
  const mk = (method: string, id: TaskScore, ood?: TaskScore): MethodReport => ({
    method,
    label: method.toUpperCase(),
    inDistribution: { t: id },
    outOfDistribution: ood ? { p: ood } : {},
    trainSeconds: 10,
  });
  const pairsRight = score([0, 1], [0, 1], [1, 0]); // right in both orders
  const pairsFirst = score([0, 0], [0, 1], [0, 0]); // always the first image: flips
  const runs = [
    { seed: 0, methods: [mk('base', allYes), mk('m', perfect, pairsRight)] },
    { seed: 1, methods: [mk('m', allYes, pairsFirst)] },
  ];
  const out = aggregateSeedRuns(runs, { resamples: 500, seed: 0 });

  it('means over seeds, n per cell, seeds per method', () => {
    const base = out.find((m) => m.method === 'base')!;
    const m = out.find((x) => x.method === 'm')!;
    expect(base.seeds).toEqual([0]);
    expect(m.seeds).toEqual([0, 1]);
    expect(base.inDistribution.t!.macroF1).toBeCloseTo(1 / 3, 12);
    expect(m.inDistribution.t!.macroF1).toBeCloseTo((1 + 1 / 3) / 2, 12);
    expect(m.inDistribution.t!.seeds).toBe(2);
    expect(m.inDistribution.t!.n).toBe(4);
    expect(m.inDistribution.t!.accuracy).toBeCloseTo(0.75, 12);
    // Position-consistent accuracy: seed 0 gets both pairs right in both orders (1), seed 1 none (0).
    expect(m.outOfDistribution.p!.positionConsistentAccuracy).toBe(0.5);
    const [lo, hi] = m.inDistribution.t!.interval!.macroF1!;
    expect(lo).toBeLessThanOrEqual(m.inDistribution.t!.macroF1);
    expect(hi).toBeGreaterThanOrEqual(m.inDistribution.t!.macroF1);
    expect(m.meanIntervals!.inDistribution!.estimate).toBeCloseTo(2 / 3, 12);
    expect(m.trainSeconds).toBe(10);
  });

  it('the table shows the interval and n = seeds × examples', () => {
    const t = scoreTable(out, 'inDistribution');
    expect(t).toMatch(/\| n \|/);
    expect(t).toMatch(/\| M \| \*\*66\.7 \[\d+\.\d, \d+\.\d\]\*\* \|/);
    expect(t).toMatch(/ 2×4 \|/);
    expect(t).toMatch(/ 1×4 \|/);
  });

  it('a run without raw predictions is refused with the method and task named', () => {
    const bad = [{ seed: 0, methods: [{ method: 'x', label: 'X', inDistribution: { t: { macroF1: 1, accuracy: 1, n: 1 } }, outOfDistribution: {} }] }];
    expect(() => aggregateSeedRuns(bad)).toThrow(/x\/t has no raw predictions/);
  });
});
