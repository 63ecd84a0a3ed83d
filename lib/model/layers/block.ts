// Pre-norm transformer block: h = x + Attn(RMSNorm(x)); y = h + MLP(RMSNorm(h)). Shared by the
// decoder (causal, RoPE) and the optional vision encoder (bidirectional, no RoPE). Owns the middle
// residual h; the caller owns x and y.
import { add } from '../../ops.js';
import { Tensor } from '../../tensor.js';
import { type AttentionShape, type LayerCache, SelfAttention } from './attention.js';
import { SwiGLUMlp } from './mlp.js';
import { disposeAll, needSaved, Param } from './param.js';
import { RMSNorm } from './rmsnorm.js';

export interface BlockParams {
  norm1: Param;
  wq: Param;
  wk: Param;
  wv: Param;
  wo: Param;
  norm2: Param;
  wGate: Param;
  wUp: Param;
  wDown: Param;
}

export interface BlockSizes {
  dim: number;
  nHeads: number;
  nKvHeads: number;
  dFF: number;
  ropeBase: number;
  normEps: number;
}

export class TransformerBlock {
  readonly norm1: RMSNorm;
  readonly attn: SelfAttention;
  readonly norm2: RMSNorm;
  readonly mlp: SwiGLUMlp;
  #h: Tensor | undefined;

  constructor(p: BlockParams, s: BlockSizes) {
    this.norm1 = new RMSNorm(p.norm1, s.normEps);
    this.attn = new SelfAttention(p.wq, p.wk, p.wv, p.wo, s.dim, s.nHeads, s.nKvHeads, s.ropeBase);
    this.norm2 = new RMSNorm(p.norm2, s.normEps);
    this.mlp = new SwiGLUMlp(p.wGate, p.wUp, p.wDown, s.dim, s.dFF);
  }

  /** x (B·T, dim) → y (B·T, dim); with keepKv also this layer's roped keys/values (caller-owned). */
  forward(x: Tensor, shape: AttentionShape, train: boolean, keepKv = false): { y: Tensor; k?: Tensor; v?: Tensor } {
    this.clear();
    const a = this.norm1.forward(x, train);
    const { y: ao, k, v } = this.attn.forward(a, shape, train, keepKv);
    const h = add(x, ao);
    const m = this.norm2.forward(h, train);
    const mo = this.mlp.forward(m, train);
    const y = add(h, mo);
    disposeAll([ao, mo]);
    if (train) {
      // a and m stay alive as the saved inputs of the projections; they are freed in backward.
      this.#saved = { a, m };
      this.#h = h;
    } else disposeAll([a, m, h]);
    return { y, k, v };
  }

  #saved: { a: Tensor; m: Tensor } | undefined;

  /** dy (B·T, dim) → dx. */
  backward(dy: Tensor): Tensor {
    const h = needSaved(this.#h, 'TransformerBlock');
    const { a, m } = this.#saved!;
    this.#h = undefined;
    this.#saved = undefined;
    const dm = this.mlp.backward(dy);
    const dh = this.norm2.backward(dm);
    add(dh, dy, dh);
    const da = this.attn.backward(dh);
    const dx = this.norm1.backward(da);
    add(dx, dh, dx);
    disposeAll([dm, dh, da, a, m, h]);
    return dx;
  }

  /** One decode step (see SelfAttention.decode): x (N, dim) → y (N, dim). */
  decode(x: Tensor, cache: LayerCache, positions: Tensor): Tensor {
    const a = this.norm1.forward(x, false);
    const ao = this.attn.decode(a, cache, positions);
    const h = add(x, ao);
    const m = this.norm2.forward(h, false);
    const mo = this.mlp.forward(m, false);
    const y = add(h, mo);
    disposeAll([a, ao, h, m, mo]);
    return y;
  }

  clear(): void {
    if (this.#saved) disposeAll([this.#saved.a, this.#saved.m]);
    this.#h?.dispose();
    this.#saved = undefined;
    this.#h = undefined;
    this.norm1.clear();
    this.attn.clear();
    this.norm2.clear();
    this.mlp.clear();
  }
}
