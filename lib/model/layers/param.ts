// Parameters and the small Module protocol the JudgeModel's layers share: a named value Tensor, a
// gradient Tensor of the same shape allocated on first use (so frozen reference models never pay for
// it), and the set of tensors a layer saved in forward for its backward.
import type { Device } from '../../device.js';
import { Tensor } from '../../tensor.js';

/** One trainable tensor. `value` and `grad` are replaced (never mutated in shape) by `to(device)`. */
export class Param {
  #grad: Tensor | null = null;

  constructor(
    /** Dotted path, e.g. `layers.0.attn.wq` (the name in checkpoints). */
    readonly name: string,
    public value: Tensor,
  ) {}

  get shape(): readonly number[] {
    return this.value.shape;
  }

  /** The gradient (allocated as zeros on first access, on the value's device). */
  get grad(): Tensor {
    if (!this.#grad) this.#grad = Tensor.zeros(this.value.shape, { device: this.value.device });
    return this.#grad;
  }

  get hasGrad(): boolean {
    return this.#grad !== null;
  }

  zeroGrad(): void {
    this.#grad?.fill(0);
  }

  /** Moves value (and grad, if any) to `device`, freeing the old copies. */
  to(device: Device): void {
    if (this.value.device === device) return;
    const v = this.value.to(device);
    this.value.dispose();
    this.value = v;
    if (this.#grad) {
      const g = this.#grad.to(device);
      this.#grad.dispose();
      this.#grad = g;
    }
  }

  dispose(): void {
    this.value.dispose();
    this.#grad?.dispose();
    this.#grad = null;
  }
}

/** Disposes tensors a layer created for itself (saved activations), skipping undefined slots. */
export function disposeAll(list: ReadonlyArray<Tensor | undefined | null>): void {
  for (const t of list) t?.dispose();
}

/** Throws a clear error when backward runs without a matching train-mode forward. */
export function needSaved<T>(saved: T | undefined, layer: string): T {
  if (saved === undefined)
    throw new Error(`${layer}.backward: no saved activations; call forward(..., { train: true }) first (each forward is backpropagated once)`);
  return saved;
}
