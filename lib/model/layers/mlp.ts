// SwiGLU feed-forward block: y = W_down · (silu(W_gate x) ⊙ W_up x), as in Llama. Saves the gate and
// up projections (its own tensors) and the activation product (input of W_down) for backward.
import { Tensor } from '../../tensor.js';
import { Linear } from './linear.js';
import { swigluBackward, swigluForward } from './ops.js';
import { disposeAll, needSaved, Param } from './param.js';

export class SwiGLUMlp {
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
  #saved: { g: Tensor; u: Tensor; h: Tensor } | undefined;

  constructor(wGate: Param, wUp: Param, wDown: Param, dim: number, hidden: number) {
    this.gate = new Linear(wGate, dim, hidden);
    this.up = new Linear(wUp, dim, hidden);
    this.down = new Linear(wDown, hidden, dim);
  }

  /** x (N, dim) → (N, dim). */
  forward(x: Tensor, train: boolean): Tensor {
    this.clear();
    const g = this.gate.forward(x, train);
    const u = this.up.forward(x, train);
    const h = swigluForward(g, u);
    const y = this.down.forward(h, train);
    if (train) this.#saved = { g, u, h };
    else disposeAll([g, u, h]);
    return y;
  }

  backward(dy: Tensor): Tensor {
    const { g, u, h } = needSaved(this.#saved, 'SwiGLUMlp');
    this.#saved = undefined;
    const dh = this.down.backward(dy)!;
    const { dGate, dUp } = swigluBackward(dh, g, u);
    const dx = this.gate.backward(dGate)!;
    this.up.backward(dUp, { dxInto: dx });
    // dGate is dh itself (overwritten in place by the kernel).
    disposeAll([g, u, h, dh, dUp]);
    return dx;
  }

  clear(): void {
    if (this.#saved) disposeAll([this.#saved.g, this.#saved.u, this.#saved.h]);
    this.#saved = undefined;
    this.gate.clear();
    this.up.clear();
    this.down.clear();
  }
}
