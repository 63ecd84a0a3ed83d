// Per-task evaluation summary: one row of metrics from a task's predictions, in the shape
// `formatTable` prints and evaluation code writes to JSONL.
import type { JudgeFormat } from '../data/types.js';
import { classificationReport, type Prediction } from './classification.js';
import { kendallTauB, pearson, spearman } from './correlation.js';

export interface TaskPredictions {
  task: string;
  format: JudgeFormat;
  /** Parsed verdict per example (null = unparsable). Score tasks: the predicted score. */
  predictions: readonly Prediction[];
  /** Gold label per example (score tasks: the gold score). */
  gold: readonly number[];
  /** The task's discrete label space (binary/pairwise/choice); default: labels seen. */
  labels?: readonly number[];
  /** Score tasks: a prediction counts as accurate when |pred − gold| ≤ tolerance (default 0). */
  tolerance?: number;
  /**
   * Optional graded signal to correlate with human ratings: `judge[i]` (e.g. the judge's P(yes), the
   * fraction of k samples saying yes, or a predicted score; null = none) against `human[i]` (e.g. the
   * raters' mean). Pairs with a null judge value are left out.
   */
  correlate?: { judge: readonly (number | null)[]; human: readonly number[] };
}

export interface TaskReportRow {
  task: string;
  n: number;
  /** Fraction of predictions with a valid verdict. */
  valid: number;
  accuracy: number;
  /** Macro-F1 over the label space (NaN for score tasks). */
  macroF1: number;
  /** Score tasks: mean |pred − gold| over valid predictions. */
  mae?: number;
  pearson?: number;
  spearman?: number;
  kendallTauB?: number;
  /** Pairs used for the correlations. */
  nCorrelated?: number;
}

/** Summarises one task's predictions. */
export function taskReport(input: TaskPredictions): TaskReportRow {
  const { task, format, predictions, gold } = input;
  if (predictions.length !== gold.length) {
    throw new RangeError(`taskReport("${task}"): predictions (${predictions.length}) and gold (${gold.length}) differ in length`);
  }
  const n = gold.length;
  const validCount = predictions.filter((p) => p !== null).length;
  let row: TaskReportRow;
  if (format === 'score') {
    const tol = input.tolerance ?? 0;
    let correct = 0;
    let absErr = 0;
    for (let i = 0; i < n; i++) {
      const p = predictions[i];
      if (p === null || p === undefined) continue;
      const d = Math.abs(p - gold[i]!);
      absErr += d;
      if (d <= tol + 1e-9) correct++;
    }
    row = { task, n, valid: n > 0 ? validCount / n : NaN, accuracy: n > 0 ? correct / n : NaN, macroF1: NaN, mae: validCount > 0 ? absErr / validCount : NaN };
  } else {
    const rep = classificationReport(predictions, gold, input.labels !== undefined ? { labels: input.labels } : {});
    row = { task, n, valid: n > 0 ? validCount / n : NaN, accuracy: rep.accuracy, macroF1: rep.macroF1 };
  }
  if (input.correlate !== undefined) {
    const { judge, human } = input.correlate;
    if (judge.length !== human.length) throw new RangeError(`taskReport("${task}"): correlate.judge (${judge.length}) and correlate.human (${human.length}) differ in length`);
    const xs: number[] = [];
    const ys: number[] = [];
    judge.forEach((j, i) => {
      if (j !== null) {
        xs.push(j);
        ys.push(human[i]!);
      }
    });
    row.pearson = pearson(xs, ys);
    row.spearman = spearman(xs, ys);
    row.kendallTauB = kendallTauB(xs, ys);
    row.nCorrelated = xs.length;
  }
  return row;
}
