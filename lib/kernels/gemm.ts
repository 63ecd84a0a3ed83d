// Fast matrix multiply on Tensors: batched, optional transposes, out = alpha·op(a)·op(b) + beta·out.
// CPU: packed panels and an AVX-512 / AVX2 / portable micro-kernel picked at run time, OpenMP
// threads. CUDA: shared-memory tiled f32 kernel, tensor cores for bf16.
import { native, type NativeCore, type NativeTensorHandle } from '../native.js';
import { Tensor } from '../tensor.js';

interface GemmNative {
  matmul(
    a: NativeTensorHandle,
    b: NativeTensorHandle,
    out: NativeTensorHandle | undefined,
    opts: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number },
  ): NativeTensorHandle;
  gemmKernelName(): string;
}

function gemmNative(): NativeCore & GemmNative {
  return native() as NativeCore & GemmNative;
}

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

function handleOf(t: unknown, arg: string): NativeTensorHandle {
  if (!(t instanceof Tensor)) throw new TypeError(`matmul: ${arg} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  return t.handle;
}

/**
 * Batched matrix multiply: a (..., M, K) × b (..., K, N) → (..., M, N). `b` may be one matrix (K, N)
 * shared by every batch entry. f32 on every device; bf16 too (accumulating in f32).
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOpts = {}): Tensor {
  if (opts === null || typeof opts !== 'object') throw new TypeError(`matmul: options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  const out = opts.out === undefined ? undefined : handleOf(opts.out, 'out');
  const h = gemmNative().matmul(handleOf(a, 'a'), handleOf(b, 'b'), out, {
    transA: opts.transA,
    transB: opts.transB,
    alpha: opts.alpha,
    beta: opts.beta,
  });
  return opts.out ?? Tensor.fromHandle(h);
}

/** Name of the CPU micro-kernel the run-time dispatch picked ("avx512 14x32", "avx2 6x16", "scalar 4x16"). */
export function gemmKernelName(): string {
  return gemmNative().gemmKernelName();
}
