// Batch packing for the JudgeModel: turns examples (1..maxImages RGB images + text token ids + an
// optional per-token loss mask) into the sequence layout the decoder reads, and keeps the index maps
// that forward/backward and the losses need.
//
// Sequence layout of row b (right-padded to the batch's longest row T):
//
//   [ image 0: P × <image> ][ image 1: P × <image> ] ... [ text token 0 ... text token L_b−1 ][ pad ]
//    textOffset[b] = nImages_b · P                        seqLength[b] = textOffset[b] + L_b
//
// Every image position holds the `<image>` token id (its learned embedding marks "this is an image
// token") and additionally receives that patch's vision features (which carry a learned per-patch
// position and per-image slot embedding, so the decoder can tell image A from image B in pairwise
// judging). RoPE positions are simply 0..T−1 along the row.
//
// Position t's hidden state predicts the token at t+1: `targets[b, t] = ids[b, t+1]`, and
// `lossMask[b, t]` is 1 when t+1 is a text position whose token is in the example's loss mask.
// This (B, T) "sequence layout" is what the policy-loss kernel, `model.logprobs` and
// `seqValues()` use, so per-token old/ref logprobs and advantages line up without reindexing.
import type { RgbImage } from '../data/types.js';
import { Tensor, type Device } from '../tensor.js';
import { numImageTokens, type JudgeModelConfig } from './config.js';

/** One example for the model: its images and its text tokens (prompt, or prompt + completion). */
export interface JudgeInput {
  /** 1..maxImages images (any size: resized to imageSize × imageSize by area averaging). */
  images: readonly RgbImage[];
  /** Text token ids, in order (no image placeholders: the model inserts those). */
  tokens: ArrayLike<number>;
  /**
   * Which text tokens are trained on / scored (1) or not (0), one entry per text token.
   * Default: every text token. For GRPO: 0 over the prompt, 1 over the completion.
   */
  lossMask?: ArrayLike<number>;
}

/** A packed batch on one device. Create with `packBatch` (or `model.batch(...)`); dispose when done. */
export interface ModelBatch {
  readonly batchSize: number;
  /** Longest row (the T of every (B, T) tensor). */
  readonly seqLen: number;
  readonly device: Device;
  /** (B, T) i32 token ids with `<image>` at image positions and 0 in padding. */
  readonly ids: Tensor;
  /** (B,) i32 valid length of each row (image tokens + text tokens). */
  readonly seqLengths: Tensor;
  /** Host copies of the per-row lengths and text offsets. */
  readonly seqLengthsHost: Int32Array;
  readonly textOffsets: Int32Array;
  readonly textLengths: Int32Array;
  /** Number of images of each row. */
  readonly imageCounts: Int32Array;
  /** (nImages, imageSize, imageSize, channels) u8 pixels of every image, row by row. */
  readonly pixels: Tensor;
  /** (nImages · P,) i32: flat sequence index (b·T + t) that each image token's features are added at. */
  readonly imagePositions: Tensor;
  /** (nImages · P,) i32: index of each image token's patch (0..P−1), for the patch position embedding. */
  readonly patchIndex: Tensor;
  /** (nImages · P,) i32: image slot of each image token (0 = first image of its example). */
  readonly slotIndex: Tensor;
  /** (B, T) i32 next-token targets (0 where there is none). */
  readonly targets: Tensor;
  /** (B, T) f32 1 where the target at t is a scored text token, else 0. */
  readonly lossMask: Tensor;
  /** Number of scored tokens (sum of lossMask). */
  readonly numLossTokens: number;
  /** Host copy of lossMask. */
  readonly lossMaskHost: Float32Array;
}

/**
 * Resizes an 8-bit RGB(…) image to size × size by area averaging (each output pixel is the
 * coverage-weighted mean of the source pixels under it), which is alias-free when shrinking and
 * nearest-like when enlarging. Returns the input itself when it already has the size.
 */
export function resizeImage(img: RgbImage, size: number, channels = 3): RgbImage {
  if (img.width === size && img.height === size) return img;
  const out = new Uint8Array(size * size * channels);
  const sx = img.width / size;
  const sy = img.height / size;
  const acc = new Float64Array(channels);
  for (let oy = 0; oy < size; oy++) {
    const y0 = oy * sy;
    const y1 = y0 + sy;
    for (let ox = 0; ox < size; ox++) {
      const x0 = ox * sx;
      const x1 = x0 + sx;
      acc.fill(0);
      let wsum = 0;
      for (let iy = Math.floor(y0); iy < Math.min(img.height, Math.ceil(y1)); iy++) {
        const wy = Math.min(y1, iy + 1) - Math.max(y0, iy);
        if (wy <= 0) continue;
        for (let ix = Math.floor(x0); ix < Math.min(img.width, Math.ceil(x1)); ix++) {
          const wx = Math.min(x1, ix + 1) - Math.max(x0, ix);
          if (wx <= 0) continue;
          const w = wx * wy;
          const base = (iy * img.width + ix) * channels;
          for (let c = 0; c < channels; c++) acc[c]! += w * img.data[base + c]!;
          wsum += w;
        }
      }
      const o = (oy * size + ox) * channels;
      for (let c = 0; c < channels; c++) out[o + c] = Math.min(255, Math.max(0, Math.round(acc[c]! / wsum)));
    }
  }
  return { width: size, height: size, data: out };
}

function checkImage(img: unknown, channels: number, fn: string, where: string): RgbImage {
  const im = img as RgbImage;
  if (!im || typeof im !== 'object' || !(im.data instanceof Uint8Array))
    throw new TypeError(`${fn}: ${where} must be an RgbImage {width, height, data: Uint8Array}`);
  if (!Number.isInteger(im.width) || !Number.isInteger(im.height) || im.width < 1 || im.height < 1)
    throw new RangeError(`${fn}: ${where} has invalid size ${im.width}×${im.height}`);
  if (im.data.length !== im.width * im.height * channels)
    throw new RangeError(
      `${fn}: ${where}.data has ${im.data.length} bytes but ${im.width}×${im.height}×${channels} needs ${im.width * im.height * channels}`,
    );
  return im;
}

/** Packs examples into a ModelBatch on `device` (see the layout at the top of this file). */
export function packBatch(inputs: readonly JudgeInput[], config: JudgeModelConfig, device: Device = 'cpu'): ModelBatch {
  const fn = 'packBatch';
  if (!Array.isArray(inputs)) throw new TypeError(`${fn}: inputs must be an array of {images, tokens, lossMask?}`);
  if (inputs.length === 0) throw new RangeError(`${fn}: inputs must hold at least one example`);
  const P = numImageTokens(config);
  const B = inputs.length;
  const textOffsets = new Int32Array(B);
  const textLengths = new Int32Array(B);
  const seqLengthsHost = new Int32Array(B);
  const imageCounts = new Int32Array(B);
  let nImages = 0;
  inputs.forEach((ex, b) => {
    if (!ex || typeof ex !== 'object') throw new TypeError(`${fn}: inputs[${b}] must be an object {images, tokens, lossMask?}`);
    if (!Array.isArray(ex.images)) throw new TypeError(`${fn}: inputs[${b}].images must be an array of RgbImage`);
    if (ex.images.length < 1 || ex.images.length > config.maxImages)
      throw new RangeError(`${fn}: inputs[${b}].images has ${ex.images.length} images; expected 1..${config.maxImages} (config.maxImages)`);
    const toks = ex.tokens;
    if (!toks || typeof toks !== 'object' || typeof toks.length !== 'number')
      throw new TypeError(`${fn}: inputs[${b}].tokens must be an array of token ids`);
    for (let j = 0; j < toks.length; j++) {
      const t = toks[j]!;
      if (!Number.isInteger(t) || t < 0 || t >= config.vocabSize)
        throw new RangeError(`${fn}: inputs[${b}].tokens[${j}] = ${t} is not a token id in 0..${config.vocabSize - 1}`);
    }
    if (toks.length < 1) throw new RangeError(`${fn}: inputs[${b}].tokens must hold at least one token`);
    if (ex.lossMask !== undefined && ex.lossMask.length !== toks.length)
      throw new RangeError(`${fn}: inputs[${b}].lossMask has ${ex.lossMask.length} entries but tokens has ${toks.length}`);
    imageCounts[b] = ex.images.length;
    textOffsets[b] = ex.images.length * P;
    textLengths[b] = toks.length;
    seqLengthsHost[b] = textOffsets[b]! + toks.length;
    if (seqLengthsHost[b]! > config.maxSeqLen)
      throw new RangeError(
        `${fn}: inputs[${b}] needs ${seqLengthsHost[b]} positions (${ex.images.length}×${P} image + ${toks.length} text) but config.maxSeqLen is ${config.maxSeqLen}`,
      );
    nImages += ex.images.length;
  });
  const T = Math.max(...seqLengthsHost);
  const S = config.imageSize;
  const C = config.channels;
  const ids = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  const pixels = new Uint8Array(nImages * S * S * C);
  const imagePositions = new Int32Array(nImages * P);
  const patchIndex = new Int32Array(nImages * P);
  const slotIndex = new Int32Array(nImages * P);
  let g = 0;
  let numLoss = 0;
  inputs.forEach((ex, b) => {
    ex.images.forEach((im: RgbImage, i: number) => {
      const img = resizeImage(checkImage(im, C, fn, `inputs[${b}].images[${i}]`), S, C);
      pixels.set(img.data, g * S * S * C);
      for (let p = 0; p < P; p++) {
        const t = i * P + p;
        ids[b * T + t] = config.imageTokenId;
        imagePositions[g * P + p] = b * T + t;
        patchIndex[g * P + p] = p;
        slotIndex[g * P + p] = i;
      }
      g++;
    });
    const off = textOffsets[b]!;
    for (let j = 0; j < ex.tokens.length; j++) ids[b * T + off + j] = ex.tokens[j]!;
    for (let t = 0; t + 1 < seqLengthsHost[b]!; t++) {
      targets[b * T + t] = ids[b * T + t + 1]!;
      const j = t + 1 - off;
      if (j >= 0) {
        const m = ex.lossMask === undefined ? 1 : Number(ex.lossMask[j]);
        if (!Number.isFinite(m) || m < 0) throw new RangeError(`${fn}: inputs[${b}].lossMask[${j}] must be a finite number ≥ 0, got ${m}`);
        mask[b * T + t] = m;
        numLoss += m !== 0 ? 1 : 0;
      }
    }
  });
  const lossMaskHost = mask;
  return {
    batchSize: B,
    seqLen: T,
    device,
    ids: Tensor.fromArray(ids, [B, T], { dtype: 'i32', device }),
    seqLengths: Tensor.fromArray(seqLengthsHost, [B], { dtype: 'i32', device }),
    seqLengthsHost,
    textOffsets,
    textLengths,
    imageCounts,
    pixels: Tensor.fromArray(pixels, [nImages, S, S, C], { dtype: 'u8', device }),
    imagePositions: Tensor.fromArray(imagePositions, [nImages * P], { dtype: 'i32', device }),
    patchIndex: Tensor.fromArray(patchIndex, [nImages * P], { dtype: 'i32', device }),
    slotIndex: Tensor.fromArray(slotIndex, [nImages * P], { dtype: 'i32', device }),
    targets: Tensor.fromArray(targets, [B, T], { dtype: 'i32', device }),
    lossMask: Tensor.fromArray(mask, [B, T], { dtype: 'f32', device }),
    numLossTokens: numLoss,
    lossMaskHost,
  };
}

/** Frees a batch's tensors. */
export function disposeBatch(batch: ModelBatch): void {
  for (const t of [batch.ids, batch.seqLengths, batch.pixels, batch.imagePositions, batch.patchIndex, batch.slotIndex, batch.targets, batch.lossMask])
    t.dispose();
}

/**
 * Places per-text-token values (row b: one value per text token, or fewer) into the (B, T) sequence
 * layout: the value of text token j goes to position textOffset[b] + j − 1 (the position whose hidden
 * state predicts it). Positions with no value get `fill`. Use it for per-token advantages or for
 * old/ref logprobs computed elsewhere.
 */
export function seqValues(batch: ModelBatch, values: ReadonlyArray<ArrayLike<number>>, fill = 0): Tensor {
  const fn = 'seqValues';
  if (!Array.isArray(values) || values.length !== batch.batchSize)
    throw new RangeError(`${fn}: values must be an array with one entry per row (${batch.batchSize})`);
  const T = batch.seqLen;
  const out = new Float32Array(batch.batchSize * T).fill(fill);
  values.forEach((row, b) => {
    const off = batch.textOffsets[b]!;
    if (row.length > batch.textLengths[b]!)
      throw new RangeError(`${fn}: values[${b}] has ${row.length} entries but row ${b} has ${batch.textLengths[b]} text tokens`);
    for (let j = 0; j < row.length; j++) {
      const t = off + j - 1;
      if (t >= 0) out[b * T + t] = row[j]!;
    }
  });
  return Tensor.fromArray(out, [batch.batchSize, T], { device: batch.device });
}

/** The inverse of seqValues: per-text-token values of a (B, T) sequence-layout array (token 0 gets NaN: nothing predicts it from text). */
export function textValues(batch: ModelBatch, seq: ArrayLike<number>): Float32Array[] {
  const T = batch.seqLen;
  if (seq.length !== batch.batchSize * T)
    throw new RangeError(`textValues: seq has ${seq.length} entries but the batch is (${batch.batchSize}, ${T})`);
  const rows: Float32Array[] = [];
  for (let b = 0; b < batch.batchSize; b++) {
    const off = batch.textOffsets[b]!;
    const r = new Float32Array(batch.textLengths[b]!);
    for (let j = 0; j < r.length; j++) {
      const t = off + j - 1;
      r[j] = t >= 0 ? seq[b * T + t]! : NaN;
    }
    rows.push(r);
  }
  return rows;
}
