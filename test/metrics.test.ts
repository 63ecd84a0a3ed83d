// Tests for judge metrics on hand-worked examples (values derived by hand in the comments, ties
// included) and against independent brute-force implementations written here.
import { describe, expect, it } from 'vitest';
import {
  accuracy,
  classificationReport,
  confusionMatrix,
  formatTable,
  kendallTauB,
  macroF1,
  majorityVote,
  pearson,
  positionConsistency,
  rankAverage,
  selfConsistency,
  spearman,
  taskReport,
} from '../lib/metrics/index.js';

describe('classification metrics', () => {
  // gold 1 1 1 0 0 0 0 1 / pred 1 0 1 0 1 0 null 1
  // class 1: TP 3 (items 0, 2, 7); predicted 1 at items 0, 2, 4, 7 → P = 3/4; support 4 → R = 3/4; F1 = 3/4
  // class 0: TP 2 (items 3, 5); predicted 0 at items 1, 3, 5 → P = 2/3; support 4 → R = 1/2; F1 = 4/7
  // macro-F1 = (3/4 + 4/7)/2 = 37/56; accuracy 5/8; the null is a miss for class 0, a false positive for none.
  const gold = [1, 1, 1, 0, 0, 0, 0, 1];
  const pred = [1, 0, 1, 0, 1, 0, null, 1];

  it('binary, with an unparsable prediction', () => {
    expect(accuracy(pred, gold)).toBe(5 / 8);
    const r = classificationReport(pred, gold);
    expect(r.labels).toEqual([0, 1]);
    expect(r.perClass[1]).toEqual({ label: 1, precision: 0.75, recall: 0.75, f1: 0.75, support: 4, predicted: 4 });
    expect(r.perClass[0]!.precision).toBeCloseTo(2 / 3, 15);
    expect(r.perClass[0]!.recall).toBe(0.5);
    expect(r.perClass[0]!.f1).toBeCloseTo(4 / 7, 15);
    expect(r.macroF1).toBeCloseTo(37 / 56, 15);
    expect(macroF1(pred, gold)).toBeCloseTo(37 / 56, 15);
    expect(r.invalidRate).toBe(1 / 8);
    expect(r.confusion.matrix).toEqual([
      [2, 1],
      [1, 3],
    ]);
    expect(r.confusion.invalid).toEqual([1, 0]);
  });

  it('three classes by hand', () => {
    // gold 0 0 0 1 1 2 2 2 2 / pred 0 1 0 1 2 2 2 0 null
    // rows (gold) × cols (pred): [2 1 0] [0 1 1] [1 0 2] + one invalid for gold 2
    // F1: class 0 = 2/3 (P 2/3, R 2/3); class 1 = 1/2 (P 1/2, R 1/2); class 2 = 4/7 (P 2/3, R 1/2)
    const g = [0, 0, 0, 1, 1, 2, 2, 2, 2];
    const p = [0, 1, 0, 1, 2, 2, 2, 0, null];
    const r = classificationReport(p, g);
    expect(r.confusion.matrix).toEqual([
      [2, 1, 0],
      [0, 1, 1],
      [1, 0, 2],
    ]);
    expect(r.confusion.invalid).toEqual([0, 0, 1]);
    expect(r.macroF1).toBeCloseTo(73 / 126, 15);
    expect(r.weightedF1).toBeCloseTo(37 / 63, 15);
    expect(r.accuracy).toBeCloseTo(5 / 9, 15);
    expect(r.macroPrecision).toBeCloseTo((2 / 3 + 1 / 2 + 2 / 3) / 3, 15);
    expect(r.macroRecall).toBeCloseTo((2 / 3 + 1 / 2 + 1 / 2) / 3, 15);
  });

  it('explicit labels: a class never seen scores 0; predictions outside the set are invalid', () => {
    const r = classificationReport([0, 0, 5], [0, 0, 0], { labels: [0, 1] });
    // class 0: TP 2, predicted 2 → P 1, support 3 → R 2/3, F1 0.8; class 1: no support, no predictions → 0
    expect(r.perClass.map((c) => c.f1)).toEqual([expect.closeTo(0.8, 15), 0]);
    expect(r.macroF1).toBeCloseTo(0.4, 15);
    expect(r.confusion.invalid).toEqual([1, 0]);
    const cm = confusionMatrix([0, 1], [0, 7], { labels: [0, 1] });
    expect(cm.ignored).toBe(1);
  });

  it('a judge that always answers one class', () => {
    // gold 1 1 0 0, pred always 1: class 1 P = 1/2, R = 1, F1 = 2/3; class 0 F1 = 0 → macro 1/3
    expect(macroF1([1, 1, 1, 1], [1, 1, 0, 0])).toBeCloseTo(1 / 3, 15);
  });

  it('rejects mismatched or bad input', () => {
    expect(() => accuracy([1], [1, 0])).toThrow(/accuracy: predictions \(1\) and gold \(2\) differ in length/);
    expect(() => macroF1([NaN], [1])).toThrow(/predictions\[0\]: expected a finite number or null, got NaN/);
    expect(() => macroF1([1], [null as unknown as number])).toThrow(/gold\[0\]: expected a finite number/);
    expect(() => confusionMatrix([1], [1], { labels: [1, 1] })).toThrow(/opts\.labels: labels must be distinct/);
    expect(Number.isNaN(accuracy([], []))).toBe(true);
  });
});

describe('correlations', () => {
  // x = 1..5, y = 2 4 5 4 5 (ties in y)
  const x = [1, 2, 3, 4, 5];
  const y = [2, 4, 5, 4, 5];

  it('Pearson by hand: Σdxdy = 6, Σdx² = 10, Σdy² = 6 → 6/√60', () => {
    expect(pearson(x, y)).toBeCloseTo(6 / Math.sqrt(60), 15);
    expect(pearson([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 15);
    // far from 0: the two-pass sums keep full precision
    expect(pearson(x.map((v) => v + 1e9), y.map((v) => v + 1e9))).toBeCloseTo(6 / Math.sqrt(60), 9);
  });

  it('average ranks and Spearman with ties: ranks y = 1, 2.5, 4.5, 2.5, 4.5 → 7/√90', () => {
    expect([...rankAverage(y)]).toEqual([1, 2.5, 4.5, 2.5, 4.5]);
    expect([...rankAverage([3, 1, 3, 3, 2])]).toEqual([4, 1, 4, 4, 2]);
    expect(spearman(x, y)).toBeCloseTo(7 / Math.sqrt(90), 15);
  });

  it('Kendall tau-b by hand: C = 7, D = 1, one y-tie pair of two → 6/√80', () => {
    expect(kendallTauB(x, y)).toBeCloseTo(6 / Math.sqrt(80), 15);
    // ties in both: x = 1 1 2 3, y = 1 2 2 3 → C = 4, D = 0, n1 = n2 = 1, n0 = 6 → 4/5
    expect(kendallTauB([1, 1, 2, 3], [1, 2, 2, 3])).toBeCloseTo(0.8, 15);
    expect(kendallTauB([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 15);
  });

  it('undefined cases are NaN, not 0', () => {
    for (const f of [pearson, spearman, kendallTauB]) {
      expect(Number.isNaN(f([1, 2, 3], [4, 4, 4]))).toBe(true);
      expect(Number.isNaN(f([1], [2]))).toBe(true);
    }
    expect(() => pearson([1, 2], [1])).toThrow(/pearson: x \(2\) and y \(1\) differ in length/);
    expect(() => spearman([1, NaN], [1, 2])).toThrow(/spearman: x\[1\]: expected a finite number/);
  });

  it('Spearman and Kendall agree with brute-force definitions on random data with many ties', () => {
    let seed = 99;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const bruteKendall = (a: number[], b: number[]) => {
      let c = 0;
      let d = 0;
      let tx = 0;
      let ty = 0;
      const n = a.length;
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          const s = Math.sign(a[i]! - a[j]!) * Math.sign(b[i]! - b[j]!);
          if (a[i] === a[j]) tx++;
          if (b[i] === b[j]) ty++;
          if (s > 0) c++;
          else if (s < 0) d++;
        }
      }
      const n0 = (n * (n - 1)) / 2;
      return (c - d) / Math.sqrt((n0 - tx) * (n0 - ty));
    };
    let maxErr = 0;
    for (const n of [2, 3, 17, 100, 257]) {
      for (let rep = 0; rep < 5; rep++) {
        const a = Array.from({ length: n }, () => Math.floor(rand() * 5)); // 1..5-like ratings: many ties
        const b = a.map((v) => (rand() < 0.6 ? v : Math.floor(rand() * 5)) + (rep % 2 ? rand() : 0));
        const kb = bruteKendall(a, b);
        const k = kendallTauB(a, b);
        if (Number.isNaN(kb)) expect(Number.isNaN(k)).toBe(true);
        else maxErr = Math.max(maxErr, Math.abs(k - kb));
        // distinct values: Spearman = 1 − 6Σd²/(n(n² − 1))
        const u = Array.from({ length: n }, () => rand());
        const w = u.map((v) => v + 0.3 * rand());
        if (n > 2) {
          const ru = [...u].map((v) => u.filter((q) => q < v).length + 1);
          const rw = [...w].map((v) => w.filter((q) => q < v).length + 1);
          const d2 = ru.reduce((s, r, i) => s + (r - rw[i]!) ** 2, 0);
          maxErr = Math.max(maxErr, Math.abs(spearman(u, w) - (1 - (6 * d2) / (n * (n * n - 1)))));
        }
      }
    }
    expect(maxErr, `max |error| = ${maxErr.toExponential(2)}`).toBeLessThan(1e-12);
  });
});

describe('consistency', () => {
  it('position swap by hand', () => {
    // gold (original order) 0 1 0 1 0; original 0 1 1 0 null; swapped 1 0 1 0 1
    // pair 0, 1: right both times, consistent. pair 2: B both times (wrong, then right): flip, second-position bias.
    // pair 3: A both times (wrong, then right): flip, first-position bias. pair 4: invalid original.
    const r = positionConsistency([0, 1, 1, 0, null], [1, 0, 1, 0, 1], [0, 1, 0, 1, 0]);
    expect(r).toEqual({
      n: 5,
      bothValid: 4,
      consistency: 0.5,
      flipRate: 0.5,
      positionConsistentAccuracy: 0.4,
      accuracyOriginal: 0.4,
      accuracySwapped: 1,
      firstPositionBias: 0.25,
      secondPositionBias: 0.25,
    });
    expect(() => positionConsistency([2], [0], [0])).toThrow(/original\[0\]: expected 0 or 1 or null, got 2/);
    expect(() => positionConsistency([0], [0, 1], [0])).toThrow(/differ in length/);
  });

  it('majority vote with ties and nulls', () => {
    const samples = [[1, 1, 0], [0, 1, null, null], [null, null], [2, 0, 0, 2], [1]];
    expect(majorityVote(samples)).toEqual([1, 0, null, 2, 1]); // ties → the tied label seen first
    expect(majorityVote(samples, { tieBreak: 'none' })).toEqual([1, null, null, null, 1]);
  });

  it('self-consistency by hand', () => {
    // agreement per item: 2/3, 1/4, 0/2, 2/4, 1/1 → mean 29/60; unanimous: only the last; 4 nulls of 14
    const r = selfConsistency([[1, 1, 0], [0, 1, null, null], [null, null], [2, 0, 0, 2], [1]]);
    expect(r.agreement).toBeCloseTo(29 / 60, 15);
    expect(r.unanimity).toBe(0.2);
    expect(r.invalidRate).toBeCloseTo(4 / 14, 15);
    expect(r.majority).toEqual([1, 0, null, 2, 1]);
    expect(() => selfConsistency([[]])).toThrow(/samples\[0\]: expected a non-empty array/);
  });
});

describe('reports and tables', () => {
  it('taskReport: binary with a correlation signal, and a score task', () => {
    const row = taskReport({
      task: 'alignment',
      format: 'binary',
      predictions: [1, 0, 1, null],
      gold: [1, 0, 0, 1],
      labels: [0, 1],
      correlate: { judge: [1, 2, 3, null], human: [2, 4, 5, 1] },
    });
    // class 1: TP 1, predicted 2, support 2 → F1 1/2; class 0: TP 1, predicted 1, support 2 → P 1, R 1/2, F1 2/3
    expect(row).toMatchObject({ task: 'alignment', n: 4, valid: 0.75, accuracy: 0.5, nCorrelated: 3 });
    expect(row.macroF1).toBeCloseTo((1 / 2 + 2 / 3) / 2, 15);
    // judge 1 2 3 vs human 2 4 5: dx −1 0 1, dy −5/3 1/3 4/3 → Σdxdy = 3, Σdx² = 2, Σdy² = 14/3
    expect(row.pearson).toBeCloseTo(3 / Math.sqrt(2 * (14 / 3)), 15);
    expect(row.spearman).toBeCloseTo(1, 15);
    expect(row.kendallTauB).toBeCloseTo(1, 15);

    const s = taskReport({ task: 'score', format: 'score', predictions: [3, 4.5, null, 1], gold: [3, 4, 2, 2], tolerance: 0.5 });
    // |d| = 0, 0.5, —, 1 → accurate 2 of 4; MAE over valid = 1.5/3
    expect(s).toMatchObject({ accuracy: 0.5, valid: 0.75, mae: 0.5 });
    expect(Number.isNaN(s.macroF1)).toBe(true);
  });

  it('formatTable: aligned text and Markdown', () => {
    const rows = [
      { task: 'safety', n: 64, accuracy: 0.8125, macroF1: NaN },
      { task: 'alignment', n: 128, accuracy: 0.75, macroF1: 0.7 },
    ];
    const cols = ['task', 'n', { key: 'accuracy', header: 'acc %', percent: true, digits: 1 }, { key: 'macroF1', header: 'F1' }];
    expect(formatTable(rows, { columns: cols })).toBe(
      ['task         n  acc %     F1', '---------  ---  -----  -----', 'safety      64   81.3      —', 'alignment  128   75.0  0.700'].join('\n'),
    );
    expect(formatTable(rows, { columns: cols, style: 'markdown' })).toBe(
      ['| task      |   n | acc % |    F1 |', '|:----------|----:|------:|------:|', '| safety    |  64 |  81.3 |     — |', '| alignment | 128 |  75.0 | 0.700 |'].join('\n'),
    );
    expect(formatTable([])).toBe('');
    expect(() => formatTable(rows, { digits: -1 })).toThrow(/opts\.digits/);
  });
});
