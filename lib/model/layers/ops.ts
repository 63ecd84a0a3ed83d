// The kernel calls the model's layers make, in one place: thin adapters from the layers' needs to the
// typed kernel wrappers in lib/kernels (GEMM, model ops, attention, sampling, policy loss), so a
// change of a kernel's signature touches this file only. No math lives here.
import { attentionBackward as attnBwd, attentionDecode as attnDecode, attentionForward as attnFwd } from '../../kernels/attention.js';
import { matmul as gemm, type MatmulOpts } from '../../kernels/gemm.js';
import * as mo from '../../kernels/model-ops.js';
import {
  policyLoss as pgLoss,
  tokenLogprobs as tokLp,
  type PolicyLossBatch,
  type PolicyLossOptions,
} from '../../kernels/policy-loss.js';
import { sampleTokens as sample } from '../../kernels/sampling.js';
import { Tensor } from '../../tensor.js';

export function matmul(a: Tensor, b: Tensor, opts: MatmulOpts = {}): Tensor {
  return gemm(a, b, opts);
}

/** y = x / rms(x) · w over rows of (N, d); rstd (N,) for backward. */
export function rmsNormForward(x: Tensor, w: Tensor, eps: number): { y: Tensor; rstd: Tensor } {
  return mo.rmsnormForward(x, w, { eps });
}

/** dx of RMSNorm; dw accumulated into `dwAcc`. */
export function rmsNormBackward(dy: Tensor, x: Tensor, w: Tensor, rstd: Tensor, dwAcc: Tensor): Tensor {
  return mo.rmsnormBackward(dy, x, w, rstd, { dw: dwAcc, accumulate: true }).dx;
}

/**
 * Rotary embedding of x (B, S, H, D) in place, 'half' layout (pairs (i, i + D/2), as HF Llama):
 * the position of (b, s) is s + positions[b] (positions: (B,) i32; all zeros when omitted).
 * `inverse` applies the transpose rotation (the backward pass).
 */
export function ropeInPlace(x: Tensor, base: number, positions?: Tensor, inverse = false): void {
  const pos = positions ?? Tensor.zeros([x.shape[0]!], { dtype: 'i32', device: x.device });
  try {
    if (inverse) mo.ropeBackward(x, pos, { base, inPlace: true });
    else mo.ropeForward(x, pos, { base, inPlace: true });
  } finally {
    if (!positions) pos.dispose();
  }
}

export function swigluForward(gate: Tensor, up: Tensor): Tensor {
  return mo.swigluForward(gate, up);
}

/** Gradients of silu(gate)·up; dGate overwrites dy (which the caller gives up). */
export function swigluBackward(dy: Tensor, gate: Tensor, up: Tensor): { dGate: Tensor; dUp: Tensor } {
  const r = mo.swigluBackward(dy, gate, up, { dgate: dy });
  return { dGate: r.dgate, dUp: r.dup };
}

/** out[i] = table[ids[i]]: (R, d), (N,) i32 → (N, d). */
export function embeddingGather(table: Tensor, ids: Tensor): Tensor {
  return mo.embeddingForward(ids, table);
}

/** acc[ids[i]] += src[i], deterministic. */
export function embeddingScatterAdd(acc: Tensor, src: Tensor, ids: Tensor): void {
  mo.embeddingBackward(src, ids, { dtable: acc, accumulate: true });
}

/** u8 images (n, S, S, C) → f32 patch vectors (n, P, k·k·C) scaled to [−1, 1] (k = window, default p). */
export function patchify(pixels: Tensor, patchSize: number, patchWindow = patchSize): Tensor {
  return mo.patchEmbed(pixels, { patchSize, patchWindow });
}

export interface AdamWStepOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

export function adamwStep(p: Tensor, g: Tensor, m: Tensor, v: Tensor, o: AdamWStepOptions): void {
  mo.adamwStep(p, g, m, v, o);
}

/** Scales the grads in place so their global L2 norm is ≤ maxNorm; returns the norm before clipping. */
export function clipGradNorm(grads: readonly Tensor[], maxNorm: number): number {
  return mo.clipGradNorm(grads, maxNorm);
}

/** Global L2 norm of the grads. */
export function gradNorm(grads: readonly Tensor[]): number {
  return mo.gradNorm(grads);
}

export const attentionForward = attnFwd;
export const attentionBackward = attnBwd;
export const attentionDecode = attnDecode;
export const sampleTokens = sample;

/** Fused-linear policy loss, flattened to what the model needs. */
export function policyLoss(
  input: { hidden: Tensor; weight: Tensor },
  batch: PolicyLossBatch,
  opts: PolicyLossOptions,
): { loss: number; tokens: number; gradHidden: Tensor; gradWeight: Tensor; dispose(): void } {
  const r = pgLoss(input, batch, opts);
  r.logprobs.dispose();
  const gh = r.grads.hidden;
  const gw = r.grads.weight;
  return {
    loss: r.loss,
    tokens: r.metrics.tokens,
    gradHidden: gh,
    gradWeight: gw,
    dispose() {
      gh.dispose();
      gw.dispose();
    },
  };
}

/** log p(token) (N, T) at masked-in positions (0 elsewhere), no grad. */
export function tokenLogprobs(input: { hidden: Tensor; weight: Tensor }, tokens: Tensor, opts: { temperature: number; mask?: Tensor }): Tensor {
  return tokLp(input, tokens, opts).logprobs;
}
