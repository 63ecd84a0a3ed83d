// Classification metrics for judges: accuracy, confusion matrix, per-class precision/recall/F1 and
// macro-F1 (the paper's headline metric).
//
// A prediction may be null: the judge's output had no parsable verdict. It is never silently dropped:
// it counts as wrong for accuracy and as a miss (false negative) for the gold class, but as a false
// positive for no class. Dropping it would let a judge raise its score by refusing hard items.
// Zero-division (a class never predicted, or never present) gives 0, as scikit-learn's default.

export type Prediction = number | null;

function checkPair(fn: string, pred: readonly Prediction[], gold: readonly number[]): void {
  if (!Array.isArray(pred)) throw new TypeError(`${fn}: predictions: expected an array of labels or nulls`);
  if (!Array.isArray(gold)) throw new TypeError(`${fn}: gold: expected an array of labels`);
  if (pred.length !== gold.length) throw new RangeError(`${fn}: predictions (${pred.length}) and gold (${gold.length}) differ in length`);
  gold.forEach((g, i) => {
    if (!Number.isFinite(g)) throw new TypeError(`${fn}: gold[${i}]: expected a finite number, got ${String(g)}`);
  });
  pred.forEach((p, i) => {
    if (p !== null && !Number.isFinite(p)) throw new TypeError(`${fn}: predictions[${i}]: expected a finite number or null, got ${String(p)}`);
  });
}

/** Fraction of predictions equal to gold (null = wrong). NaN for empty input. */
export function accuracy(pred: readonly Prediction[], gold: readonly number[]): number {
  checkPair('accuracy', pred, gold);
  if (gold.length === 0) return NaN;
  let c = 0;
  for (let i = 0; i < gold.length; i++) if (pred[i] === gold[i]) c++;
  return c / gold.length;
}

export interface LabelOptions {
  /** The label set. Default: sorted union of gold labels and non-null predictions. */
  labels?: readonly number[];
}

export interface ConfusionMatrix {
  labels: number[];
  /** matrix[i][j] = items with gold labels[i] predicted as labels[j]. */
  matrix: number[][];
  /** invalid[i] = items with gold labels[i] whose prediction was null or outside `labels`. */
  invalid: number[];
  /** Items whose gold label is outside `labels` (only possible with explicit labels); they are not counted elsewhere. */
  ignored: number;
  total: number;
}

function resolveLabels(fn: string, pred: readonly Prediction[], gold: readonly number[], opts: LabelOptions): number[] {
  if (opts.labels !== undefined) {
    if (!Array.isArray(opts.labels) || opts.labels.length === 0) throw new TypeError(`${fn}: opts.labels: expected a non-empty array`);
    if (new Set(opts.labels).size !== opts.labels.length) throw new TypeError(`${fn}: opts.labels: labels must be distinct`);
    return [...opts.labels];
  }
  const set = new Set<number>(gold);
  for (const p of pred) if (p !== null) set.add(p);
  return [...set].sort((a, b) => a - b);
}

export function confusionMatrix(pred: readonly Prediction[], gold: readonly number[], opts: LabelOptions = {}): ConfusionMatrix {
  checkPair('confusionMatrix', pred, gold);
  const labels = resolveLabels('confusionMatrix', pred, gold, opts);
  const idx = new Map(labels.map((l, i) => [l, i]));
  const K = labels.length;
  const matrix = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const invalid = new Array<number>(K).fill(0);
  let ignored = 0;
  for (let i = 0; i < gold.length; i++) {
    const gi = idx.get(gold[i]!);
    if (gi === undefined) {
      ignored++;
      continue;
    }
    const p = pred[i];
    const pi = p === null || p === undefined ? undefined : idx.get(p);
    if (pi === undefined) invalid[gi]!++;
    else matrix[gi]![pi]!++;
  }
  return { labels, matrix, invalid, ignored, total: gold.length };
}

export interface ClassMetrics {
  label: number;
  precision: number;
  recall: number;
  f1: number;
  /** Gold items of this class. */
  support: number;
  /** Valid predictions of this class. */
  predicted: number;
}

export interface ClassificationReport {
  labels: number[];
  perClass: ClassMetrics[];
  accuracy: number;
  macroPrecision: number;
  macroRecall: number;
  /** Unweighted mean of per-class F1 (the paper's metric). */
  macroF1: number;
  /** Support-weighted mean of per-class F1. */
  weightedF1: number;
  /** Fraction of predictions that were null or outside the label set. */
  invalidRate: number;
  n: number;
  confusion: ConfusionMatrix;
}

export function classificationReport(pred: readonly Prediction[], gold: readonly number[], opts: LabelOptions = {}): ClassificationReport {
  const cm = confusionMatrix(pred, gold, opts);
  const K = cm.labels.length;
  const perClass: ClassMetrics[] = [];
  for (let c = 0; c < K; c++) {
    const tp = cm.matrix[c]![c]!;
    let predicted = 0;
    for (let r = 0; r < K; r++) predicted += cm.matrix[r]![c]!;
    const support = cm.matrix[c]!.reduce((a, b) => a + b, 0) + cm.invalid[c]!;
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ label: cm.labels[c]!, precision, recall, f1, support, predicted });
  }
  const counted = cm.total - cm.ignored;
  const mean = (f: (m: ClassMetrics) => number) => (K > 0 ? perClass.reduce((a, m) => a + f(m), 0) / K : NaN);
  const totalSupport = perClass.reduce((a, m) => a + m.support, 0);
  let correct = 0;
  for (let c = 0; c < K; c++) correct += cm.matrix[c]![c]!;
  const invalid = cm.invalid.reduce((a, b) => a + b, 0);
  return {
    labels: cm.labels,
    perClass,
    accuracy: counted > 0 ? correct / counted : NaN,
    macroPrecision: mean((m) => m.precision),
    macroRecall: mean((m) => m.recall),
    macroF1: counted > 0 ? mean((m) => m.f1) : NaN,
    weightedF1: totalSupport > 0 ? perClass.reduce((a, m) => a + m.f1 * m.support, 0) / totalSupport : NaN,
    invalidRate: counted > 0 ? invalid / counted : NaN,
    n: counted,
    confusion: cm,
  };
}

/** Macro-F1: the unweighted mean over classes of F1 (null predictions count as misses). */
export function macroF1(pred: readonly Prediction[], gold: readonly number[], opts: LabelOptions = {}): number {
  return classificationReport(pred, gold, opts).macroF1;
}
