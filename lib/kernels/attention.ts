// Fused attention on Tensors (FlashAttention-2 algorithm on CPU and CUDA): forward returning the
// output and the log-sum-exp, backward that recomputes the probabilities tile by tile from them,
// and KV-cache decode for generation. Never materialises the S × Sk score matrix.
//
// Layout: q (B, S, H, D), k/v (B, Sk, Hkv, D) with H % Hkv === 0 (grouped-query / multi-query
// attention), out (B, S, H, D), lse (B, H, S) f32. Key j is visible to query i of row b iff
// j < kvLengths[b] and, when causal, j <= i + kvLengths[b] − qLengths[b] (bottom-right aligned, as
// flash-attention ≥ 2.1). Query rows past qLengths[b], and rows that see no key, give out = 0 and
// lse = −inf. Nothing past the lengths is read, so padding may hold anything (NaN included).
import type { AttentionNativeOptions, NativeTensorHandle } from '../addon.js';
import { native } from '../native.js';
import { handleOf, optionsArg } from './args.js';
import { Tensor } from '../tensor.js';

/** Per-row lengths: an i32 Tensor of shape (B) (any device; moved to q's) or plain integers. */
export type AttentionLengths = Tensor | readonly number[] | Int32Array;

export interface AttentionOptions {
  /** Causal mask, bottom-right aligned when S ≠ Sk (default false). */
  causal?: boolean;
  /** Softmax scale applied to q·kᵀ (default 1/√D). */
  scale?: number;
  /** Valid keys per batch row (default Sk); keys at or past it are ignored and get zero gradients. */
  kvLengths?: AttentionLengths;
  /** Valid queries per batch row (default S); rows at or past it produce zeros (lse −inf). */
  qLengths?: AttentionLengths;
}

export interface AttentionForwardResult {
  /** (B, S, H, D), the dtype of q. */
  out: Tensor;
  /** (B, H, S) f32: log Σ exp(scale·q·kᵀ) over the visible keys (natural log; −inf when none). */
  lse: Tensor;
}

export interface AttentionBackwardResult {
  /** (B, S, H, D) */
  dq: Tensor;
  /** (B, Sk, Hkv, D), summed over the query heads of each group. */
  dk: Tensor;
  /** (B, Sk, Hkv, D), summed over the query heads of each group. */
  dv: Tensor;
}

export interface AttentionDecodeOptions {
  /** i32 (B) on the caches' device: valid entries per row. Advanced in place by Snew. */
  cacheLengths: Tensor;
  /** (B, Snew, Hkv, D) keys to append at cacheLengths[b]. */
  kNew: Tensor;
  /** (B, Snew, Hkv, D) values to append at cacheLengths[b]. */
  vNew: Tensor;
  /** Softmax scale (default 1/√D). */
  scale?: number;
}

/**
 * Converts lengths to an i32 tensor on `device`. Returns the handle and any temporary it created
 * (disposed by the caller after the native call; tensors the user passed are never disposed).
 */
function lengthsHandle(
  value: unknown,
  q: Tensor,
  fn: string,
  arg: string,
  temps: Tensor[],
): NativeTensorHandle | undefined {
  if (value === undefined || value === null) return undefined;
  if (value instanceof Tensor) {
    if (value.device === q.device) return value.handle;
    const moved = value.to(q.device);
    temps.push(moved);
    return moved.handle;
  }
  if (!Array.isArray(value) && !(value instanceof Int32Array))
    throw new TypeError(`${fn}: ${arg} must be an i32 Tensor or an array of integers, got ${typeof value}`);
  const arr = value as ArrayLike<number>;
  for (let i = 0; i < arr.length; i++) {
    const x = arr[i];
    if (typeof x !== 'number' || !Number.isInteger(x))
      throw new TypeError(`${fn}: ${arg}[${i}] must be an integer, got ${typeof x === 'number' ? x : typeof x}`);
    if (x < 0 || x > 2147483647) throw new RangeError(`${fn}: ${arg}[${i}] = ${x} must be a non-negative 32-bit integer`);
  }
  const t = Tensor.fromArray(Int32Array.from(arr), [arr.length], { dtype: 'i32', device: q.device });
  temps.push(t);
  return t.handle;
}

function nativeOptions(opts: unknown, q: Tensor, fn: string, temps: Tensor[]): AttentionNativeOptions {
  const o = optionsArg(opts, fn);
  if (o.causal !== undefined && typeof o.causal !== 'boolean') throw new TypeError(`${fn}: causal must be a boolean, got ${typeof o.causal}`);
  if (o.scale !== undefined && (typeof o.scale !== 'number' || !Number.isFinite(o.scale)))
    throw new RangeError(`${fn}: scale must be a finite number, got ${String(o.scale)}`);
  return {
    causal: o.causal as boolean | undefined,
    scale: o.scale as number | undefined,
    kvLengths: lengthsHandle(o.kvLengths, q, fn, 'kvLengths', temps),
    qLengths: lengthsHandle(o.qLengths, q, fn, 'qLengths', temps),
  };
}

function withTemps<T>(body: (temps: Tensor[]) => T): T {
  const temps: Tensor[] = [];
  try {
    return body(temps);
  } finally {
    for (const t of temps) t.dispose();
  }
}

/**
 * Fused scaled-dot-product attention. q (B, S, H, D), k/v (B, Sk, Hkv, D) with H a multiple of Hkv,
 * D ≤ 256; f32 on every device, bf16 on CUDA (f32 accumulation). Returns the output and the
 * log-sum-exp the backward pass needs.
 *
 * @example
 * const { out, lse } = attentionForward(q, k, v, { causal: true, kvLengths: [7, 5] });
 */
export function attentionForward(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): AttentionForwardResult {
  return forwardWith('attentionForward', q, k, v, opts);
}

function forwardWith(fn: 'attentionForward' | 'attentionNaiveForward', q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): AttentionForwardResult {
  const [hq, hk, hv] = [handleOf(q, fn, 'q'), handleOf(k, fn, 'k'), handleOf(v, fn, 'v')];
  return withTemps((temps) => {
    const r = native()[fn](hq, hk, hv, nativeOptions(opts, q, fn, temps));
    return { out: Tensor.fromHandle(r.out), lse: Tensor.fromHandle(r.lse) };
  });
}

/**
 * Gradients of attentionForward with the same options: from dOut (B, S, H, D) and the forward's
 * inputs, output and lse (nothing else is saved; probabilities are recomputed tile by tile).
 * dk and dv are summed over each group of query heads that shares a kv head.
 */
export function attentionBackward(
  dOut: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  lse: Tensor,
  opts: AttentionOptions = {},
): AttentionBackwardResult {
  return backwardWith('attentionBackward', [dOut, q, k, v, out, lse], opts);
}

function backwardWith(fn: 'attentionBackward' | 'attentionNaiveBackward', ts: readonly Tensor[], opts: AttentionOptions): AttentionBackwardResult {
  const hs = ['dOut', 'q', 'k', 'v', 'out', 'lse'].map((arg, i) => handleOf(ts[i], fn, arg));
  return withTemps((temps) => {
    const r = native()[fn](hs[0]!, hs[1]!, hs[2]!, hs[3]!, hs[4]!, hs[5]!, nativeOptions(opts, ts[1]!, fn, temps));
    return { dq: Tensor.fromHandle(r.dq), dk: Tensor.fromHandle(r.dk), dv: Tensor.fromHandle(r.dv) };
  });
}

/**
 * One generation step against a KV cache. Writes kNew/vNew (B, Snew, Hkv, D) into kCache/vCache
 * (B, Smax, Hkv, D) at each row's cacheLengths[b], advances cacheLengths by Snew in place, then
 * returns (B, Snew, H, D): the new queries attending causally to all valid cache entries (the new
 * ones included). Rows may have different lengths (ragged batches). Throws, changing nothing, when
 * a row's cache would overflow Smax.
 */
export function attentionDecode(q: Tensor, kCache: Tensor, vCache: Tensor, opts: AttentionDecodeOptions): Tensor {
  const fn = 'attentionDecode';
  const o = optionsArg(opts, fn);
  if (o.scale !== undefined && (typeof o.scale !== 'number' || !Number.isFinite(o.scale)))
    throw new RangeError(`${fn}: scale must be a finite number, got ${String(o.scale)}`);
  // Both caches are written in place: one buffer passed as both would hold keys and values mixed.
  if (kCache instanceof Tensor && vCache instanceof Tensor && !kCache.disposed && !vCache.disposed && kCache.sharesStorageWith(vCache))
    throw new RangeError(`${fn}: kCache and vCache share storage; they must be two separate tensors (both are written in place)`);
  const h = native().attentionDecode(
    handleOf(q, fn, 'q'),
    handleOf(kCache, fn, 'kCache'),
    handleOf(vCache, fn, 'vCache'),
    handleOf(o.cacheLengths, fn, 'cacheLengths'),
    handleOf(o.kNew, fn, 'kNew'),
    handleOf(o.vNew, fn, 'vNew'),
    { scale: o.scale as number | undefined },
  );
  return Tensor.fromHandle(h);
}

/**
 * Unfused baseline (CPU, f32): materialises the (B, H, S, Sk) probabilities like a framework without
 * a fused kernel. Same semantics and results as attentionForward; for benchmarks and cross-checks.
 */
export function attentionNaiveForward(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): AttentionForwardResult {
  return forwardWith('attentionNaiveForward', q, k, v, opts);
}

/** Unfused baseline of attentionBackward (CPU, f32; materialises P and dP). */
export function attentionNaiveBackward(...args: Parameters<typeof attentionBackward>): AttentionBackwardResult {
  const [dOut, q, k, v, out, lse, opts = {}] = args;
  return backwardWith('attentionNaiveBackward', [dOut, q, k, v, out, lse], opts);
}
