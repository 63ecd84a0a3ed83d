// AdamW over a model's parameter list (the native in-place AdamW op: decoupled weight decay, bias
// correction), global gradient-norm clipping, and learning-rate schedules (constant, linear, cosine,
// each with linear warm-up). State (first/second moments, step) is plain tensors + a number so
// checkpoints can save and restore it exactly.
import { Tensor } from '../tensor.js';
import { adamwStep, clipGradNorm } from './layers/ops.js';
import type { Param } from './layers/param.js';

export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export interface LrSchedule {
  kind: ScheduleKind;
  /** Peak learning rate (reached at the end of warm-up). */
  lr: number;
  /** Linear warm-up from 0 over this many steps. Default 0. */
  warmupSteps?: number;
  /** Total steps (linear/cosine decay to minLr at this step). Needed for linear and cosine. */
  totalSteps?: number;
  /** Floor of the decay, as a fraction of lr. Default 0. */
  minLrRatio?: number;
}

/**
 * Learning rate at 0-based `step` (the step about to be taken). Warm-up: lr·(step+1)/warmup;
 * then constant, linear lr → minLr, or cosine minLr + (lr − minLr)·½(1 + cos(π·progress)),
 * progress = (step − warmup)/(total − warmup) clamped to [0, 1].
 */
export function learningRate(s: LrSchedule, step: number): number {
  const warm = s.warmupSteps ?? 0;
  if (step < warm) return (s.lr * (step + 1)) / warm;
  if (s.kind === 'constant') return s.lr;
  const total = s.totalSteps ?? 0;
  const minLr = s.lr * (s.minLrRatio ?? 0);
  const span = Math.max(1, total - warm);
  const p = Math.min(1, Math.max(0, (step - warm) / span));
  if (s.kind === 'linear') return s.lr + (minLr - s.lr) * p;
  return minLr + (s.lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * p));
}

function checkSchedule(s: LrSchedule, fn: string): LrSchedule {
  if (!s || typeof s !== 'object') throw new TypeError(`${fn}: schedule must be an object {kind, lr, ...}`);
  if (!['constant', 'linear', 'cosine'].includes(s.kind))
    throw new RangeError(`${fn}: schedule.kind must be 'constant', 'linear' or 'cosine', got ${JSON.stringify(s.kind)}`);
  if (!(typeof s.lr === 'number' && Number.isFinite(s.lr) && s.lr >= 0)) throw new RangeError(`${fn}: schedule.lr must be a finite number ≥ 0, got ${s.lr}`);
  const w = s.warmupSteps ?? 0;
  if (!Number.isInteger(w) || w < 0) throw new RangeError(`${fn}: schedule.warmupSteps must be an integer ≥ 0, got ${w}`);
  if (s.kind !== 'constant' && !(Number.isInteger(s.totalSteps) && (s.totalSteps ?? 0) > 0))
    throw new RangeError(`${fn}: schedule.totalSteps must be a positive integer for '${s.kind}' decay, got ${s.totalSteps}`);
  const m = s.minLrRatio ?? 0;
  if (!(m >= 0 && m <= 1)) throw new RangeError(`${fn}: schedule.minLrRatio must be in [0, 1], got ${m}`);
  return s;
}

export interface AdamWOptions {
  /** A number (constant) or a schedule. Default 1e-3. */
  lr?: number | LrSchedule;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (applied as p ← p − lr·wd·p). Default 0.01. */
  weightDecay?: number;
  /**
   * Which parameters decay. Default: matrices only (norm gains, 1-D tensors, are exempt, as usual).
   */
  decay?: (p: Param) => boolean;
  /** Clip the global gradient L2 norm to this value before each step (0 / undefined = off). */
  maxGradNorm?: number;
}

export interface StepInfo {
  /** The step just taken (1-based count of steps so far). */
  step: number;
  lr: number;
  /** Global gradient L2 norm before clipping (only computed with maxGradNorm). */
  gradNorm?: number;
}

export class AdamW {
  readonly params: readonly Param[];
  readonly schedule: LrSchedule;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly maxGradNorm: number;
  readonly #decay: (p: Param) => boolean;
  #m: Tensor[];
  #v: Tensor[];
  #steps = 0;

  constructor(params: readonly Param[], opts: AdamWOptions = {}) {
    const fn = 'AdamW';
    if (!Array.isArray(params) || params.length === 0) throw new TypeError(`${fn}: params must be a non-empty array (model.parameters())`);
    this.params = params;
    const lr = opts.lr ?? 1e-3;
    this.schedule = checkSchedule(typeof lr === 'number' ? { kind: 'constant', lr } : lr, fn);
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    this.maxGradNorm = opts.maxGradNorm ?? 0;
    for (const [k, v, lo, hi] of [
      ['beta1', this.beta1, 0, 1],
      ['beta2', this.beta2, 0, 1],
    ] as const)
      if (!(v >= lo && v < hi)) throw new RangeError(`${fn}: ${k} must be in [0, 1), got ${v}`);
    if (!(this.eps > 0)) throw new RangeError(`${fn}: eps must be > 0, got ${this.eps}`);
    if (!(this.weightDecay >= 0)) throw new RangeError(`${fn}: weightDecay must be ≥ 0, got ${this.weightDecay}`);
    if (!(this.maxGradNorm >= 0)) throw new RangeError(`${fn}: maxGradNorm must be ≥ 0, got ${this.maxGradNorm}`);
    this.#decay = opts.decay ?? ((p) => p.shape.length >= 2);
    this.#m = params.map((p) => Tensor.zeros(p.shape, { device: p.value.device }));
    this.#v = params.map((p) => Tensor.zeros(p.shape, { device: p.value.device }));
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.#steps;
  }

  /** Learning rate the next step will use. */
  get currentLr(): number {
    return learningRate(this.schedule, this.#steps);
  }

  /** Clips (optionally) and applies one AdamW update with the accumulated grads. Does not zero them. */
  step(): StepInfo {
    const lr = learningRate(this.schedule, this.#steps);
    let gradNorm: number | undefined;
    if (this.maxGradNorm > 0) gradNorm = clipGradNorm(this.params.map((p) => p.grad), this.maxGradNorm);
    this.#steps++;
    this.params.forEach((p, i) => {
      if (p.value.device !== this.#m[i]!.device)
        throw new RangeError(`AdamW.step: parameter ${p.name} is on ${p.value.device} but its state is on ${this.#m[i]!.device}; call optimizer.to(device)`);
      adamwStep(p.value, p.grad, this.#m[i]!, this.#v[i]!, {
        lr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: this.#decay(p) ? this.weightDecay : 0,
        step: this.#steps,
      });
    });
    return { step: this.#steps, lr, gradNorm };
  }

  /** Named state tensors (`<param>.exp_avg`, `<param>.exp_avg_sq`) for checkpoints. */
  stateTensors(): Map<string, Tensor> {
    const m = new Map<string, Tensor>();
    this.params.forEach((p, i) => {
      m.set(`${p.name}.exp_avg`, this.#m[i]!);
      m.set(`${p.name}.exp_avg_sq`, this.#v[i]!);
    });
    return m;
  }

  /** Restores state saved by stateTensors() (copied into the existing tensors) and the step count. */
  loadState(tensors: ReadonlyMap<string, Tensor>, steps: number): void {
    const fn = 'AdamW.loadState';
    if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`${fn}: steps must be an integer ≥ 0, got ${steps}`);
    this.params.forEach((p, i) => {
      for (const [suffix, dst] of [
        ['exp_avg', this.#m[i]!],
        ['exp_avg_sq', this.#v[i]!],
      ] as const) {
        const src = tensors.get(`${p.name}.${suffix}`);
        if (!src) throw new RangeError(`${fn}: missing optimizer tensor ${p.name}.${suffix}`);
        if (src.shape.join() !== dst.shape.join())
          throw new RangeError(`${fn}: ${p.name}.${suffix} has shape (${src.shape.join(', ')}) but the parameter is (${dst.shape.join(', ')})`);
        dst.copyFrom(src);
      }
    });
    this.#steps = steps;
  }

  /** Moves the moment tensors to a device (after model.to(device)). */
  to(device: Parameters<Tensor['to']>[0]): this {
    const move = (t: Tensor) => {
      const u = t.to(device);
      if (u !== t) t.dispose();
      return u;
    };
    this.#m = this.#m.map(move);
    this.#v = this.#v.map(move);
    return this;
  }

  dispose(): void {
    for (const t of [...this.#m, ...this.#v]) t.dispose();
  }
}
