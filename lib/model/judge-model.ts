// JudgeModel: the multimodal judge policy. A vision front end turns each image into P image tokens;
// a decoder-only transformer (pre-norm RMSNorm, RoPE, SwiGLU, grouped-query attention through the
// fused kernel) reads `[image tokens][text tokens]` (layout in batch.ts); a tied or untied LM head
// maps hidden states to the vocabulary.
//
// Training is explicit, llm.c style: `forward(batch, { train: true })` returns the final hidden
// states (B, T, d) and keeps the activations each layer needs; the caller computes a loss on
// (hidden, lmHeadWeight()) with the fused policy-loss kernel and hands `grads.hidden` (and
// `grads.weight`) to `backward`, which accumulates every parameter's grad. One backward per
// train-mode forward. Everything lives on one device (`cpu` or `cuda:N`) chosen at construction or by
// `to(device)`; the code path is the same on both.
import { add } from '../ops.js';
import { Tensor, type Device } from '../tensor.js';
import { packBatch, type JudgeInput, type ModelBatch } from './batch.js';
import {
  headDim,
  makeConfig,
  numImageTokens,
  patchDim,
  validateConfig,
  visionWidth,
  type JudgeModelConfig,
  type PresetName,
} from './config.js';
import { TransformerBlock, type BlockParams } from './layers/block.js';
import { Embedding } from './layers/embedding.js';
import { embeddingGather, embeddingScatterAdd, matmul, policyLoss, tokenLogprobs } from './layers/ops.js';
import { disposeAll, needSaved, Param } from './layers/param.js';
import { RMSNorm } from './layers/rmsnorm.js';
import { VisionEncoder } from './layers/vision.js';
import { parseDevice } from '../device.js';
import type { LayerCache } from './layers/attention.js';
import { generate, type GenerateOptions, type GenerateResult } from './generate.js';

export interface JudgeModelOptions {
  /** Device for parameters and activations (default 'cpu'). */
  device?: Device | 'cuda';
  /** Seed of the parameter initialisation (same seed → bit-identical weights on every device). */
  seed?: number;
}

export interface ForwardOptions {
  /** Keep activations for backward (default false). */
  train?: boolean;
}

/** Result of a supervised (token NLL) step. */
export interface NllResult {
  /** Mean NLL over the scored tokens. */
  loss: number;
  /** Number of scored tokens. */
  tokens: number;
}

/** KV caches and bookkeeping of a batched generation (see prefill / decodeStep). */
export interface DecodeState {
  /** Rows being decoded: prompts × numGenerations, row n = prompt ⌊n / G⌋. */
  readonly rows: number;
  readonly numGenerations: number;
  /** Cache capacity per row (positions). */
  readonly capacity: number;
  /** One cache per decoder layer. */
  readonly caches: LayerCache[];
  /** Host copy of each row's current length (the position the next token takes). */
  readonly lengths: Int32Array;
  disposed: boolean;
}

export class JudgeModel {
  readonly config: JudgeModelConfig;
  #device: Device;
  readonly #params: Param[] = [];
  readonly embed: Embedding;
  readonly vision: VisionEncoder;
  readonly blocks: TransformerBlock[];
  readonly finalNorm: RMSNorm;
  readonly lmHead: Param | undefined;
  #saved: { xs: Tensor[]; batch: ModelBatch; hidden2d: Tensor } | undefined;
  #disposed = false;

  /** Builds a model with freshly initialised weights. `config` is a preset name or a (partial) config. */
  constructor(config: PresetName | Partial<JudgeModelConfig> | JudgeModelConfig = 'tiny', opts: JudgeModelOptions = {}) {
    this.config = typeof config === 'string' ? makeConfig(config) : makeConfig(config);
    const c = this.config;
    this.#device = parseDevice(opts.device ?? 'cpu', 'JudgeModel: options.device');
    const seed = opts.seed ?? 0;
    if (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 32)
      throw new RangeError(`JudgeModel: options.seed must be an integer in [0, 2^32), got ${seed}`);
    // Each parameter draws from its own Philox stream keyed by (seed, index), so adding a layer does
    // not shift the initialisation of the others.
    const device = this.#device;
    const param = (name: string, shape: number[], init: 'normal' | 'ones', std = c.initStd): Param => {
      const idx = this.#params.length;
      const value =
        init === 'ones' ? Tensor.full(shape, 1, { device }) : Tensor.randn(shape, { device, seed: seed * 4096 + idx, std });
      const p = new Param(name, value);
      this.#params.push(p);
      return p;
    };
    const d = c.dModel;
    // GPT-2 style: projections that write into the residual stream (wo, w_down) start smaller, by 1/√(2·layers).
    const blockParams = (prefix: string, dim: number, nHeads: number, nKv: number, dFF: number, layers: number): BlockParams => {
      const hdim = dim / nHeads;
      const rs = c.initStd / Math.sqrt(2 * Math.max(1, layers));
      return {
        norm1: param(`${prefix}.attn_norm.weight`, [dim], 'ones'),
        wq: param(`${prefix}.attn.wq.weight`, [nHeads * hdim, dim], 'normal'),
        wk: param(`${prefix}.attn.wk.weight`, [nKv * hdim, dim], 'normal'),
        wv: param(`${prefix}.attn.wv.weight`, [nKv * hdim, dim], 'normal'),
        wo: param(`${prefix}.attn.wo.weight`, [dim, nHeads * hdim], 'normal', rs),
        norm2: param(`${prefix}.mlp_norm.weight`, [dim], 'ones'),
        wGate: param(`${prefix}.mlp.w_gate.weight`, [dFF, dim], 'normal'),
        wUp: param(`${prefix}.mlp.w_up.weight`, [dFF, dim], 'normal'),
        wDown: param(`${prefix}.mlp.w_down.weight`, [dim, dFF], 'normal', rs),
      };
    };

    // A failed allocation (out of memory, a device error) must not leak what was already allocated.
    try {
      this.embed = new Embedding(param('embed.weight', [c.vocabSize, d], 'normal'));
      const vw = visionWidth(c);
      const P = numImageTokens(c);
      const patchProj = param('vision.patch_proj.weight', [vw, patchDim(c)], 'normal');
      const pos = param('vision.pos_embed', [P, vw], 'normal');
      const vblocks: TransformerBlock[] = [];
      for (let i = 0; i < c.visionLayers; i++) {
        const bp = blockParams(`vision.layers.${i}`, vw, c.visionHeads, c.visionHeads, c.visionFF, c.visionLayers);
        vblocks.push(
          new TransformerBlock(bp, { dim: vw, nHeads: c.visionHeads, nKvHeads: c.visionHeads, dFF: c.visionFF, ropeBase: 0, normEps: c.normEps }),
        );
      }
      const vnorm = c.visionLayers > 0 ? param('vision.norm.weight', [vw], 'ones') : undefined;
      const projector = c.visionLayers > 0 ? param('vision.projector.weight', [d, vw], 'normal') : undefined;
      const slot = param('vision.slot_embed', [c.maxImages, d], 'normal');
      this.vision = new VisionEncoder({ patchProj, pos, slot, blocks: vblocks, norm: vnorm, projector }, c.patchSize, P, c.normEps, c.patchWindow);

      this.blocks = [];
      for (let i = 0; i < c.nLayers; i++) {
        this.blocks.push(
          new TransformerBlock(blockParams(`layers.${i}`, d, c.nHeads, c.nKvHeads, c.dFF, c.nLayers), {
            dim: d,
            nHeads: c.nHeads,
            nKvHeads: c.nKvHeads,
            dFF: c.dFF,
            ropeBase: c.ropeBase,
            normEps: c.normEps,
          }),
        );
      }
      this.finalNorm = new RMSNorm(param('norm.weight', [d], 'ones'), c.normEps);
      this.lmHead = c.tieEmbeddings ? undefined : param('lm_head.weight', [c.vocabSize, d], 'normal');
    } catch (err) {
      for (const p of this.#params) p.value.dispose();
      this.#params.length = 0;
      throw err;
    }
  }

  /** Validates a config object (e.g. a checkpoint's config.json) and builds the model. */
  static fromConfig(config: unknown, opts: JudgeModelOptions = {}): JudgeModel {
    return new JudgeModel(validateConfig(config, 'JudgeModel.fromConfig'), opts);
  }

  get device(): Device {
    return this.#device;
  }

  /** Every parameter, in a fixed order (the order of checkpoints and of the optimizer state). */
  parameters(): readonly Param[] {
    this.#alive();
    return this.#params;
  }

  /** Parameters by name. */
  namedParameters(): Map<string, Param> {
    return new Map(this.parameters().map((p) => [p.name, p]));
  }

  numParameters(): number {
    return this.#params.reduce((s, p) => s + p.value.numel, 0);
  }

  /** The (V, d) matrix the LM head multiplies hidden states by (the embedding when tied). */
  lmHeadWeight(): Tensor {
    this.#alive();
    return (this.lmHead ?? this.embed.table).value;
  }

  /** The grad tensor that LM-head weight gradients accumulate into. */
  lmHeadGrad(): Tensor {
    return (this.lmHead ?? this.embed.table).grad;
  }

  /** Packs examples into a batch on this model's device (see batch.ts for the layout). */
  batch(inputs: readonly JudgeInput[]): ModelBatch {
    return packBatch(inputs, this.config, this.#device);
  }

  #checkBatch(batch: ModelBatch, fn: string): void {
    this.#alive();
    if (!batch || typeof batch !== 'object' || !(batch.ids instanceof Tensor))
      throw new TypeError(`${fn}: batch must be a ModelBatch (from model.batch(inputs) or packBatch)`);
    if (batch.device !== this.#device)
      throw new RangeError(`${fn}: batch is on ${batch.device} but the model is on ${this.#device}; pack it with model.batch()`);
    if (batch.ids.disposed) throw new Error(`${fn}: batch was disposed`);
  }

  /**
   * Final hidden states (B, T, d) (after the last RMSNorm) for a packed batch. With `train: true`
   * the activations are kept for one `backward`. The returned tensor belongs to the caller.
   */
  forward(batch: ModelBatch, opts: ForwardOptions = {}): Tensor {
    this.#checkBatch(batch, 'JudgeModel.forward');
    const train = opts.train === true;
    const { xs, hidden2d } = this.#trunk(batch, train, false);
    const hidden = hidden2d.reshape([batch.batchSize, batch.seqLen, this.config.dModel]);
    if (train) this.#saved = { xs, batch, hidden2d };
    else hidden2d.dispose();
    return hidden;
  }

  /** Runs vision + embedding + decoder blocks + final norm; optionally returns each layer's roped k/v. */
  #trunk(batch: ModelBatch, train: boolean, keepKv: boolean) {
    this.clearActivations();
    const B = batch.batchSize;
    const T = batch.seqLen;
    const img = this.vision.forward(batch.pixels, batch.patchIndex, batch.slotIndex, train);
    const x0 = this.embed.forward(batch.ids);
    // Image features are added onto the <image> placeholder embeddings: x0[pos[i]] += img[i].
    embeddingScatterAdd(x0, img, batch.imagePositions);
    img.dispose();
    const xs: Tensor[] = [x0];
    const kv: Array<{ k: Tensor; v: Tensor }> = [];
    const shape = { batch: B, seqLen: T, lengths: batch.seqLengths, causal: true };
    let x = x0;
    for (const blk of this.blocks) {
      const r = blk.forward(x, shape, train, keepKv);
      if (keepKv) kv.push({ k: r.k!, v: r.v! });
      if (train) xs.push(r.y);
      else x.dispose();
      x = r.y;
    }
    const hidden2d = this.finalNorm.forward(x, train);
    if (!train) x.dispose();
    return { xs: train ? xs : [], hidden2d, kv };
  }

  /**
   * Backpropagates dHidden (B, T, d) through the last train-mode forward, accumulating into every
   * parameter's grad. `dLmHead` (V, d), e.g. the policy loss's `grads.weight`, is added to the LM-head
   * grad (the embedding grad when tied).
   */
  backward(dHidden: Tensor, dLmHead?: Tensor): void {
    this.#alive();
    const s = needSaved(this.#saved, 'JudgeModel');
    const { batchSize: B, seqLen: T } = s.batch;
    const d = this.config.dModel;
    if (!(dHidden instanceof Tensor)) throw new TypeError('JudgeModel.backward: dHidden must be a Tensor');
    if (dHidden.numel !== B * T * d || dHidden.shape[dHidden.ndim - 1] !== d)
      throw new RangeError(`JudgeModel.backward: dHidden must be (${B}, ${T}, ${d}) like the forward's hidden states, got (${dHidden.shape.join(', ')})`);
    if (dLmHead !== undefined) {
      const w = this.lmHeadWeight();
      if (!(dLmHead instanceof Tensor) || dLmHead.shape.join() !== w.shape.join())
        throw new RangeError(`JudgeModel.backward: dLmHead must be a Tensor of shape (${w.shape.join(', ')})`);
    }
    this.#saved = undefined;
    const dh2 = dHidden.reshape([B * T, d]);
    let dx = this.finalNorm.backward(dh2);
    dh2.dispose();
    for (let i = this.blocks.length - 1; i >= 0; i--) {
      const next = this.blocks[i]!.backward(dx);
      dx.dispose();
      dx = next;
    }
    this.embed.backward(dx, s.batch.ids);
    const dImg = embeddingGather(dx, s.batch.imagePositions);
    dx.dispose();
    this.vision.backward(dImg);
    dImg.dispose();
    disposeAll([...s.xs, s.hidden2d]);
    if (dLmHead !== undefined) {
      const g = this.lmHeadGrad();
      add(g, dLmHead, g);
    }
  }

  /** Logits (B, T, V) of a batch (no grad). Materialises B·T·V floats: use the fused paths for training. */
  logits(batch: ModelBatch): Tensor {
    const h = this.forward(batch);
    const B = batch.batchSize;
    const T = batch.seqLen;
    const h2 = h.reshape([B * T, this.config.dModel]);
    const z = matmul(h2, this.lmHeadWeight(), { transB: true });
    const out = z.reshape([B, T, this.config.vocabSize]);
    disposeAll([h, h2, z]);
    return out;
  }

  /**
   * Log-probabilities (B, T) f32 of each row's next token under the model (no grad) in the sequence
   * layout: entry (b, t) is log p(ids[b, t+1] | ids[b, ≤t]) at the batch's scored positions
   * (lossMask ≠ 0, or `mask` when given) and 0 elsewhere. Exactly what the policy loss takes as
   * oldLogprobs / refLogprobs. `temperature` divides the logits first (match the sampler's).
   */
  logprobs(batch: ModelBatch, opts: { temperature?: number; mask?: Tensor } = {}): Tensor {
    const h = this.forward(batch);
    const lp = tokenLogprobs({ hidden: h, weight: this.lmHeadWeight() }, batch.targets, {
      temperature: opts.temperature ?? 1,
      mask: opts.mask ?? batch.lossMask,
    });
    h.dispose();
    return lp;
  }

  /**
   * One supervised step: forward, mean token NLL over the batch's scored tokens (the loss mask)
   * through the fused policy-loss kernel's 'nll' mode, backward. Accumulates grads; returns the loss.
   */
  nllBackward(batch: ModelBatch, opts: { numItemsInBatch?: number } = {}): NllResult {
    const h = this.forward(batch, { train: true });
    const r = policyLoss(
      { hidden: h, weight: this.lmHeadWeight() },
      { tokens: batch.targets, mask: batch.lossMask },
      { lossType: 'nll', numItemsInBatch: opts.numItemsInBatch },
    );
    h.dispose();
    this.backward(r.gradHidden, r.gradWeight);
    r.dispose();
    return { loss: r.loss, tokens: r.tokens };
  }

  /** Mean token NLL without gradients (evaluation). */
  nll(batch: ModelBatch): NllResult {
    const lp = this.logprobs(batch);
    const a = lp.toArray();
    lp.dispose();
    let s = 0;
    let n = 0;
    for (let i = 0; i < a.length; i++) {
      const m = batch.lossMaskHost[i]!;
      if (m !== 0) {
        s -= a[i]! * m;
        n += m;
      }
    }
    return { loss: n > 0 ? s / n : 0, tokens: n };
  }

  // ---------------------------------------------------------------------------------------------
  // Generation building blocks (generate.ts drives them).

  /**
   * Runs the prompts once and builds KV caches for `numGenerations` copies of each (row n = prompt
   * ⌊n/G⌋): the G completions of a prompt share its prefill. Returns the state and the logits (N, V)
   * of each row's last prompt position (the distribution of its first new token).
   */
  prefill(prompts: ModelBatch, opts: { numGenerations?: number; maxNewTokens: number }): { state: DecodeState; logits: Tensor } {
    const fn = 'JudgeModel.prefill';
    this.#checkBatch(prompts, fn);
    const G = opts.numGenerations ?? 1;
    if (!Number.isInteger(G) || G < 1) throw new RangeError(`${fn}: numGenerations must be an integer ≥ 1, got ${G}`);
    const maxNew = opts.maxNewTokens;
    if (!Number.isInteger(maxNew) || maxNew < 1) throw new RangeError(`${fn}: maxNewTokens must be an integer ≥ 1, got ${maxNew}`);
    const c = this.config;
    const B = prompts.batchSize;
    const T = prompts.seqLen;
    const longest = Math.max(...prompts.seqLengthsHost);
    if (longest + maxNew > c.maxSeqLen)
      throw new RangeError(
        `${fn}: the longest prompt (${longest} positions) + maxNewTokens (${maxNew}) exceeds config.maxSeqLen (${c.maxSeqLen})`,
      );
    const N = B * G;
    const cap = T + maxNew;
    const { hidden2d, kv } = this.#trunk(prompts, false, true);
    const kvw = c.nKvHeads * headDim(c);
    // Cache row (n, t) copies prompt row (⌊n/G⌋, min(t, T−1)); rows past the prompt's length hold
    // stale copies that are never read (the kernel reads only < cacheLengths) and get overwritten.
    const src = new Int32Array(N * cap);
    const lengths = new Int32Array(N);
    const last = new Int32Array(N);
    for (let n = 0; n < N; n++) {
      const b = Math.floor(n / G);
      for (let t = 0; t < cap; t++) src[n * cap + t] = b * T + Math.min(t, T - 1);
      lengths[n] = prompts.seqLengthsHost[b]!;
      last[n] = b * T + lengths[n]! - 1;
    }
    const srcIdx = Tensor.fromArray(src, [N * cap], { dtype: 'i32', device: this.#device });
    const caches: LayerCache[] = kv.map(({ k, v }) => {
      const k2 = k.reshape([B * T, kvw]);
      const v2 = v.reshape([B * T, kvw]);
      const kc = embeddingGather(k2, srcIdx);
      const vc = embeddingGather(v2, srcIdx);
      const cache = {
        k: kc.reshape([N, cap, c.nKvHeads, headDim(c)]),
        v: vc.reshape([N, cap, c.nKvHeads, headDim(c)]),
        lengths: Tensor.fromArray(lengths, [N], { dtype: 'i32', device: this.#device }),
      };
      disposeAll([k, v, k2, v2, kc, vc]);
      return cache;
    });
    srcIdx.dispose();
    const lastIdx = Tensor.fromArray(last, [N], { dtype: 'i32', device: this.#device });
    const hl = embeddingGather(hidden2d, lastIdx);
    const logits = matmul(hl, this.lmHeadWeight(), { transB: true });
    disposeAll([lastIdx, hl, hidden2d]);
    return { state: { rows: N, numGenerations: G, capacity: cap, caches, lengths, disposed: false }, logits };
  }

  /**
   * Feeds one new token per row (N,) and returns the logits (N, V) for the next position. Every row
   * advances by one (finished rows may be fed any valid id; their results are simply ignored).
   */
  decodeStep(state: DecodeState, tokens: ArrayLike<number>): Tensor {
    const fn = 'JudgeModel.decodeStep';
    this.#alive();
    if (state.disposed) throw new Error(`${fn}: the decode state was disposed`);
    const N = state.rows;
    if (tokens.length !== N) throw new RangeError(`${fn}: tokens must hold one id per row (${N}), got ${tokens.length}`);
    const ids = new Int32Array(N);
    for (let n = 0; n < N; n++) {
      const t = tokens[n]!;
      if (!Number.isInteger(t) || t < 0 || t >= this.config.vocabSize)
        throw new RangeError(`${fn}: tokens[${n}] = ${t} is not a token id in 0..${this.config.vocabSize - 1}`);
      if (state.lengths[n]! >= state.capacity)
        throw new RangeError(`${fn}: row ${n} is full (capacity ${state.capacity}); prefill with a larger maxNewTokens`);
    }
    ids.set(Array.from(tokens));
    const idT = Tensor.fromArray(ids, [N], { dtype: 'i32', device: this.#device });
    const pos = Tensor.fromArray(state.lengths, [N], { dtype: 'i32', device: this.#device });
    let x = this.embed.forward(idT);
    this.blocks.forEach((blk, i) => {
      const y = blk.decode(x, state.caches[i]!, pos);
      x.dispose();
      x = y;
    });
    for (let n = 0; n < N; n++) state.lengths[n]!++;
    const h = this.finalNorm.forward(x, false);
    const logits = matmul(h, this.lmHeadWeight(), { transB: true });
    disposeAll([idT, pos, x, h]);
    return logits;
  }

  /**
   * Samples `numGenerations` completions per prompt: one batched prefill shared by each prompt's G
   * rows, then KV-cache decode until EOS or maxNewTokens (see generate.ts).
   */
  generate(prompts: readonly JudgeInput[] | ModelBatch, opts: GenerateOptions): GenerateResult {
    return generate(this, prompts, opts);
  }

  /** Frees a decode state's caches. */
  disposeState(state: DecodeState): void {
    if (state.disposed) return;
    for (const c of state.caches) disposeAll([c.k, c.v, c.lengths]);
    state.disposed = true;
  }

  // ---------------------------------------------------------------------------------------------

  /** Sets every gradient to zero. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Drops activations kept by a train-mode forward that will not be backpropagated. */
  clearActivations(): void {
    if (this.#saved) disposeAll([...this.#saved.xs, this.#saved.hidden2d]);
    this.#saved = undefined;
    this.vision.clear();
    for (const b of this.blocks) b.clear();
    this.finalNorm.clear();
  }

  /** Moves parameters (and grads) to another device. */
  to(device: Device | 'cuda'): this {
    const d = parseDevice(device, 'JudgeModel.to: device');
    this.clearActivations();
    for (const p of this.parameters()) p.to(d);
    this.#device = d;
    return this;
  }

  /** Copies every parameter value from another model with the same config (e.g. to make a reference model). */
  copyFrom(other: JudgeModel): this {
    const mine = this.parameters();
    const theirs = other.parameters();
    if (mine.length !== theirs.length || mine.some((p, i) => p.name !== theirs[i]!.name || p.shape.join() !== theirs[i]!.shape.join()))
      throw new RangeError('JudgeModel.copyFrom: the models have different parameter layouts (configs differ)');
    mine.forEach((p, i) => p.value.copyFrom(theirs[i]!.value));
    return this;
  }

  /** Frees every tensor. The model cannot be used afterwards. */
  dispose(): void {
    if (this.#disposed) return;
    this.clearActivations();
    for (const p of this.#params) p.dispose();
    this.#disposed = true;
  }

  #alive(): void {
    if (this.#disposed) throw new Error('JudgeModel was disposed');
  }
}
