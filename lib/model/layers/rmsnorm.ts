// RMSNorm layer: y = x / rms(x) · w over the last dimension of (N, d) activations, eps inside the
// root. Saves its input (a reference owned by the caller) and the per-row reciprocal rms (its own)
// so backward needs no recomputation of the reduction.
import { Tensor } from '../../tensor.js';
import { rmsNormBackward, rmsNormForward } from './ops.js';
import { needSaved, Param } from './param.js';

export class RMSNorm {
  #saved: { x: Tensor; rstd: Tensor } | undefined;

  constructor(
    readonly weight: Param,
    readonly eps: number,
  ) {}

  forward(x: Tensor, train: boolean): Tensor {
    this.clear();
    const { y, rstd } = rmsNormForward(x, this.weight.value, this.eps);
    if (train) this.#saved = { x, rstd };
    else rstd.dispose();
    return y;
  }

  /** Returns dx and accumulates the weight's grad. */
  backward(dy: Tensor): Tensor {
    const { x, rstd } = needSaved(this.#saved, this.weight.name);
    this.#saved = undefined;
    const dx = rmsNormBackward(dy, x, this.weight.value, rstd, this.weight.grad);
    rstd.dispose();
    return dx;
  }

  clear(): void {
    this.#saved?.rstd.dispose();
    this.#saved = undefined;
  }
}
