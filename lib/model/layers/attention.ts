// Multi-head self-attention with grouped-query heads through the fused attention kernel.
// q = x W_qᵀ (N, H·D) viewed as (B, T, H, D); k, v likewise with Hkv heads; RoPE on q and k (decoder
// only; the vision encoder uses learned patch positions instead); o = attention(q, k, v) with causal
// masking and per-row lengths for right padding; y = o W_oᵀ. The (B, T, ·, D) layouts are zero-copy
// reshapes of the projections, so no transposes are ever materialised.
// Backward saves only the roped q/k, v, out and lse (what the kernel's backward reads) plus the
// projection input, as the flash-attention backward recomputes the probabilities.
import { Tensor } from '../../tensor.js';
import { Linear } from './linear.js';
import { attentionBackward, attentionDecode, attentionForward, ropeInPlace } from './ops.js';
import { disposeAll, needSaved, Param } from './param.js';

export interface AttentionShape {
  batch: number;
  seqLen: number;
  /** (B,) i32 valid length of each row (right padding), or undefined when every row is full. */
  lengths?: Tensor;
  causal: boolean;
}

/** The per-layer KV cache of a generation: (N, capacity, Hkv, D) keys/values and the (N,) valid lengths. */
export interface LayerCache {
  k: Tensor;
  v: Tensor;
  lengths: Tensor;
}

export class SelfAttention {
  readonly wq: Linear;
  readonly wk: Linear;
  readonly wv: Linear;
  readonly wo: Linear;
  readonly headDim: number;
  readonly scale: number;
  #saved: { q: Tensor; k: Tensor; v: Tensor; out: Tensor; lse: Tensor; shape: AttentionShape } | undefined;

  constructor(
    wq: Param,
    wk: Param,
    wv: Param,
    wo: Param,
    readonly dim: number,
    readonly nHeads: number,
    readonly nKvHeads: number,
    /** RoPE base θ, or 0 for no rotary embedding. */
    readonly ropeBase: number,
  ) {
    this.headDim = dim / nHeads;
    this.scale = 1 / Math.sqrt(this.headDim);
    this.wq = new Linear(wq, dim, dim);
    this.wk = new Linear(wk, dim, nKvHeads * this.headDim);
    this.wv = new Linear(wv, dim, nKvHeads * this.headDim);
    this.wo = new Linear(wo, dim, dim);
  }

  #project(x: Tensor, B: number, S: number, train: boolean, positions?: Tensor) {
    const D = this.headDim;
    const q0 = this.wq.forward(x, train);
    const k0 = this.wk.forward(x, train);
    const v0 = this.wv.forward(x, train);
    const q = q0.reshape([B, S, this.nHeads, D]);
    const k = k0.reshape([B, S, this.nKvHeads, D]);
    const v = v0.reshape([B, S, this.nKvHeads, D]);
    q0.dispose();
    k0.dispose();
    v0.dispose();
    if (this.ropeBase > 0) {
      ropeInPlace(q, this.ropeBase, positions);
      ropeInPlace(k, this.ropeBase, positions);
    }
    return { q, k, v };
  }

  /**
   * x (B·T, dim) → y (B·T, dim). With `keepKv` the roped keys and values (B, T, Hkv, D) are returned
   * too (the caller owns them): generation builds its KV cache from them.
   */
  forward(x: Tensor, shape: AttentionShape, train: boolean, keepKv = false): { y: Tensor; k?: Tensor; v?: Tensor } {
    this.clear();
    const { batch: B, seqLen: S } = shape;
    const { q, k, v } = this.#project(x, B, S, train);
    const opts = { causal: shape.causal, scale: this.scale, kvLengths: shape.lengths, qLengths: shape.lengths };
    const { out, lse } = attentionForward(q, k, v, opts);
    const o2 = out.reshape([B * S, this.dim]);
    const y = this.wo.forward(o2, train);
    if (train) {
      this.#saved = { q, k, v, out: o2, lse, shape };
      out.dispose();
      return keepKv ? { y, k: k.clone(), v: v.clone() } : { y };
    }
    disposeAll([q, out, o2, lse]);
    if (keepKv) return { y, k, v };
    disposeAll([k, v]);
    return { y };
  }

  /** dy (B·T, dim) → dx (B·T, dim); accumulates the four projection grads. */
  backward(dy: Tensor): Tensor {
    const { q, k, v, out, lse, shape } = needSaved(this.#saved, 'SelfAttention');
    this.#saved = undefined;
    const { batch: B, seqLen: S } = shape;
    const D = this.headDim;
    const dO2 = this.wo.backward(dy)!;
    const dO = dO2.reshape([B, S, this.nHeads, D]);
    const out4 = out.reshape([B, S, this.nHeads, D]);
    const opts = { causal: shape.causal, scale: this.scale, kvLengths: shape.lengths, qLengths: shape.lengths };
    const g = attentionBackward(dO, q, k, v, out4, lse, opts);
    disposeAll([dO2, dO, out4, out, lse, q, k, v]);
    const { dq, dk } = g;
    if (this.ropeBase > 0) {
      ropeInPlace(dq, this.ropeBase, undefined, true);
      ropeInPlace(dk, this.ropeBase, undefined, true);
    }
    const dq2 = dq.reshape([B * S, this.dim]);
    const dk2 = dk.reshape([B * S, this.nKvHeads * D]);
    const dv2 = g.dv.reshape([B * S, this.nKvHeads * D]);
    const dx = this.wq.backward(dq2)!;
    this.wk.backward(dk2, { dxInto: dx });
    this.wv.backward(dv2, { dxInto: dx });
    disposeAll([dq, dk, g.dv, dq2, dk2, dv2]);
    return dx;
  }

  /**
   * One decode step for N rows of one new token each: x (N, dim) → y (N, dim). Appends the new
   * roped key/value to `cache` at `cache.lengths[n]` (advanced in place by the kernel); `positions`
   * (N,) i32 holds the rotary position of each row's new token (its cache length before the step).
   */
  decode(x: Tensor, cache: LayerCache, positions: Tensor): Tensor {
    const N = x.shape[0]!;
    const { q, k, v } = this.#project(x, N, 1, false, positions);
    const out = attentionDecode(q, cache.k, cache.v, { cacheLengths: cache.lengths, kNew: k, vNew: v, scale: this.scale });
    const o2 = out.reshape([N, this.dim]);
    const y = this.wo.forward(o2, false);
    disposeAll([q, k, v, out, o2]);
    return y;
  }

  clear(): void {
    if (this.#saved) {
      const s = this.#saved;
      disposeAll([s.q, s.k, s.v, s.out, s.lse]);
    }
    this.#saved = undefined;
    this.wq.clear();
    this.wk.clear();
    this.wv.clear();
    this.wo.clear();
  }
}
