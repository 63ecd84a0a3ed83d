// Batched generation for the JudgeModel: one prefill of the prompts, KV caches copied for the G
// completions of each prompt (GRPO groups share their prompt's prefill), then token-by-token decode
// through the fused attention decode kernel and the sampler, each row stopping at an EOS id or at
// maxNewTokens.
//
// Randomness: step s of row n draws with the sampler's Philox key (seed, row n, offset + s), so the
// same (model, prompts, options) always give the same completions, on CPU and CUDA alike. Use a new
// seed (or offset) per training step to get fresh samples.
import { Tensor, type Device } from '../tensor.js';
import { disposeBatch, packBatch, type JudgeInput, type ModelBatch } from './batch.js';
import type { JudgeModelConfig } from './config.js';
import { sampleTokens } from './layers/ops.js';

/**
 * What generation needs from a model: its sizes and device, a prefill that builds KV caches for G
 * copies of each prompt, and one decode step. JudgeModel implements it (this file does not import
 * the model, which imports this file).
 */
export interface DecodingModel<S extends { readonly rows: number } = { readonly rows: number }> {
  readonly config: JudgeModelConfig;
  readonly device: Device;
  prefill(prompts: ModelBatch, opts: { numGenerations?: number; maxNewTokens: number }): { state: S; logits: Tensor };
  decodeStep(state: S, tokens: ArrayLike<number>): Tensor;
  disposeState(state: S): void;
}

export interface GenerateOptions {
  /** Completions per prompt (the GRPO group size G). Default 1. */
  numGenerations?: number;
  /** Most tokens generated per completion (EOS included). */
  maxNewTokens: number;
  /** Token id(s) that end a completion (kept as its last token). */
  eosId?: number | readonly number[];
  /** Softmax temperature; 0 = greedy. Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set of tokens with cumulative probability ≥ topP (1 = off). */
  topP?: number;
  /** Drop tokens with probability < minP · p_max (0 = off). */
  minP?: number;
  /** >1 discourages tokens already generated in this completion (1 = off). */
  repetitionPenalty?: number;
  /** Subtracted from the logit of every token already generated (0 = off). */
  presencePenalty?: number;
  /** Subtracted once per earlier occurrence (0 = off). */
  frequencyPenalty?: number;
  /** Seed of the sampler's random stream. Default 0. */
  seed?: number;
  /** First Philox offset (step s uses offset + s). Default 0. */
  offset?: number;
  /**
   * Called after each step with the logits (N, V) that produced it and the sampled ids (N,);
   * the logits are freed after the callback returns.
   */
  onStep?: (step: number, logits: Tensor, tokens: Int32Array) => void;
}

export interface GenerateResult {
  /** Rows = prompts × numGenerations; row n belongs to prompt ⌊n / G⌋. */
  rows: number;
  numGenerations: number;
  maxNewTokens: number;
  /** (rows, maxNewTokens) generated ids, −1 after each row's end. */
  tokens: Int32Array;
  /** Tokens generated per row (EOS included when it was produced). */
  lengths: Int32Array;
  /** Whether the row ended with an EOS id (else it hit maxNewTokens). */
  finishedByEos: Uint8Array;
  /** (rows, maxNewTokens) log-probability of each sampled token under the processed distribution
   * (after penalties, temperature and truncation), NaN past the end. */
  logprobs: Float32Array;
  /** (rows, maxNewTokens) log-probability of each sampled token under the raw model distribution
   * (log-softmax of the logits as they are), NaN past the end: the policy's own logprob. */
  rawLogprobs: Float32Array;
  /** Row n's completion as a plain array (EOS included). */
  completion(n: number): number[];
}

function checkOptions(opts: GenerateOptions, fn: string): void {
  if (!opts || typeof opts !== 'object') throw new TypeError(`${fn}: options must be an object with at least maxNewTokens`);
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 1)
    throw new RangeError(`${fn}: options.maxNewTokens must be an integer ≥ 1, got ${String(opts.maxNewTokens)}`);
  const g = opts.numGenerations ?? 1;
  if (!Number.isInteger(g) || g < 1) throw new RangeError(`${fn}: options.numGenerations must be an integer ≥ 1, got ${String(g)}`);
}

/**
 * Samples `numGenerations` completions for every prompt. `prompts` are examples (images + prompt
 * tokens) or an already packed batch (not disposed here).
 */
export function generate<S extends { readonly rows: number }>(model: DecodingModel<S>, prompts: readonly JudgeInput[] | ModelBatch, opts: GenerateOptions): GenerateResult {
  const fn = 'generate';
  checkOptions(opts, fn);
  const owned = Array.isArray(prompts);
  const batch = owned ? packBatch(prompts as readonly JudgeInput[], model.config, model.device) : (prompts as ModelBatch);
  const G = opts.numGenerations ?? 1;
  const maxNew = opts.maxNewTokens;
  const eos = new Set<number>(opts.eosId === undefined ? [] : typeof opts.eosId === 'number' ? [opts.eosId] : opts.eosId);
  for (const e of eos)
    if (!Number.isInteger(e) || e < 0 || e >= model.config.vocabSize)
      throw new RangeError(`${fn}: options.eosId ${e} is not a token id in 0..${model.config.vocabSize - 1}`);
  const fillId = eos.size > 0 ? [...eos][0]! : 0;
  const usesHistory =
    (opts.repetitionPenalty ?? 1) !== 1 || (opts.presencePenalty ?? 0) !== 0 || (opts.frequencyPenalty ?? 0) !== 0;
  const seed = opts.seed ?? 0;
  const offset = opts.offset ?? 0;

  let state;
  let logits: Tensor;
  try {
    ({ state, logits } = model.prefill(batch, { numGenerations: G, maxNewTokens: maxNew }));
  } finally {
    if (owned) disposeBatch(batch);
  }
  const N = state.rows;
  const tokens = new Int32Array(N * maxNew).fill(-1);
  const lp = new Float32Array(N * maxNew).fill(NaN);
  const rawLp = new Float32Array(N * maxNew).fill(NaN);
  const lengths = new Int32Array(N);
  const byEos = new Uint8Array(N);
  const done = new Uint8Array(N);
  let remaining = N;
  try {
    for (let step = 0; step < maxNew; step++) {
      let history: Tensor | undefined;
      if (usesHistory && step > 0) {
        // The sampler's penalties look at the tokens this completion has produced so far (−1 = none).
        const h = new Int32Array(N * step);
        for (let n = 0; n < N; n++) for (let s = 0; s < step; s++) h[n * step + s] = tokens[n * maxNew + s]!;
        history = Tensor.fromArray(h, [N, step], { dtype: 'i32', device: model.device });
      }
      const r = sampleTokens(logits, {
        temperature: opts.temperature ?? 1,
        topK: opts.topK ?? 0,
        topP: opts.topP ?? 1,
        minP: opts.minP ?? 0,
        repetitionPenalty: opts.repetitionPenalty ?? 1,
        presencePenalty: opts.presencePenalty ?? 0,
        frequencyPenalty: opts.frequencyPenalty ?? 0,
        history,
        seed,
        offset: offset + step,
      });
      history?.dispose();
      opts.onStep?.(step, logits, r.tokens);
      logits.dispose();
      const next = new Int32Array(N);
      for (let n = 0; n < N; n++) {
        if (done[n]) {
          next[n] = fillId;
          continue;
        }
        const t = r.tokens[n]!;
        tokens[n * maxNew + step] = t;
        lp[n * maxNew + step] = r.logprobs[n]!;
        rawLp[n * maxNew + step] = r.rawLogprobs[n]!;
        lengths[n]!++;
        next[n] = t;
        if (eos.has(t)) {
          done[n] = 1;
          byEos[n] = 1;
          remaining--;
        }
      }
      if (remaining === 0 || step === maxNew - 1) {
        logits = undefined as unknown as Tensor;
        break;
      }
      logits = model.decodeStep(state, next);
    }
  } finally {
    logits?.dispose();
    model.disposeState(state);
  }
  return {
    rows: N,
    numGenerations: G,
    maxNewTokens: maxNew,
    tokens,
    lengths,
    finishedByEos: byEos,
    logprobs: lp,
    rawLogprobs: rawLp,
    completion(n: number): number[] {
      if (!Number.isInteger(n) || n < 0 || n >= N) throw new RangeError(`completion: row ${n} is not in 0..${N - 1}`);
      return Array.from(tokens.subarray(n * maxNew, n * maxNew + lengths[n]!));
    },
  };
}
