// Trainer bookkeeping: metrics as JSONL (one object per line, appended and flushed per step), early
// stopping on a validation plateau (with a JSON-safe state for checkpoints), and the small helpers
// the trainers use (validation subsets, means that ignore missing values).
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

/**
 * trainer_state.json of a best/ checkpoint that no validation evaluation selected (evalEvery 0 or no
 * validation set): best/ then holds the final weights, the same as last/ without the optimizer.
 */
export function finalAsBestState(step: number): Record<string, unknown> {
  return { kind: 'best', step, selectedBy: 'final step (no validation evaluation chose a best: evalEvery is 0 or there is no validation set)' };
}
