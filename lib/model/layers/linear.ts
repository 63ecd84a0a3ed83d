// Linear layer without bias, y = x Wᵀ with W (out, in) as in PyTorch, on 2-D activations (N, in).
// Backward: dx = dy W, dW += dyᵀ x (accumulated into the parameter's grad through GEMM beta = 1, so
// gradient accumulation over micro-batches costs nothing extra). Biases are left out on purpose: every
// projection in the model is followed by a norm or feeds a residual stream, where a bias adds nothing
// the surrounding parameters cannot express.
import { Tensor } from '../../tensor.js';
import { matmul } from './ops.js';
import { needSaved, Param } from './param.js';

export class Linear {
  #x: Tensor | undefined;

  constructor(
    readonly weight: Param,
    readonly inFeatures: number,
    readonly outFeatures: number,
  ) {}

  /** x (N, in) → y (N, out). In train mode keeps a reference to x (the caller keeps x alive until backward). */
  forward(x: Tensor, train: boolean): Tensor {
    const y = matmul(x, this.weight.value, { transB: true });
    this.#x = train ? x : undefined;
    return y;
  }

  /**
   * Accumulates dW += dyᵀ x and returns dx = dy W, or writes dx into `dxInto` (beta = 1: dxInto += dy W)
   * when given, or skips dx when `needDx` is false (first layer on pixels).
   */
  backward(dy: Tensor, opts: { dxInto?: Tensor; needDx?: boolean } = {}): Tensor | undefined {
    const x = needSaved(this.#x, this.weight.name);
    this.#x = undefined;
    matmul(dy, x, { transA: true, beta: 1, out: this.weight.grad });
    if (opts.needDx === false) return undefined;
    if (opts.dxInto) {
      matmul(dy, this.weight.value, { beta: 1, out: opts.dxInto });
      return opts.dxInto;
    }
    return matmul(dy, this.weight.value);
  }

  /** Forgets the saved input (when a train-mode forward is not followed by backward). */
  clear(): void {
    this.#x = undefined;
  }
}
