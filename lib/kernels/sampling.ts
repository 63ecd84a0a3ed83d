// Token sampling on Tensors (CPU and CUDA): per-row temperature, top-k, top-p, min-p and
// repetition / presence / frequency penalties, drawn with a counter-based RNG so the token depends
// only on (logits, options, seed, row id, offset) — not on thread count, batch composition or
// device. Also logSoftmax and gatherLogprobs on the same machinery.
import type { NativeSampleOptions, PerRow, SampleResult } from '../addon.js';
import { native as n } from '../native.js';
import { optionsArg, tensorArg } from './args.js';
import { Tensor } from '../tensor.js';

export type { PerRow, SampleResult } from '../addon.js';

export interface SampleOptions {
  /** Divides the (penalised) logits; 0 means greedy: the lowest token id with the largest logit. Default 1. */
  temperature?: PerRow;
  /** Keep the k most likely tokens (ties: lower token id first); 0 = off, k ≥ V keeps all. Default 0. */
  topK?: PerRow;
  /** Keep the shortest most-likely prefix whose mass reaches topP of the top-k mass; in (0, 1], 1 = off. Default 1. */
  topP?: PerRow;
  /** Keep tokens with probability ≥ minP × the largest probability; in [0, 1), 0 = off. Default 0. */
  minP?: PerRow;
  /** Seen tokens: positive logits divided by it, negative multiplied; > 0, 1 = off. Default 1. */
  repetitionPenalty?: PerRow;
  /** Subtracted once from the logit of every seen token; 0 = off. Default 0. */
  presencePenalty?: PerRow;
  /** Subtracted from the logit of every seen token once per occurrence; 0 = off. Default 0. */
  frequencyPenalty?: PerRow;
  /**
   * The tokens each row has produced so far, for the penalties: an i32 Tensor (B, L) padded with
   * −1 (moved to the logits' device if needed), or one array of ids per row (ragged is fine).
   */
  history?: Tensor | ReadonlyArray<ArrayLike<number>>;
  /** RNG seed, a non-negative integer below 2^53. Default 0. */
  seed?: number;
  /** RNG offset (advance it by one per decoding step), a non-negative integer below 2^53. Default 0. */
  offset?: number;
  /**
   * Philox row ids, one per row (default 0..B−1). Give each sequence a stable id to keep its
   * random stream when the batch is reordered or finished rows drop out.
   */
  rowIds?: readonly number[] | Int32Array | Float64Array;
}

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'temperature',
  'topK',
  'topP',
  'minP',
  'repetitionPenalty',
  'presencePenalty',
  'frequencyPenalty',
  'history',
  'seed',
  'offset',
  'rowIds',
]);

/** Builds the (B, L) i32 history tensor from ragged id arrays (padding −1) on `device`. */
function historyTensor(rows: ReadonlyArray<ArrayLike<number>>, batch: number, device: Tensor['device'], fn: string): Tensor {
  if (rows.length !== batch)
    throw new RangeError(`${fn}: history must have one array of token ids per row (B=${batch}), got ${rows.length}`);
  let L = 0;
  rows.forEach((r, i) => {
    if (r === null || typeof r !== 'object' || typeof r.length !== 'number')
      throw new TypeError(`${fn}: history[${i}] must be an array of token ids`);
    L = Math.max(L, r.length);
  });
  const data = new Int32Array(batch * L).fill(-1);
  rows.forEach((r, i) => {
    for (let j = 0; j < r.length; j++) {
      const t = r[j];
      if (typeof t !== 'number' || !Number.isInteger(t))
        throw new TypeError(`${fn}: history[${i}][${j}] must be an integer token id, got ${String(t)}`);
      if (t < -1 || t > 2147483647) throw new RangeError(`${fn}: history[${i}][${j}] = ${t} is not a token id or the padding value -1`);
      data[i * L + j] = t;
    }
  });
  return Tensor.fromArray(data, [batch, L], { dtype: 'i32', device });
}

function run(fn: 'sampleTokens' | 'sampleTokensSortReference', logits: Tensor, opts: SampleOptions): SampleResult {
  tensorArg(logits, fn, 'logits');
  if (opts === undefined) throw new TypeError(`${fn}: options must be an object, got undefined`);
  optionsArg(opts, fn, OPTION_KEYS);
  const { history, ...rest } = opts;
  const nopts: NativeSampleOptions = {};
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) (nopts as Record<string, unknown>)[k] = v;
  let owned: Tensor | undefined;
  try {
    if (history !== undefined && history !== null) {
      if (history instanceof Tensor) {
        if (history.device !== logits.device) owned = history.to(logits.device);
        nopts.history = (owned ?? history).handle;
      } else if (Array.isArray(history)) {
        if (logits.ndim !== 2) throw new RangeError(`${fn}: logits must have shape (B, V), got (${logits.shape.join(', ')})`);
        owned = historyTensor(history, logits.shape[0]!, logits.device, fn);
        nopts.history = owned.handle;
      } else {
        throw new TypeError(`${fn}: history must be an i32 Tensor (B, L) padded with -1 or an array of token-id arrays`);
      }
    }
    return n()[fn](logits.handle, nopts);
  } finally {
    owned?.dispose();
  }
}

/**
 * Draws one token per row of `logits` (B, V) (f32, or bf16) and returns it with its logprobs.
 *
 * Processing order, per row (every step exactly as below on CPU and CUDA):
 * 1. **penalties** on the tokens seen in `history` (c = occurrence count > 0):
 *    `x > 0 ? x / repetitionPenalty : x * repetitionPenalty`, then `− (presencePenalty + frequencyPenalty·c)`;
 * 2. **temperature**: z = (y − max y) · (1/T) (T = 0: greedy, the lowest id with the largest logit,
 *    logprob 0, the filters below are moot);
 * 3. **top-k**: the k first tokens in the order "larger logit first, then lower token id";
 * 4. **top-p**: of those, the shortest prefix (same order) whose probability mass, renormalised
 *    over the top-k set, reaches topP (a token is kept while the mass before it is < topP);
 * 5. **min-p**: tokens with probability ≥ minP × the largest probability;
 * 6. **renormalise** over the kept tokens and **draw** by inverse CDF in token-id order with one
 *    uniform number from Philox4x32-10 keyed by (seed, rowIds[r], offset).
 *
 * Probabilities are computed in a 2^-s fixed point (s ≥ 39 for V ≤ 2^24, s = 45 at V = 152k) so
 * every sum is exact in any order: CPU and CUDA keep the same set and draw the same token.
 *
 * `logprobs[r]` is the log-probability of the drawn token under that final (processed,
 * renormalised) distribution; `rawLogprobs[r]` is its log-probability under `log_softmax(logits)`
 * of the raw logits before any processing.
 *
 * Logits may hold −Infinity (a masked token, never drawn); NaN, +Infinity or a row with no finite
 * logit is a RangeError naming the row. Options out of range (temperature < 0, topK < 0 or not an
 * integer, topP ∉ (0, 1], minP ∉ [0, 1), repetitionPenalty ≤ 0), per-row arrays of the wrong
 * length and history ids outside [0, V) ∪ {−1} are RangeErrors; wrong types are TypeErrors.
 */
export function sampleTokens(logits: Tensor, opts: SampleOptions = {}): SampleResult {
  return run('sampleTokens', logits, opts);
}

/**
 * The same definition as {@link sampleTokens}, computed the textbook way (sort each row's tokens,
 * walk the prefix) on the CPU. Returns identical tokens and logprobs; it is the baseline the
 * benchmarks compare against and an independent check of the fast cut search.
 */
export function sampleTokensSortReference(logits: Tensor, opts: SampleOptions = {}): SampleResult {
  return run('sampleTokensSortReference', logits, opts);
}

/** log_softmax over the last dim of `logits` (..., V) (f32 or bf16): a new f32 tensor on the same device. */
export function logSoftmax(logits: Tensor): Tensor {
  tensorArg(logits, 'logSoftmax', 'logits');
  return Tensor.fromHandle(n().logSoftmax(logits.handle));
}

/**
 * `log_softmax(logits)[r, tokens[r]]` for every row r of `logits` (..., V): the raw logprob of
 * given tokens (as `rawLogprobs` of {@link sampleTokens}). `tokens` has one id per row (an
 * Int32Array, integers, or an i32 Tensor of the leading shape).
 */
export function gatherLogprobs(logits: Tensor, tokens: Int32Array | readonly number[] | Tensor): Float32Array {
  tensorArg(logits, 'gatherLogprobs', 'logits');
  return n().gatherLogprobs(logits.handle, tokens instanceof Tensor ? tokens.handle : tokens);
}
