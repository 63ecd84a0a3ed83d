// The native addon's interface, in one place: the tensor handle, the core every build exports, and
// each kernel family's entry points (argument objects and results as they cross Node-API). The typed
// facades in lib/kernels/ and lib/ops.ts are the public API over these; lib/native.ts loads the addon.

/** The opaque native handle behind a Tensor. */
export interface NativeTensorHandle {
  shape(): number[];
  dtype(): string;
  device(): string;
  view(): ArrayBuffer;
  copyOut(): ArrayBuffer;
  dispose(): void;
  isDisposed(): boolean;
  sameStorage(other: NativeTensorHandle): boolean;
}

export interface NativeMemoryStats {
  device: string;
  liveTensors: number;
  liveBytes: number;
  peakBytes: number;
}

/** The functions every build of the addon exports (the kernel families below add their own). */
export interface NativeCore {
  NativeTensor: new () => NativeTensorHandle;
  empty(shape: readonly number[], dtype: string, device: string): NativeTensorHandle;
  fromTypedArray(data: ArrayBufferView, shape: readonly number[], dtype: string, device: string): NativeTensorHandle;
  fill(t: NativeTensorHandle, value: number): void;
  randn(t: NativeTensorHandle, seed: number, mean: number, std: number): void;
  add(a: NativeTensorHandle, b: NativeTensorHandle, out?: NativeTensorHandle): NativeTensorHandle;
  sub(a: NativeTensorHandle, b: NativeTensorHandle, out?: NativeTensorHandle): NativeTensorHandle;
  mul(a: NativeTensorHandle, b: NativeTensorHandle, out?: NativeTensorHandle): NativeTensorHandle;
  scale(a: NativeTensorHandle, alpha: number, beta: number, out?: NativeTensorHandle): NativeTensorHandle;
  copy(src: NativeTensorHandle, dst: NativeTensorHandle): void;
  toDevice(t: NativeTensorHandle, device: string): NativeTensorHandle;
  reshape(t: NativeTensorHandle, shape: readonly number[]): NativeTensorHandle;
  cast(t: NativeTensorHandle, dtype: string): NativeTensorHandle;
  matmulReference(
    a: NativeTensorHandle,
    b: NativeTensorHandle,
    out: NativeTensorHandle | undefined,
    opts: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number },
  ): NativeTensorHandle;
  memoryStats(): NativeMemoryStats[];
  cudaAvailable(): { available: boolean; compiled: boolean; deviceCount: number; reason: string };
  cudaDevices(): Array<{
    id: string;
    name: string;
    totalMemory: number;
    freeMemory: number;
    computeCapability: string;
    multiprocessors: number;
  }>;
  synchronize(device: string): void;
  buildInfo(): { simd: string; threads: number; cuda: boolean; openmp: boolean; buildSystem: string };
  setSimdLevel(level: 'scalar' | 'avx2' | 'avx512'): string;
  /** Shortest row whose first sampling pass is split over the threads when B < threads; returns the previous value (tests, benchmarks). */
  setSamplingSplitMinVocab(minVocab: number): number;
}

// ---------------------------------------------------------------------------------------------
// attention

export interface AttentionNativeOptions {
  causal?: boolean;
  scale?: number;
  kvLengths?: NativeTensorHandle;
  qLengths?: NativeTensorHandle;
}

type H = NativeTensorHandle;

/** Fused or naive attention forward: (q, k, v) → out and the log-sum-exp. */
type AttentionForwardNative = (q: H, k: H, v: H, opts: AttentionNativeOptions) => { out: H; lse: H };
/** Fused or naive attention backward from (dOut, q, k, v, out, lse). */
type AttentionBackwardNative = (dOut: H, q: H, k: H, v: H, out: H, lse: H, opts: AttentionNativeOptions) => { dq: H; dk: H; dv: H };

export interface AttentionNative {
  attentionForward: AttentionForwardNative;
  attentionBackward: AttentionBackwardNative;
  attentionNaiveForward: AttentionForwardNative;
  attentionNaiveBackward: AttentionBackwardNative;
  attentionDecode(q: H, kCache: H, vCache: H, cacheLengths: H, kNew: H, vNew: H, opts: { scale?: number }): H;
}

// ---------------------------------------------------------------------------------------------
// gemm

export interface GemmNative {
  matmul(
    a: NativeTensorHandle,
    b: NativeTensorHandle,
    out: NativeTensorHandle | undefined,
    opts: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number },
  ): NativeTensorHandle;
  gemmKernelName(): string;
}

// ---------------------------------------------------------------------------------------------
// model-ops

type Opts = Record<string, unknown>;

export interface ModelOpsNative {
  rmsnormForward(x: H, w: H, o: Opts): { y: H; rstd: H };
  rmsnormBackward(dy: H, x: H, w: H, rstd: H, o: Opts): { dx: H; dw: H };
  layernormForward(x: H, w: H, b: H, o: Opts): { y: H; mean: H; rstd: H };
  layernormBackward(dy: H, x: H, w: H, mean: H, rstd: H, o: Opts): { dx: H; dw: H; db: H };
  rope(x: H, positions: H, o: Opts): H;
  swigluForward(gate: H, up: H, o: Opts): H;
  swigluBackward(dout: H, gate: H, up: H, o: Opts): { dgate: H; dup: H };
  geluForward(x: H, o: Opts): H;
  geluBackward(dout: H, x: H, o: Opts): H;
  addInPlace(a: H, b: H, alpha: number): H;
  addBias(x: H, bias: H): H;
  sumRows(x: H, o: Opts): H;
  embeddingForward(ids: H, table: H, o: Opts): H;
  embeddingBackward(dout: H, ids: H, o: Opts): H;
  patchEmbed(image: H, o: Opts): H;
  patchEmbedBackward(dpatches: H, imageShape: readonly number[], o: Opts): H;
  adamwStep(param: H, grad: H, m: H, v: H, o: Opts): void;
  sumSquares(x: H): number;
  gradNorm(tensors: H[]): number;
  clipGradNorm(tensors: H[], maxNorm: number): number;
}

// ---------------------------------------------------------------------------------------------
// policy-loss

export interface PolicyLossMetrics {
  /** Token mean of the KL estimate over counted tokens (0 without `refLogprobs`). */
  kl: number;
  /** Fraction of counted tokens with c1 < 1 − ε and A < 0. */
  clipLow: number;
  /** Fraction of counted tokens with c1 > 1 + ε_high and A > 0. */
  clipHigh: number;
  /** Fraction with either. */
  clipRegion: number;
  /** Token mean of the importance ratio r (1 for `'nll'`). */
  ratio: number;
  /** Token mean of the policy's entropy H (at temperature τ). */
  entropy: number;
  /** Token mean of −lp. */
  nll: number;
  /** Number of counted tokens n. */
  tokens: number;
}

export interface PolicyLossNative {
  policyLossLogits(logits: NativeTensorHandle, batch: NativeBatch, opts: object): PolicyLossNativeResult;
  policyLossLinear(hidden: NativeTensorHandle, weight: NativeTensorHandle, batch: NativeBatch, opts: object): PolicyLossNativeResult;
  policyLossUnfused(hidden: NativeTensorHandle, weight: NativeTensorHandle, batch: NativeBatch, opts: object): PolicyLossNativeResult;
  tokenLogprobsLogits(
    logits: NativeTensorHandle,
    tokens: NativeTensorHandle,
    mask: NativeTensorHandle | undefined,
    opts: object,
  ): { logprobs: NativeTensorHandle; entropy?: NativeTensorHandle };
  tokenLogprobsLinear(
    hidden: NativeTensorHandle,
    weight: NativeTensorHandle,
    tokens: NativeTensorHandle,
    mask: NativeTensorHandle | undefined,
    opts: object,
  ): { logprobs: NativeTensorHandle; entropy?: NativeTensorHandle };
}
export interface NativeBatch {
  tokens: NativeTensorHandle;
  mask: NativeTensorHandle;
  advantages?: NativeTensorHandle;
  oldLogprobs?: NativeTensorHandle;
  refLogprobs?: NativeTensorHandle;
}
export interface PolicyLossNativeResult {
  loss: number;
  metrics: PolicyLossMetrics;
  logprobs: NativeTensorHandle;
  grads: { logits?: NativeTensorHandle; hidden?: NativeTensorHandle; weight?: NativeTensorHandle };
}

// ---------------------------------------------------------------------------------------------
// sampling

/** A per-row option: one number for every row, or one number per row. */
export type PerRow = number | readonly number[] | Float32Array | Float64Array | Int32Array;

export interface SampleResult {
  /** The drawn token of each row (B). */
  tokens: Int32Array;
  /** log p(token) under the final processed distribution (after penalties, temperature, top-k, top-p, min-p; 0 when greedy). */
  logprobs: Float32Array;
  /** log p(token) under log_softmax(logits) of the raw, unprocessed logits. */
  rawLogprobs: Float32Array;
}

/** sampleTokens' options as the addon reads them (SampleOptions of lib/kernels/sampling.ts, history as a handle). */
export interface NativeSampleOptions {
  [option: string]: PerRow | NativeTensorHandle | undefined;
  history?: NativeTensorHandle;
}

export interface SamplingNative {
  sampleTokens(logits: NativeTensorHandle, opts: NativeSampleOptions): SampleResult;
  sampleTokensSortReference(logits: NativeTensorHandle, opts: NativeSampleOptions): SampleResult;
  logSoftmax(logits: NativeTensorHandle): NativeTensorHandle;
  gatherLogprobs(logits: NativeTensorHandle, tokens: Int32Array | readonly number[] | NativeTensorHandle): Float32Array;
}

/** Everything the addon exports. */
export type NativeAddon = NativeCore & AttentionNative & GemmNative & ModelOpsNative & PolicyLossNative & SamplingNative;
