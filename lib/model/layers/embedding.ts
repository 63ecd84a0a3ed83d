// Row lookup in a learned table (token embeddings, patch positions, image slots): out[i] = table[ids[i]],
// with the scatter-add backward grad[ids[i]] += dOut[i] (deterministic: the kernel sums duplicates in
// a fixed order).
import { Tensor } from '../../tensor.js';
import { embeddingGather, embeddingScatterAdd } from './ops.js';
import { Param } from './param.js';

export class Embedding {
  constructor(readonly table: Param) {}

  get numRows(): number {
    return this.table.shape[0]!;
  }
  get dim(): number {
    return this.table.shape[1]!;
  }

  /** ids (N,) or (B, T) i32 → (N, dim) rows. */
  forward(ids: Tensor): Tensor {
    const flat = ids.ndim === 1 ? ids : ids.reshape([ids.numel]);
    const out = embeddingGather(this.table.value, flat);
    if (flat !== ids) flat.dispose();
    return out;
  }

  /** Accumulates the table's grad from dOut (N, dim) at ids (N,). */
  backward(dOut: Tensor, ids: Tensor): void {
    const flat = ids.ndim === 1 ? ids : ids.reshape([ids.numel]);
    embeddingScatterAdd(this.table.grad, dOut, flat);
    if (flat !== ids) flat.dispose();
  }
}
