// Shared trainer plumbing: metrics as JSONL (one object per line, appended and flushed per step),
// early stopping on a validation plateau (with a JSON-safe state for checkpoints), and the small
// helpers both trainers use (validation subsets, means that ignore missing values).
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { JudgeExample } from '../data/types.js';

export class MetricsLog {
  readonly file: string | undefined;
  readonly records: Array<Record<string, unknown>> = [];

  constructor(file?: string) {
    this.file = file;
    if (file) mkdirSync(path.dirname(file), { recursive: true });
  }

  write(record: Record<string, unknown>): void {
    this.records.push(record);
    if (this.file) appendFileSync(this.file, JSON.stringify(record, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)) + '\n');
  }
}

export interface EarlyStoppingState {
  /** Best score so far (-Infinity before the first evaluation). */
  best: number;
  /** Step of the best score (-1 before the first evaluation). */
  bestStep: number;
  /** Evaluations since the last improvement. */
  badEvals: number;
}

/** EarlyStoppingState as it is saved in trainer_state.json: JSON has no -Infinity, so "no best yet" is null. */
export interface EarlyStoppingSnapshot {
  best: number | null;
  bestStep: number;
  badEvals: number;
}

/**
 * Early stopping on a validation metric that should increase (macro-F1). `patience` evaluations
 * without an improvement of more than `minDelta` stop training; the caller keeps the best checkpoint.
 * A non-finite score (e.g. NaN macro-F1 on an empty validation set) never counts as an improvement.
 */
export class EarlyStopping {
  readonly patience: number;
  readonly minDelta: number;
  state: EarlyStoppingState = { best: -Infinity, bestStep: -1, badEvals: 0 };

  constructor(patience: number, minDelta = 0) {
    if (!(Number.isInteger(patience) && patience >= 0)) throw new RangeError(`earlyStoppingPatience must be an integer ≥ 0 (0 = off), got ${patience}`);
    if (!(minDelta >= 0 && Number.isFinite(minDelta))) throw new RangeError(`EarlyStopping: minDelta must be a finite number ≥ 0, got ${minDelta}`);
    this.patience = patience;
    this.minDelta = minDelta;
  }

  /** Records a validation score; returns whether it is a new best. */
  update(score: number, step: number): boolean {
    if (Number.isFinite(score) && score > this.state.best + this.minDelta) {
      this.state = { best: score, bestStep: step, badEvals: 0 };
      return true;
    }
    this.state = { ...this.state, badEvals: this.state.badEvals + 1 };
    return false;
  }

  get shouldStop(): boolean {
    return this.patience > 0 && this.state.badEvals >= this.patience;
  }

  /** A JSON-safe copy of the state (for trainer_state.json). */
  snapshot(): EarlyStoppingSnapshot {
    const { best, bestStep, badEvals } = this.state;
    return { best: Number.isFinite(best) ? best : null, bestStep, badEvals };
  }

  /** Restores a snapshot (or a state); validates it, since it usually comes from a file. */
  load(s: EarlyStoppingSnapshot | EarlyStoppingState): void {
    if (s === null || typeof s !== 'object') throw new TypeError('EarlyStopping.load: expected { best, bestStep, badEvals }');
    const best = s.best === null || s.best === -Infinity ? -Infinity : s.best;
    if (typeof best !== 'number' || Number.isNaN(best) || best === Infinity) throw new RangeError(`EarlyStopping.load: best must be a finite number or null, got ${String(s.best)}`);
    if (!Number.isInteger(s.bestStep) || s.bestStep < -1) throw new RangeError(`EarlyStopping.load: bestStep must be an integer ≥ -1, got ${String(s.bestStep)}`);
    if (!Number.isInteger(s.badEvals) || s.badEvals < 0) throw new RangeError(`EarlyStopping.load: badEvals must be an integer ≥ 0, got ${String(s.badEvals)}`);
    this.state = { best, bestStep: s.bestStep, badEvals: s.badEvals };
  }
}

/** Mean of the finite values (NaN when none). */
export function mean(values: Iterable<number>): number {
  let s = 0;
  let n = 0;
  for (const v of values) {
    if (Number.isFinite(v)) {
      s += v;
      n++;
    }
  }
  return n ? s / n : NaN;
}

/** The first `perTask` examples of each task, in their original order (0 = all). */
export function firstPerTask(examples: readonly JudgeExample[], perTask: number): JudgeExample[] {
  if (perTask <= 0) return [...examples];
  const taken = new Map<string, number>();
  return examples.filter((ex) => {
    const n = taken.get(ex.task) ?? 0;
    if (n >= perTask) return false;
    taken.set(ex.task, n + 1);
    return true;
  });
}

/** What the shared training loop needs from a trainer. */
export interface TrainingLoop<E extends { macroF1: number; accuracy: number; formatRate: number }> {
  maxSteps: number;
  evalEvery: number;
  hasValidation: boolean;
  log: MetricsLog;
  earlyStopping: EarlyStopping;
  step(): number;
  stopRequested(): boolean;
  trainStep(): unknown;
  evaluate(): { evals: Record<string, E>; meanF1: number };
  onEval?: (step: number, evals: Record<string, E>, meanF1: number, isBest: boolean) => void;
  onBest?: (step: number, meanF1: number) => void | Promise<void>;
}

export interface TrainingResult {
  steps: number;
  stoppedEarly: boolean;
  best: number;
  bestStep: number;
}

/**
 * The loop both trainers run: steps until maxSteps, early stopping or a stop request; with
 * evalEvery > 0 and a validation set, evaluates every evalEvery steps and at the last step, logs the
 * evaluation, and awaits onBest on every improvement.
 */
export async function runTrainingLoop<E extends { macroF1: number; accuracy: number; formatRate: number }>(
  t: TrainingLoop<E>,
): Promise<TrainingResult> {
  let stoppedEarly = false;
  while (t.step() < t.maxSteps && !t.stopRequested()) {
    await t.trainStep();
    // Let the event loop run between steps so signals (Ctrl-C → requestStop), timers and progress
    // output are handled while a long run is going.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const step = t.step();
    if (t.evalEvery > 0 && (step % t.evalEvery === 0 || step === t.maxSteps) && t.hasValidation) {
      const { evals, meanF1 } = t.evaluate();
      const isBest = t.earlyStopping.update(meanF1, step);
      t.log.write({
        type: 'eval',
        step,
        meanMacroF1: meanF1,
        isBest,
        perTask: Object.fromEntries(Object.entries(evals).map(([k, v]) => [k, { macroF1: v.macroF1, accuracy: v.accuracy, formatRate: v.formatRate }])),
      });
      t.onEval?.(step, evals, meanF1, isBest);
      if (isBest) await t.onBest?.(step, meanF1);
      if (t.earlyStopping.shouldStop) {
        stoppedEarly = true;
        break;
      }
    }
  }
  return { steps: t.step(), stoppedEarly, best: t.earlyStopping.state.best, bestStep: t.earlyStopping.state.bestStep };
}

/**
 * trainer_state.json of a best/ checkpoint that no validation evaluation selected (evalEvery 0 or no
 * validation set): best/ then holds the final weights, the same as last/ without the optimizer.
 */
export function finalAsBestState(step: number): Record<string, unknown> {
  return { kind: 'best', step, selectedBy: 'final step (no validation evaluation chose a best: evalEvery is 0 or there is no validation set)' };
}
