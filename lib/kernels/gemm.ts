// Fast matrix multiply on Tensors: batched, optional transposes, out = alpha·op(a)·op(b) + beta·out.
// CPU: packed panels and an AVX-512 / AVX2 / portable micro-kernel picked at run time, OpenMP
// threads. CUDA: shared-memory tiled f32 kernel, tensor cores for bf16.
import { native } from '../native.js';
import { handleOf, optionalHandle, optionsArg } from './args.js';
import { Tensor } from '../tensor.js';

export interface MatmulOpts {
  /** Use aᵀ: a is (..., K, M). */
  transA?: boolean;
  /** Use bᵀ: b is (..., N, K) (or (N, K) shared by the batch), e.g. a linear layer's (out, in) weight. */
  transB?: boolean;
  /** Scales the product (default 1). */
  alpha?: number;
  /** out = alpha·op(a)·op(b) + beta·out; beta ≠ 0 needs `out` (beta = 0 never reads out). */
  beta?: number;
  /** Write into this tensor (shape (..., M, N), the dtype of a and b, same device). */
  out?: Tensor;
}

/**
 * Batched matrix multiply: a (..., M, K) × b (..., K, N) → (..., M, N). `b` may be one matrix (K, N)
 * shared by every batch entry. f32 on every device; bf16 too (accumulating in f32).
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOpts = {}): Tensor {
  optionsArg(opts, 'matmul');
  const h = native().matmul(handleOf(a, 'matmul', 'a'), handleOf(b, 'matmul', 'b'), optionalHandle(opts.out, 'matmul', 'out'), {
    transA: opts.transA,
    transB: opts.transB,
    alpha: opts.alpha,
    beta: opts.beta,
  });
  return opts.out ?? Tensor.fromHandle(h);
}

/** Name of the CPU micro-kernel the run-time dispatch picked ("avx512 14x32", "avx2 6x16", "scalar 4x16"). */
export function gemmKernelName(): string {
  return native().gemmKernelName();
}
