// JudgeModel configuration: the sizes of the vision front end and the decoder-only LM, their
// validation (clear errors naming the field), derived quantities, and the named presets.
// A config is plain JSON (it is saved as config.json in checkpoints), so every field is a number or
// a boolean and nothing in it depends on the device.

export interface JudgeModelConfig {
  /** Side of the square input image in pixels (images are resized to imageSize × imageSize). */
  imageSize: number;
  /** Side of a square patch; imageSize must be a multiple of it. One patch = one image token. */
  patchSize: number;
  /**
   * Side of the pixel window one image token reads, centred on its patch (≥ patchSize, differing from
   * it by an even number). patchSize = plain non-overlapping patches; a wider window (8 over 4×4
   * patches) lets one token see a whole small object, at the cost of a wider patch projection only.
   * Configs saved before this field existed load with patchWindow = patchSize.
   */
  patchWindow: number;
  /** Colour channels of the input images (3 for RGB). */
  channels: number;
  /**
   * Bidirectional transformer layers run over each image's patches before they reach the decoder.
   * 0 = patches are projected straight into the decoder's embedding space (Fuyu-style).
   */
  visionLayers: number;
  /** Width of the vision encoder (ignored when visionLayers = 0: the patch projection goes to dModel). */
  visionDim: number;
  /** Attention heads of the vision encoder (visionDim / visionHeads is its head size). */
  visionHeads: number;
  /** Hidden size of the vision encoder's MLP. */
  visionFF: number;
  /** Most images one example may carry (pairwise judging needs 2). */
  maxImages: number;
  /** Decoder width. */
  dModel: number;
  /** Decoder layers. */
  nLayers: number;
  /** Query heads; dModel / nHeads is the head size. */
  nHeads: number;
  /** Key/value heads (grouped-query attention); must divide nHeads. */
  nKvHeads: number;
  /** Hidden size of the SwiGLU MLP. */
  dFF: number;
  /** Tokenizer vocabulary size (rows of the embedding and of the LM head). */
  vocabSize: number;
  /** Longest sequence (image tokens + text tokens + generated tokens) the model accepts. */
  maxSeqLen: number;
  /** The LM head reuses the token embedding matrix. */
  tieEmbeddings: boolean;
  /** RoPE base frequency θ. */
  ropeBase: number;
  /** RMSNorm epsilon. */
  normEps: number;
  /** Token id of `<image>`: the placeholder that marks image positions in the sequence. */
  imageTokenId: number;
  /** Standard deviation of the normal initialisation of weight matrices and embeddings. */
  initStd: number;
}

const INT_FIELDS = [
  'imageSize',
  'patchSize',
  'patchWindow',
  'channels',
  'visionLayers',
  'visionDim',
  'visionHeads',
  'visionFF',
  'maxImages',
  'dModel',
  'nLayers',
  'nHeads',
  'nKvHeads',
  'dFF',
  'vocabSize',
  'maxSeqLen',
  'imageTokenId',
] as const;

/**
 * Upper bound of every integer field. They are far above anything this package trains (the "small"
 * preset is 384 wide, 8 layers), but low enough that a hostile or mistyped config.json (nLayers: 1e6)
 * is refused before a byte is allocated instead of allocating gigabytes and failing later.
 */
export const CONFIG_LIMITS: Readonly<Record<(typeof INT_FIELDS)[number], number>> = Object.freeze({
  imageSize: 4096,
  patchSize: 4096,
  patchWindow: 4096,
  channels: 4,
  visionLayers: 256,
  visionDim: 65536,
  visionHeads: 1024,
  visionFF: 262144,
  maxImages: 64,
  dModel: 65536,
  nLayers: 1024,
  nHeads: 1024,
  nKvHeads: 1024,
  dFF: 262144,
  vocabSize: 1 << 22,
  maxSeqLen: 1 << 20,
  imageTokenId: (1 << 22) - 1,
});

/** Most parameters a config may describe (2^32: 16 GiB of f32 weights). */
export const MAX_PARAMETERS = 2 ** 32;
/** Most elements of one weight matrix (2^31 − 1: the kernels index a tensor with 32-bit integers). */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

/** Defaults for fields a caller may leave out (the sizes themselves must be given or come from a preset). */
const DEFAULTS: Pick<
  JudgeModelConfig,
  'channels' | 'visionLayers' | 'maxImages' | 'tieEmbeddings' | 'ropeBase' | 'normEps' | 'initStd'
> = {
  channels: 3,
  visionLayers: 0,
  maxImages: 2,
  tieEmbeddings: true,
  ropeBase: 10000,
  normEps: 1e-5,
  initStd: 0.02,
};

/**
 * The default "tiny" judge: 32×32 RGB images in 4×4 patches (64 image tokens per image), a 4-layer
 * 128-wide decoder with 4 query / 2 key-value heads. About 1.0M parameters with a 1536-token vocabulary,
 * sized so a GRPO step on 16 prompts × 8 completions takes seconds on two CPU cores.
 * `vocabSize` and `imageTokenId` normally come from the tokenizer (see `configFor`).
 */
export const TINY_CONFIG: Readonly<JudgeModelConfig> = Object.freeze({
  imageSize: 32,
  patchSize: 4,
  patchWindow: 4,
  channels: 3,
  visionLayers: 0,
  visionDim: 128,
  visionHeads: 4,
  visionFF: 256,
  maxImages: 2,
  dModel: 128,
  nLayers: 4,
  nHeads: 4,
  nKvHeads: 2,
  dFF: 384,
  vocabSize: 1536,
  maxSeqLen: 256,
  tieEmbeddings: true,
  ropeBase: 10000,
  normEps: 1e-5,
  imageTokenId: 3,
  initStd: 0.02,
});

/** A bigger preset with a 2-layer vision encoder, for GPU runs. */
export const SMALL_CONFIG: Readonly<JudgeModelConfig> = Object.freeze({
  imageSize: 64,
  patchSize: 8,
  patchWindow: 8,
  channels: 3,
  visionLayers: 2,
  visionDim: 256,
  visionHeads: 4,
  visionFF: 768,
  maxImages: 2,
  dModel: 384,
  nLayers: 8,
  nHeads: 6,
  nKvHeads: 2,
  dFF: 1024,
  vocabSize: 4096,
  maxSeqLen: 512,
  tieEmbeddings: true,
  ropeBase: 10000,
  normEps: 1e-5,
  imageTokenId: 3,
  initStd: 0.02,
});

export const PRESETS: Readonly<Record<string, Readonly<JudgeModelConfig>>> = Object.freeze({
  tiny: TINY_CONFIG,
  small: SMALL_CONFIG,
});

export type PresetName = 'tiny' | 'small';

/**
 * Completes and validates a config: `base` is a preset name or a full config, `overrides` replaces
 * fields. Throws TypeError/RangeError naming the field and what was expected.
 */
export function makeConfig(
  base: PresetName | Partial<JudgeModelConfig> = 'tiny',
  overrides: Partial<JudgeModelConfig> = {},
): JudgeModelConfig {
  let start: Partial<JudgeModelConfig>;
  if (typeof base === 'string') {
    const p = PRESETS[base];
    if (!p) throw new RangeError(`makeConfig: unknown preset ${JSON.stringify(base)}; expected one of ${Object.keys(PRESETS).join(', ')}`);
    start = p;
  } else if (base && typeof base === 'object') {
    start = base;
  } else {
    throw new TypeError(`makeConfig: base must be a preset name or a config object, got ${base === null ? 'null' : typeof base}`);
  }
  const merged: Partial<JudgeModelConfig> = { ...DEFAULTS, ...start, ...overrides };
  // A new patchSize without a window of its own gets plain patches (not the preset's window).
  if (overrides.patchWindow === undefined && (overrides.patchSize !== undefined || start.patchWindow === undefined)) merged.patchWindow = merged.patchSize;
  if (merged.visionDim === undefined) merged.visionDim = merged.dModel;
  if (merged.visionHeads === undefined) merged.visionHeads = merged.nHeads;
  if (merged.visionFF === undefined && merged.visionDim !== undefined) merged.visionFF = 2 * merged.visionDim;
  return validateConfig(merged, 'makeConfig');
}

/** Checks every field of a config (e.g. one read from config.json) and returns it typed. */
export function validateConfig(cfg: unknown, fn = 'validateConfig'): JudgeModelConfig {
  if (!cfg || typeof cfg !== 'object' || Array.isArray(cfg))
    throw new TypeError(`${fn}: config must be an object, got ${cfg === null ? 'null' : Array.isArray(cfg) ? 'array' : typeof cfg}`);
  const c = { ...(cfg as Record<string, unknown>) };
  if (c.patchWindow === undefined) c.patchWindow = c.patchSize; // config.json written before the field existed
  for (const k of INT_FIELDS) {
    const v = c[k];
    if (typeof v !== 'number') throw new TypeError(`${fn}: config.${k} must be an integer, got ${v === undefined ? 'undefined' : typeof v}`);
    const min = k === 'visionLayers' || k === 'imageTokenId' ? 0 : 1;
    const max = CONFIG_LIMITS[k];
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${fn}: config.${k} must be an integer in [${min}, ${max}], got ${v}`);
  }
  for (const k of ['ropeBase', 'normEps', 'initStd'] as const) {
    const v = c[k];
    if (typeof v !== 'number') throw new TypeError(`${fn}: config.${k} must be a number, got ${typeof v}`);
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${fn}: config.${k} must be a positive finite number, got ${v}`);
  }
  if (typeof c.tieEmbeddings !== 'boolean') throw new TypeError(`${fn}: config.tieEmbeddings must be a boolean, got ${typeof c.tieEmbeddings}`);
  const k = c as unknown as JudgeModelConfig;
  const need = (ok: boolean, msg: string) => {
    if (!ok) throw new RangeError(`${fn}: ${msg}`);
  };
  need(k.imageSize % k.patchSize === 0, `config.imageSize (${k.imageSize}) must be a multiple of config.patchSize (${k.patchSize})`);
  need(
    k.patchWindow >= k.patchSize && (k.patchWindow - k.patchSize) % 2 === 0,
    `config.patchWindow (${k.patchWindow}) must be ≥ config.patchSize (${k.patchSize}) and differ from it by an even number (the window is centred on the patch)`,
  );
  need(k.dModel % k.nHeads === 0, `config.dModel (${k.dModel}) must be a multiple of config.nHeads (${k.nHeads})`);
  need(k.nHeads % k.nKvHeads === 0, `config.nHeads (${k.nHeads}) must be a multiple of config.nKvHeads (${k.nKvHeads})`);
  need((k.dModel / k.nHeads) % 2 === 0, `the head size config.dModel / config.nHeads (${k.dModel / k.nHeads}) must be even for RoPE`);
  if (k.visionLayers > 0)
    need(k.visionDim % k.visionHeads === 0, `config.visionDim (${k.visionDim}) must be a multiple of config.visionHeads (${k.visionHeads})`);
  need(k.imageTokenId < k.vocabSize, `config.imageTokenId (${k.imageTokenId}) must be < config.vocabSize (${k.vocabSize})`);
  const img = numImageTokens(k);
  need(
    k.maxSeqLen > img,
    `config.maxSeqLen (${k.maxSeqLen}) must exceed the ${img} tokens of one image (imageSize/patchSize)²`,
  );
  const vw = visionWidth(k);
  const biggest = Math.max(k.vocabSize * k.dModel, k.dFF * k.dModel, k.nHeads * (k.dModel / k.nHeads) * k.dModel, img * vw, vw * patchDim(k), k.visionFF * vw, vw * vw);
  need(biggest <= MAX_TENSOR_ELEMENTS, `the config's largest weight matrix has ${biggest} elements, more than the limit of ${MAX_TENSOR_ELEMENTS}`);
  const params = countParameters(k);
  need(params <= MAX_PARAMETERS, `the config describes ${params} parameters, more than the limit of ${MAX_PARAMETERS}`);
  // Keep only known fields so a saved config.json holds exactly the schema.
  const out = {} as Record<string, unknown>;
  for (const f of [...INT_FIELDS, 'ropeBase', 'normEps', 'initStd', 'tieEmbeddings'] as const) out[f] = c[f];
  return out as unknown as JudgeModelConfig;
}

/** Image tokens per image: (imageSize / patchSize)². */
export function numImageTokens(c: Pick<JudgeModelConfig, 'imageSize' | 'patchSize'>): number {
  const g = c.imageSize / c.patchSize;
  return g * g;
}

/** Values in one patch vector: patchWindow² · channels (patchSize² · channels for plain patches). */
export function patchDim(c: Pick<JudgeModelConfig, 'patchSize' | 'channels'> & { patchWindow?: number }): number {
  const k = c.patchWindow ?? c.patchSize;
  return k * k * c.channels;
}

/** Width of the vectors the patch projection produces (the vision encoder's width, or dModel). */
export function visionWidth(c: JudgeModelConfig): number {
  return c.visionLayers > 0 ? c.visionDim : c.dModel;
}

/** Decoder head size. */
export function headDim(c: JudgeModelConfig): number {
  return c.dModel / c.nHeads;
}

/** Parameter count for a config without building the model. */
export function countParameters(c: JudgeModelConfig): number {
  const d = c.dModel;
  const hd = headDim(c);
  const vw = visionWidth(c);
  const P = numImageTokens(c);
  let n = vw * patchDim(c) + P * vw + c.maxImages * d; // patch projection, patch positions, image slots
  if (c.visionLayers > 0) {
    const vb = 2 * vw + 4 * vw * vw + 3 * vw * c.visionFF;
    n += c.visionLayers * vb + vw + d * vw; // blocks, final norm, projector
  }
  const block = 2 * d + d * c.nHeads * hd * 2 + d * c.nKvHeads * hd * 2 + 3 * d * c.dFF;
  n += c.nLayers * block + d + c.vocabSize * d;
  if (!c.tieEmbeddings) n += c.vocabSize * d;
  return n;
}

/** `base` with vocabSize and imageTokenId taken from a tokenizer (anything with vocabSize and imageId). */
export function configFor(
  tokenizer: { readonly vocabSize: number; readonly imageId: number },
  base: PresetName | Partial<JudgeModelConfig> = 'tiny',
  overrides: Partial<JudgeModelConfig> = {},
): JudgeModelConfig {
  return makeConfig(base, { vocabSize: tokenizer.vocabSize, imageTokenId: tokenizer.imageId, ...overrides });
}
