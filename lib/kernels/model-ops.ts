// Typed wrappers for the model ops (forward and backward): RMSNorm, LayerNorm, RoPE, SwiGLU, GELU,
// in-place add / bias / row sums, embedding gather + scatter-add, patch embedding, AdamW and the
// global gradient norm with clipping. Activations and parameters are f32 or bf16 (one dtype per
// call), statistics f32, ids i32; every op runs on the device of its tensors (cpu or cuda:N).
// Parameter gradients overwrite, or add into a given tensor with `accumulate: true`; every
// reduction is deterministic (same bits whatever the thread count).
import type { NativeTensorHandle as H } from '../addon.js';
import { native } from '../native.js';
import { handleOf as h, optionalHandle as oh, optionsArg } from './args.js';

const n = native;
const opts = <T extends object>(o: T | undefined, fn: string): T => optionsArg<T>(o, fn);
import { Tensor } from '../tensor.js';

/** The caller's tensor when one was given (identity kept), else a wrapper of the fresh native result. */
function res(given: Tensor | undefined, handle: H): Tensor {
  return given ?? Tensor.fromHandle(handle);
}

// ---------------------------------------------------------------------------------------------
// Normalisation

export interface RmsnormForwardOpts {
  /** Added to mean(x²) (default 1e-6). */
  eps?: number;
  out?: Tensor;
  rstd?: Tensor;
}
/** y = x · rstd · w over the last dim; rstd (x.shape[:-1], f32) is what the backward pass needs. */
export function rmsnormForward(x: Tensor, w: Tensor, o?: RmsnormForwardOpts): { y: Tensor; rstd: Tensor } {
  const fn = 'rmsnormForward';
  const p = opts(o, fn);
  const r = n().rmsnormForward(h(x, fn, 'x'), h(w, fn, 'w'), { eps: p.eps, out: oh(p.out, fn, 'out'), rstd: oh(p.rstd, fn, 'rstd') });
  return { y: res(p.out, r.y), rstd: res(p.rstd, r.rstd) };
}

export interface ParamGradOpts {
  dx?: Tensor;
  dw?: Tensor;
  /** Add the parameter gradients into the given dw (and db) instead of overwriting them. */
  accumulate?: boolean;
}
export function rmsnormBackward(dy: Tensor, x: Tensor, w: Tensor, rstd: Tensor, o?: ParamGradOpts): { dx: Tensor; dw: Tensor } {
  const fn = 'rmsnormBackward';
  const p = opts(o, fn);
  const r = n().rmsnormBackward(h(dy, fn, 'dy'), h(x, fn, 'x'), h(w, fn, 'w'), h(rstd, fn, 'rstd'), {
    dx: oh(p.dx, fn, 'dx'),
    dw: oh(p.dw, fn, 'dw'),
    accumulate: p.accumulate,
  });
  return { dx: res(p.dx, r.dx), dw: res(p.dw, r.dw) };
}

export interface LayernormForwardOpts {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  out?: Tensor;
  mean?: Tensor;
  rstd?: Tensor;
}
/** y = (x − mean) · rstd · w + b over the last dim (biased variance, like torch.nn.LayerNorm). */
export function layernormForward(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  o?: LayernormForwardOpts,
): { y: Tensor; mean: Tensor; rstd: Tensor } {
  const fn = 'layernormForward';
  const p = opts(o, fn);
  const r = n().layernormForward(h(x, fn, 'x'), h(w, fn, 'w'), h(b, fn, 'b'), {
    eps: p.eps,
    out: oh(p.out, fn, 'out'),
    mean: oh(p.mean, fn, 'mean'),
    rstd: oh(p.rstd, fn, 'rstd'),
  });
  return { y: res(p.out, r.y), mean: res(p.mean, r.mean), rstd: res(p.rstd, r.rstd) };
}

export function layernormBackward(
  dy: Tensor,
  x: Tensor,
  w: Tensor,
  mean: Tensor,
  rstd: Tensor,
  o?: ParamGradOpts & { db?: Tensor },
): { dx: Tensor; dw: Tensor; db: Tensor } {
  const fn = 'layernormBackward';
  const p = opts(o, fn);
  const r = n().layernormBackward(h(dy, fn, 'dy'), h(x, fn, 'x'), h(w, fn, 'w'), h(mean, fn, 'mean'), h(rstd, fn, 'rstd'), {
    dx: oh(p.dx, fn, 'dx'),
    dw: oh(p.dw, fn, 'dw'),
    db: oh(p.db, fn, 'db'),
    accumulate: p.accumulate,
  });
  return { dx: res(p.dx, r.dx), dw: res(p.dw, r.dw), db: res(p.db, r.db) };
}

// ---------------------------------------------------------------------------------------------
// RoPE

export interface RopeOpts {
  /** Frequency base θ (default 10000): pair i turns by pos · θ^(−2i/rotaryDim). */
  base?: number;
  /** Leading dims of D that rotate (even; default D); the rest pass through. */
  rotaryDim?: number;
  /** Pairs (2i, 2i+1) (GPT-J / Meta Llama) instead of (i, i + rotaryDim/2) (GPT-NeoX / HF Llama). */
  interleaved?: boolean;
  out?: Tensor;
  /** Rotate x itself (ignores out). */
  inPlace?: boolean;
}

function ropeCall(fn: string, x: Tensor, positions: Tensor, o: RopeOpts | undefined, inverse: boolean): Tensor {
  const p = opts(o, fn);
  const hd = n().rope(h(x, fn, 'x'), h(positions, fn, 'positions'), {
    base: p.base,
    rotaryDim: p.rotaryDim,
    interleaved: p.interleaved,
    inverse,
    inPlace: p.inPlace,
    out: p.inPlace ? undefined : oh(p.out, fn, 'out'),
  });
  return p.inPlace ? x : res(p.out, hd);
}

/**
 * Rotary embedding of x (B, S, H, D). positions (i32): (B,) start offsets — row b's token s is at
 * offsets[b] + s, so decode passes the cache length — or (B, S) explicit positions.
 */
export function ropeForward(x: Tensor, positions: Tensor, o?: RopeOpts): Tensor {
  return ropeCall('ropeForward', x, positions, o, false);
}
/** Gradient of ropeForward: the inverse rotation of dy (same options and positions). */
export function ropeBackward(dy: Tensor, positions: Tensor, o?: RopeOpts): Tensor {
  return ropeCall('ropeBackward', dy, positions, o, true);
}

// ---------------------------------------------------------------------------------------------
// Activations

/** silu(gate) · up (same shapes). */
export function swigluForward(gate: Tensor, up: Tensor, o?: { out?: Tensor }): Tensor {
  return pairOut('swigluForward', [gate, 'gate'], [up, 'up'], o);
}

/** An op of two tensors writing a new tensor, or into `out` when given. */
function pairOut(fn: 'swigluForward' | 'embeddingForward', [a, an]: [Tensor, string], [b, bn]: [Tensor, string], o?: { out?: Tensor }): Tensor {
  const p = opts(o, fn);
  return res(p.out, n()[fn](h(a, fn, an), h(b, fn, bn), { out: oh(p.out, fn, 'out') }));
}
/** dgate may be dout itself (overwritten in place); it must not be gate or up. */
export function swigluBackward(
  dout: Tensor,
  gate: Tensor,
  up: Tensor,
  o?: { dgate?: Tensor; dup?: Tensor },
): { dgate: Tensor; dup: Tensor } {
  const fn = 'swigluBackward';
  const p = opts(o, fn);
  const r = n().swigluBackward(h(dout, fn, 'dout'), h(gate, fn, 'gate'), h(up, fn, 'up'), {
    dgate: oh(p.dgate, fn, 'dgate'),
    dup: oh(p.dup, fn, 'dup'),
  });
  return { dgate: res(p.dgate, r.dgate), dup: res(p.dup, r.dup) };
}

/** GELU, tanh approximation (PyTorch approximate='tanh'). */
export function geluForward(x: Tensor, o?: { out?: Tensor }): Tensor {
  const fn = 'geluForward';
  const p = opts(o, fn);
  return res(p.out, n().geluForward(h(x, fn, 'x'), { out: oh(p.out, fn, 'out') }));
}
export function geluBackward(dout: Tensor, x: Tensor, o?: { dx?: Tensor }): Tensor {
  const fn = 'geluBackward';
  const p = opts(o, fn);
  return res(p.dx, n().geluBackward(h(dout, fn, 'dout'), h(x, fn, 'x'), { dx: oh(p.dx, fn, 'dx') }));
}

// ---------------------------------------------------------------------------------------------
// BLAS-1 and reductions

/** a += alpha · b in place (residual adds, gradient accumulation); returns a. */
export function addInPlace(a: Tensor, b: Tensor, alpha = 1): Tensor {
  const fn = 'addInPlace';
  if (typeof alpha !== 'number') throw new TypeError(`${fn}: alpha must be a number, got ${typeof alpha}`);
  n().addInPlace(h(a, fn, 'a'), h(b, fn, 'b'), alpha);
  return a;
}
/** x (..., D) += bias (D,) on every row, in place; returns x. */
export function addBias(x: Tensor, bias: Tensor): Tensor {
  const fn = 'addBias';
  n().addBias(h(x, fn, 'x'), h(bias, fn, 'bias'));
  return x;
}
/** Σ over rows of x (..., D) → (D,) (a bias gradient); `accumulate` adds into `out`. */
export function sumRows(x: Tensor, o?: { out?: Tensor; accumulate?: boolean }): Tensor {
  const fn = 'sumRows';
  const p = opts(o, fn);
  return res(p.out, n().sumRows(h(x, fn, 'x'), { out: oh(p.out, fn, 'out'), accumulate: p.accumulate }));
}

// ---------------------------------------------------------------------------------------------
// Embedding

/** Rows of table (V, D) picked by ids (i32, any shape) → (...ids.shape, D). Ids outside [0, V) throw. */
export function embeddingForward(ids: Tensor, table: Tensor, o?: { out?: Tensor }): Tensor {
  return pairOut('embeddingForward', [ids, 'ids'], [table, 'table'], o);
}
/**
 * Scatter-add of dout (...ids.shape, D) into dtable (V, D), each row summed in token order
 * (deterministic). Give `dtable` (with `accumulate` to add into it) or `vocabSize`.
 */
export function embeddingBackward(
  dout: Tensor,
  ids: Tensor,
  o: { dtable?: Tensor; vocabSize?: number; accumulate?: boolean },
): Tensor {
  const fn = 'embeddingBackward';
  const p = opts(o, fn);
  const r = n().embeddingBackward(h(dout, fn, 'dout'), h(ids, fn, 'ids'), {
    dtable: oh(p.dtable, fn, 'dtable'),
    vocabSize: p.vocabSize,
    accumulate: p.accumulate,
  });
  return res(p.dtable, r);
}

// ---------------------------------------------------------------------------------------------
// Patch embedding

export interface PatchEmbedOpts {
  patchSize: number;
  /**
   * Side K of the pixel window each patch vector reads, centred on its P×P cell (K ≥ P, K − P even;
   * default P: plain non-overlapping patches). Pixels of the window outside the image read as 0.
   */
  patchWindow?: number;
  /** Values become x · scale + shift. Defaults: u8 images 1/127.5 and −1 (→ [−1, 1]); f32 images 1 and 0. */
  scale?: number;
  shift?: number;
  /** Output dtype when `out` is not given (default f32). */
  dtype?: 'f32' | 'bf16';
  out?: Tensor;
}
/**
 * Image (B, H, W, C), u8 or f32, → patch vectors (B, (H/P)·(W/P), K·K·C) with K = patchWindow (default
 * P): patches in row-major grid order, each window flattened as (wy, wx, c). H and W must be
 * multiples of P.
 */
export function patchEmbed(image: Tensor, o: PatchEmbedOpts): Tensor {
  const fn = 'patchEmbed';
  const p = opts(o, fn);
  return res(
    p.out,
    n().patchEmbed(h(image, fn, 'image'), { patchSize: p.patchSize, patchWindow: p.patchWindow, scale: p.scale, shift: p.shift, dtype: p.dtype, out: oh(p.out, fn, 'out') }),
  );
}
/**
 * Gradient of patchEmbed for an f32 image of `imageShape` (B, H, W, C): each pixel gets dpatches ·
 * scale summed over the windows that read it. (u8 images are data and have no gradient.)
 */
export function patchEmbedBackward(
  dpatches: Tensor,
  imageShape: readonly number[],
  o: { patchSize: number; patchWindow?: number; scale?: number; dimage?: Tensor },
): Tensor {
  const fn = 'patchEmbedBackward';
  const p = opts(o, fn);
  return res(p.dimage, n().patchEmbedBackward(h(dpatches, fn, 'dpatches'), imageShape, { patchSize: p.patchSize, patchWindow: p.patchWindow, scale: p.scale, dimage: oh(p.dimage, fn, 'dimage') }));
}

// ---------------------------------------------------------------------------------------------
// Optimiser and gradient norms

export interface AdamWOpts {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (default 0.01): p ← p · (1 − lr · weightDecay) before the Adam update. */
  weightDecay?: number;
  /** The step being taken, starting at 1 (bias correction uses it). */
  step: number;
  /** Multiplies the gradient first (e.g. a clipping coefficient or 1/accumulation steps). */
  gradScale?: number;
}
/** One AdamW step in place on param, m and v (all f32, one shape), PyTorch torch.optim.AdamW semantics. */
export function adamwStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamWOpts): void {
  const fn = 'adamwStep';
  const p = opts(o, fn);
  n().adamwStep(h(param, fn, 'param'), h(grad, fn, 'grad'), h(m, fn, 'm'), h(v, fn, 'v'), {
    lr: p.lr,
    beta1: p.beta1,
    beta2: p.beta2,
    eps: p.eps,
    weightDecay: p.weightDecay,
    step: p.step,
    gradScale: p.gradScale,
  });
}

/** Σ x² (float64, fixed summation order). */
export function sumSquares(x: Tensor): number {
  return n().sumSquares(h(x, 'sumSquares', 'x'));
}

function handles(ts: unknown, fn: string): H[] {
  if (!Array.isArray(ts)) throw new TypeError(`${fn}: tensors must be an array of Tensors`);
  return ts.map((t, i) => h(t, fn, `tensors[${i}]`));
}
/** Global L2 norm over all the tensors (as if concatenated). */
export function gradNorm(tensors: readonly Tensor[]): number {
  return n().gradNorm(handles(tensors, 'gradNorm'));
}
/**
 * torch.nn.utils.clip_grad_norm_: when the global norm exceeds maxNorm, scales every tensor in place
 * by maxNorm / (norm + 1e-6). Returns the norm before clipping; a NaN/Inf norm scales nothing — skip
 * the step.
 */
export function clipGradNorm(tensors: readonly Tensor[], maxNorm: number): number {
  return n().clipGradNorm(handles(tensors, 'clipGradNorm'), maxNorm);
}
