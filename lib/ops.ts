// Elementwise ops and the reference matmul on Tensors, on any device.
import { handleOf, optionalHandle } from './kernels/args.js';
import { native } from './native.js';
import { Tensor } from './tensor.js';

function binary(name: 'add' | 'sub' | 'mul', a: Tensor, b: Tensor, out?: Tensor): Tensor {
  const h = native()[name](handleOf(a, name, 'a'), handleOf(b, name, 'b'), optionalHandle(out, name, 'out'));
  return out ?? Tensor.fromHandle(h);
}

/** a + b (same shape and dtype, f32 or bf16); writes into `out` when given. */
export function add(a: Tensor, b: Tensor, out?: Tensor): Tensor {
  return binary('add', a, b, out);
}
/** a − b */
export function sub(a: Tensor, b: Tensor, out?: Tensor): Tensor {
  return binary('sub', a, b, out);
}
/** a ⊙ b (elementwise) */
export function mul(a: Tensor, b: Tensor, out?: Tensor): Tensor {
  return binary('mul', a, b, out);
}
/** alpha · a + beta */
export function scale(a: Tensor, alpha: number, beta = 0, out?: Tensor): Tensor {
  const h = native().scale(handleOf(a, 'scale', 'a'), alpha, beta, optionalHandle(out, 'scale', 'out'));
  return out ?? Tensor.fromHandle(h);
}

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** out = alpha · op(a) op(b) + beta · out (needs `out` when beta ≠ 0). */
  beta?: number;
  out?: Tensor;
}

/**
 * Reference batched matmul (f32): a (..., M, K) × b (..., K, N) → (..., M, N); b may have no batch
 * dims (shared across the batch). Correct, not fast: the baseline the fast GEMM is checked against.
 */
export function matmulReference(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const fn = 'matmulReference';
  const h = native().matmulReference(handleOf(a, fn, 'a'), handleOf(b, fn, 'b'), optionalHandle(opts.out, fn, 'out'), {
    transA: opts.transA,
    transB: opts.transB,
    alpha: opts.alpha,
    beta: opts.beta,
  });
  return opts.out ?? Tensor.fromHandle(h);
}

/** Waits for queued work on a device (a no-op on cpu). */
export function synchronize(device: string = 'cpu'): void {
  native().synchronize(device);
}
