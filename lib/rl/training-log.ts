// Shared trainer plumbing: metrics as JSONL (one object per line, appended and flushed per step),
// early stopping on a validation plateau, and the non-finite guard that skips a step instead of
// training on garbage.
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

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
  best: number;
  bestStep: number;
  badEvals: number;
}

/**
 * Early stopping on a validation metric that should increase (macro-F1). `patience` evaluations
 * without an improvement of more than `minDelta` stop training; the caller keeps the best checkpoint.
 */
export class EarlyStopping {
  readonly patience: number;
  readonly minDelta: number;
  state: EarlyStoppingState = { best: -Infinity, bestStep: -1, badEvals: 0 };

  constructor(patience: number, minDelta = 0) {
    if (!(Number.isInteger(patience) && patience >= 0)) throw new RangeError(`earlyStoppingPatience must be an integer ≥ 0 (0 = off), got ${patience}`);
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
