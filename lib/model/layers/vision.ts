// The image front end: pixels → patch vectors (native patch-embedding op, scaled to [-1, 1]; each reads
// a patchWindow-wide square centred on its patch) → a linear
// patch projection → + a learned position embedding per patch → [optional bidirectional transformer
// encoder + RMSNorm + linear projector to the decoder width] → + a learned image-slot embedding
// (slot 0 = the example's first image, 1 = its second, ...). The slot embedding is what lets the
// decoder tell image A from image B in pairwise judging; with visionLayers = 0 this is the Fuyu
// design (patches projected straight into the decoder).
// Output rows are image tokens (nImages · P, dModel), added onto the decoder's input embeddings at
// the `<image>` placeholder positions.
import { add } from '../../ops.js';
import { Tensor } from '../../tensor.js';
import { TransformerBlock } from './block.js';
import { Embedding } from './embedding.js';
import { Linear } from './linear.js';
import { patchify } from './ops.js';
import { disposeAll, needSaved, Param } from './param.js';
import { RMSNorm } from './rmsnorm.js';

export interface VisionParams {
  patchProj: Param;
  pos: Param;
  slot: Param;
  blocks: TransformerBlock[];
  norm?: Param;
  projector?: Param;
}

export class VisionEncoder {
  readonly patchProj: Linear;
  readonly pos: Embedding;
  readonly slot: Embedding;
  readonly blocks: TransformerBlock[];
  readonly norm: RMSNorm | undefined;
  readonly projector: Linear | undefined;
  #saved: { patches: Tensor; xs: Tensor[]; z?: Tensor; patchIndex: Tensor; slotIndex: Tensor; nImages: number } | undefined;

  constructor(
    p: VisionParams,
    readonly patchSize: number,
    readonly numPatches: number,
    normEps: number,
    readonly patchWindow = patchSize,
  ) {
    const [vw, pd] = p.patchProj.shape as [number, number];
    this.patchProj = new Linear(p.patchProj, pd, vw);
    this.pos = new Embedding(p.pos);
    this.slot = new Embedding(p.slot);
    this.blocks = p.blocks;
    this.norm = p.norm ? new RMSNorm(p.norm, normEps) : undefined;
    this.projector = p.projector ? new Linear(p.projector, vw, p.projector.shape[0]!) : undefined;
  }

  /**
   * pixels (nImages, S, S, C) u8, patchIndex/slotIndex (nImages·P,) i32 → image tokens (nImages·P, dModel).
   */
  forward(pixels: Tensor, patchIndex: Tensor, slotIndex: Tensor, train: boolean): Tensor {
    this.clear();
    const n = pixels.shape[0]!;
    const P = this.numPatches;
    const p3 = patchify(pixels, this.patchSize, this.patchWindow);
    const patches = p3.reshape([n * P, p3.shape[2]!]);
    p3.dispose();
    let x = this.patchProj.forward(patches, train);
    const posRows = this.pos.forward(patchIndex);
    add(x, posRows, x);
    posRows.dispose();
    const xs: Tensor[] = [x];
    let z: Tensor | undefined;
    if (this.blocks.length > 0) {
      const shape = { batch: n, seqLen: P, causal: false };
      for (const blk of this.blocks) {
        x = blk.forward(x, shape, train).y;
        xs.push(x);
      }
      z = this.norm!.forward(x, train);
      x = this.projector!.forward(z, train);
      xs.push(x);
    }
    // x is the output; the slot rows are added in a fresh tensor so every saved residual stays intact.
    const slotRows = this.slot.forward(slotIndex);
    const out = add(x, slotRows);
    slotRows.dispose();
    if (train) this.#saved = { patches, xs, z, patchIndex, slotIndex, nImages: n };
    else disposeAll([patches, z, ...xs]);
    return out;
  }

  /** Accumulates every vision parameter's grad from dOut (nImages·P, dModel). Pixels get no gradient. */
  backward(dOut: Tensor): void {
    const s = needSaved(this.#saved, 'VisionEncoder');
    this.#saved = undefined;
    this.slot.backward(dOut, s.slotIndex);
    let dx = dOut;
    const owned: Tensor[] = [];
    if (this.blocks.length > 0) {
      const dz = this.projector!.backward(dOut)!;
      dx = this.norm!.backward(dz);
      owned.push(dz, dx);
      for (let i = this.blocks.length - 1; i >= 0; i--) {
        dx = this.blocks[i]!.backward(dx);
        owned.push(dx);
      }
    }
    this.pos.backward(dx, s.patchIndex);
    this.patchProj.backward(dx, { needDx: false });
    disposeAll([s.patches, s.z, ...s.xs, ...owned]);
  }

  clear(): void {
    if (this.#saved) disposeAll([this.#saved.patches, this.#saved.z, ...this.#saved.xs]);
    this.#saved = undefined;
    this.patchProj.clear();
    this.projector?.clear();
    this.norm?.clear();
    for (const b of this.blocks) b.clear();
  }
}
