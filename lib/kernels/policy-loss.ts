// Policy-gradient loss (GRPO family, fused with the log-softmax over the vocabulary), the token NLL
// (SFT loss) through the same path, and selective token log-probabilities for old/reference
// logprobs. A typed facade over the native kernels; the exact definitions are in the JSDoc below
// (and in native/include/mtrl/policy_loss.h).
import type { NativeBatch, PolicyLossMetrics, PolicyLossNativeResult as NativeResult } from '../addon.js';
import { native as n } from '../native.js';
import { optionsArg, tensorArg } from './args.js';
import { Tensor } from '../tensor.js';

export type PolicyLossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo' | 'nll';
export type KlEstimator = 'k1' | 'k2' | 'k3';
export type ImportanceSamplingLevel = 'token' | 'sequence';

/** Logits `(N, T, V)` (f32 or bf16). */
export interface LogitsInput {
  logits: Tensor;
}
/**
 * Fused-linear input: hidden states `(N, T, d)` and the LM-head weight `(V, d)` (one dtype, f32 or
 * bf16). The logits `hidden · weightᵀ` are computed chunk by chunk and never exist in full.
 */
export interface LinearInput {
  hidden: Tensor;
  weight: Tensor;
}
export type PolicyLossInput = LogitsInput | LinearInput;

export interface PolicyLossBatch {
  /** i32 `(N, T)`: the sampled token at each position. Only positions with mask 1 are read. */
  tokens: Tensor;
  /** `(N, T)` f32, u8 or i32 holding 0 or 1: 1 = a completion token that counts. */
  mask: Tensor;
  /** f32 `(N)` (one per sequence) or `(N, T)`. Required unless `lossType` is `'nll'`. */
  advantages?: Tensor;
  /** f32 `(N, T)`: log-probs of the policy that sampled the tokens. Absent = on-policy (ratio 1 with its gradient). */
  oldLogprobs?: Tensor;
  /** f32 `(N, T)`: log-probs of the frozen reference policy, for the KL term and metric. */
  refLogprobs?: Tensor;
}

/** Options; names and defaults follow TRL's GRPOConfig. */
export interface PolicyLossOptions {
  /** `'grpo'` (default), `'bnpo'`, `'dr_grpo'`, `'dapo'` or `'nll'` (masked token NLL, the SFT loss). */
  lossType?: PolicyLossType;
  /** Lower clip ε (default 0.2): the ratio is clipped to [1 − ε, 1 + εHigh]. */
  epsilon?: number;
  /** Upper clip ε_high (default = epsilon). */
  epsilonHigh?: number;
  /** Two-sided clipping: the unclipped term uses min(r, δ) (default off). */
  delta?: number;
  /** KL coefficient β (default 0). Non-zero needs `refLogprobs`. */
  beta?: number;
  /** KL estimator (default `'k3'`). */
  klEstimator?: KlEstimator;
  /** `'token'` (default) or `'sequence'` importance ratios. */
  importanceSamplingLevel?: ImportanceSamplingLevel;
  /** Logits are divided by it (default 1), as in the rollouts. */
  temperature?: number;
  /** dr_grpo's constant normaliser (default T). */
  maxCompletionLength?: number;
  /** dapo / nll: the global count of counted tokens across gradient accumulation (default: this batch's). */
  numItemsInBatch?: number;
  /** Entropy bonus coefficient (default 0): the loss gets −entropyCoef · (entropy aggregated like the loss). */
  entropyCoef?: number;
  /** Fused-linear: counted token rows per chunk (default: about 32 MiB of f32 logits per chunk, and at least 256 rows, rounded up to the GEMM micro-tile: 154 MiB at V = 151936). More rows can run faster for c·V·4 bytes. */
  chunkSize?: number;
  /** Fused-linear: vocabulary columns per chunk (default V). Smaller values cut memory further at the cost of computing the logits twice. */
  vocabChunkSize?: number;
}

export type { PolicyLossMetrics } from '../addon.js';

export interface PolicyLossValue {
  /** The loss L (a host number). */
  loss: number;
  metrics: PolicyLossMetrics;
  /** f32 `(N, T)`: lp at counted positions, 0 elsewhere (detached; usable as oldLogprobs on-policy). */
  logprobs: Tensor;
}
export interface PolicyLossResult<G> extends PolicyLossValue {
  grads: G;
}
/** `logits`: dL/dlogits, the logits' dtype, zero rows where mask is 0. */
export interface LogitsGrads {
  logits: Tensor;
}
/** `hidden`: dL/dhidden in hidden's dtype (zero rows where mask is 0); `weight`: dL/dweight, always f32. */
export interface LinearGrads {
  hidden: Tensor;
  weight: Tensor;
}

const OPTION_KEYS = new Set([
  'lossType',
  'epsilon',
  'epsilonHigh',
  'delta',
  'beta',
  'klEstimator',
  'importanceSamplingLevel',
  'temperature',
  'maxCompletionLength',
  'numItemsInBatch',
  'entropyCoef',
  'chunkSize',
  'vocabChunkSize',
]);

function nativeBatch(batch: unknown, fn: string): NativeBatch {
  if (batch === null || typeof batch !== 'object') throw new TypeError(`${fn}: batch must be an object { tokens, mask, advantages?, oldLogprobs?, refLogprobs? }`);
  const b = batch as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (!['tokens', 'mask', 'advantages', 'oldLogprobs', 'refLogprobs'].includes(k))
      throw new TypeError(`${fn}: unknown batch field '${k}' (known: tokens, mask, advantages, oldLogprobs, refLogprobs)`);
  }
  const out: NativeBatch = {
    tokens: tensorArg(b.tokens, fn, 'batch.tokens').handle,
    mask: tensorArg(b.mask, fn, 'batch.mask').handle,
  };
  for (const k of ['advantages', 'oldLogprobs', 'refLogprobs'] as const) {
    if (b[k] !== undefined) out[k] = tensorArg(b[k], fn, `batch.${k}`).handle;
  }
  return out;
}

type InputKind = { kind: 'logits'; logits: Tensor } | { kind: 'linear'; hidden: Tensor; weight: Tensor };
function inputKind(input: unknown, fn: string): InputKind {
  if (input === null || typeof input !== 'object') throw new TypeError(`${fn}: input must be { logits } or { hidden, weight }`);
  const i = input as Record<string, unknown>;
  if ('logits' in i && i.logits !== undefined) {
    if (i.hidden !== undefined || i.weight !== undefined)
      throw new TypeError(`${fn}: input must be either { logits } or { hidden, weight }, not both`);
    return { kind: 'logits', logits: tensorArg(i.logits, fn, 'logits') };
  }
  if (i.hidden !== undefined || i.weight !== undefined)
    return { kind: 'linear', hidden: tensorArg(i.hidden, fn, 'hidden'), weight: tensorArg(i.weight, fn, 'weight') };
  throw new TypeError(`${fn}: input must be { logits } or { hidden, weight }`);
}

function run(input: unknown, batch: unknown, opts: unknown, grads: boolean): NativeResult {
  const fn = 'policyLoss';
  const kind = inputKind(input, fn);
  const o = { ...optionsArg(opts, fn, OPTION_KEYS), grads };
  const b = nativeBatch(batch, fn);
  return kind.kind === 'logits'
    ? n().policyLossLogits(kind.logits.handle, b, o)
    : n().policyLossLinear(kind.hidden.handle, kind.weight.handle, b, o);
}

function wrapValue(r: NativeResult): PolicyLossValue {
  return { loss: r.loss, metrics: { ...r.metrics }, logprobs: Tensor.fromHandle(r.logprobs) };
}

/**
 * GRPO-family policy-gradient loss over the vocabulary, forward and backward in one call.
 *
 * For a counted token t (mask 1) of sequence i, with logits row z and temperature τ:
 * - `lp = log_softmax(z/τ)[token]`, `H = −Σ_v p_v log p_v` with `p = softmax(z/τ)`.
 * - Ratio: token level `r = exp(lp − old)`; sequence level `r_i = exp(Σ_t (lp − old) / n_i)` over
 *   the n_i counted tokens of sequence i. Without `oldLogprobs`, old = lp detached (r = 1, and
 *   dr/dlp = 1, or 1/n_i at sequence level).
 * - Per-token term `ℓ = −min(c1·A, clip(r, 1−ε, 1+ε_high)·A) + β·KL`, with `c1 = min(r, δ)` when
 *   `delta` is set, else r; KL k1 = lp − ref, k2 = ½(lp − ref)², k3 = exp(ref − lp) − (ref − lp) − 1.
 *   `'nll'`: ℓ = −lp.
 * - `L = Σ_t w_t (ℓ_t − entropyCoef·H_t)` with n = Σ_i n_i and weights
 *   grpo `1/(N·max(n_i, 1))` (mean over sequences of the per-sequence token mean),
 *   bnpo `1/max(n, 1)` (token mean over the batch), dr_grpo `1/(N·maxCompletionLength)`,
 *   dapo and nll `1/numItemsInBatch` (default max(n, 1)).
 * - The gradient flows through lp and H only (old, ref, A are constants); min and clamp follow
 *   PyTorch autograd (clamp passes the gradient at its bounds, a tie of min splits it in half).
 *
 * Masked positions are never read (logits, hidden, tokens, old, ref may hold anything there) and
 * get zero gradient. Errors: shapes/dtypes/devices that do not match, tokens outside [0, V) or
 * non-finite advantages/old/ref at counted positions, a counted token of probability 0 or NaN
 * logits in a counted row.
 *
 * `{ hidden, weight }` computes the logits in chunks of `chunkSize` rows × `vocabChunkSize` columns
 * so the extra memory is O(chunk · V) instead of O(N · T · V); `grads.weight` is f32.
 */
export function policyLoss(input: LogitsInput, batch: PolicyLossBatch, opts?: PolicyLossOptions): PolicyLossResult<LogitsGrads>;
export function policyLoss(input: LinearInput, batch: PolicyLossBatch, opts?: PolicyLossOptions): PolicyLossResult<LinearGrads>;
export function policyLoss(
  input: PolicyLossInput,
  batch: PolicyLossBatch,
  opts?: PolicyLossOptions,
): PolicyLossResult<LogitsGrads | LinearGrads>;
export function policyLoss(
  input: PolicyLossInput,
  batch: PolicyLossBatch,
  opts: PolicyLossOptions = {},
): PolicyLossResult<LogitsGrads | LinearGrads> {
  const r = run(input, batch, opts, true);
  const grads =
    r.grads.logits !== undefined
      ? { logits: Tensor.fromHandle(r.grads.logits) }
      : { hidden: Tensor.fromHandle(r.grads.hidden!), weight: Tensor.fromHandle(r.grads.weight!) };
  return { ...wrapValue(r), grads };
}

/** The loss, metrics and logprobs of {@link policyLoss} without computing any gradient (evaluation). */
export function policyLossValue(input: PolicyLossInput, batch: PolicyLossBatch, opts: PolicyLossOptions = {}): PolicyLossValue {
  return wrapValue(run(input, batch, opts, false));
}

/**
 * Unfused baseline for benchmarks (CPU, f32, `{ hidden, weight }` only): materialises the full
 * logits, their log-softmax and both gradients as an autograd framework would. Same results as
 * {@link policyLoss}; it exists to measure what the fusion saves.
 */
export function policyLossUnfused(input: LinearInput, batch: PolicyLossBatch, opts: PolicyLossOptions = {}): PolicyLossResult<LinearGrads> {
  const fn = 'policyLossUnfused';
  const kind = inputKind(input, fn);
  if (kind.kind !== 'linear') throw new TypeError(`${fn}: input must be { hidden, weight }`);
  const r = n().policyLossUnfused(kind.hidden.handle, kind.weight.handle, nativeBatch(batch, fn), {
    ...optionsArg(opts, fn, OPTION_KEYS),
    grads: true,
  });
  return { ...wrapValue(r), grads: { hidden: Tensor.fromHandle(r.grads.hidden!), weight: Tensor.fromHandle(r.grads.weight!) } };
}

export interface TokenLogprobsOptions {
  /** Logits are divided by it (default 1). */
  temperature?: number;
  /** Also return the entropy of softmax(z/τ) per position (default false). */
  entropy?: boolean;
  /** `(N, T)` 0/1 (f32, u8 or i32): only positions with 1 are computed (others get 0; their tokens are not read). Default: all. */
  mask?: Tensor;
  /** Fused-linear chunking, as in {@link PolicyLossOptions}. */
  chunkSize?: number;
  vocabChunkSize?: number;
}
export interface TokenLogprobsResult {
  /** f32 `(N, T)`: log_softmax(z/τ)[token] (0 where mask is 0). */
  logprobs: Tensor;
  /** f32 `(N, T)` when `entropy: true`. */
  entropy?: Tensor;
}

const LOGPROB_KEYS = new Set(['temperature', 'entropy', 'mask', 'chunkSize', 'vocabChunkSize']);

/**
 * Selective log-probabilities `log_softmax(z/τ)[token]` for every (masked-in) position, without
 * gradients, through the same fused path as {@link policyLoss} (`{ hidden, weight }` never holds
 * the full logits). For old/reference logprobs and evaluation. Non-finite results are returned as
 * they are (a token of probability 0 gives −Infinity).
 */
export function tokenLogprobs(input: PolicyLossInput, tokens: Tensor, opts: TokenLogprobsOptions = {}): TokenLogprobsResult {
  const fn = 'tokenLogprobs';
  const kind = inputKind(input, fn);
  const o = optionsArg(opts, fn, LOGPROB_KEYS);
  const tok = tensorArg(tokens, fn, 'tokens').handle;
  const mask = o.mask === undefined ? undefined : tensorArg(o.mask, fn, 'mask').handle;
  const { mask: _m, ...rest } = o;
  const r =
    kind.kind === 'logits'
      ? n().tokenLogprobsLogits(kind.logits.handle, tok, mask, rest)
      : n().tokenLogprobsLinear(kind.hidden.handle, kind.weight.handle, tok, mask, rest);
  const out: TokenLogprobsResult = { logprobs: Tensor.fromHandle(r.logprobs) };
  if (r.entropy !== undefined) out.entropy = Tensor.fromHandle(r.entropy);
  return out;
}
