// JudgeModel configuration, batch packing (sequence layout, index maps, targets and loss mask),
// image resizing and learning-rate schedules: the model's plumbing that involves no kernels.
import { describe, expect, it } from 'vitest';
import { countParameters, makeConfig, numImageTokens, validateConfig, TINY_CONFIG } from '../lib/model/config.js';
import { disposeBatch, packBatch, resizeImage, seqValues, textValues } from '../lib/model/batch.js';
import { learningRate } from '../lib/model/optimizer.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import type { RgbImage } from '../lib/data/types.js';

function image(size: number, seed: number): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + seed * 101) % 256;
  return { width: size, height: size, data };
}

describe('config', () => {
  it('tiny preset is valid and small', () => {
    const c = makeConfig('tiny');
    expect(c).toEqual(validateConfig({ ...TINY_CONFIG }));
    expect(numImageTokens(c)).toBe(64);
    const n = countParameters(c);
    expect(n).toBeGreaterThan(500_000);
    expect(n).toBeLessThan(2_000_000);
  });

  it('rejects inconsistent sizes with errors naming the field', () => {
    expect(() => makeConfig('tiny', { patchSize: 5 })).toThrow(/imageSize \(32\) must be a multiple of config.patchSize/);
    expect(() => makeConfig('tiny', { nKvHeads: 3 })).toThrow(/nHeads \(4\) must be a multiple of config.nKvHeads \(3\)/);
    expect(() => makeConfig('tiny', { dModel: 130 })).toThrow(RangeError);
    expect(() => makeConfig('tiny', { imageTokenId: 99999 })).toThrow(/imageTokenId/);
    expect(() => makeConfig('tiny', { maxSeqLen: 10 })).toThrow(/maxSeqLen/);
    expect(() => validateConfig({ ...TINY_CONFIG, nLayers: 'four' })).toThrow(/config.nLayers must be an integer/);
    expect(() => validateConfig({ ...TINY_CONFIG, tieEmbeddings: 1 })).toThrow(TypeError);
    expect(() => makeConfig('huge' as never)).toThrow(/unknown preset "huge"/);
  });

  it('countParameters agrees with the built model for every layout', () => {
    for (const over of [{}, { visionLayers: 2, visionDim: 64, visionHeads: 2, visionFF: 96 }, { tieEmbeddings: false, nKvHeads: 1 }]) {
      const c = makeConfig('tiny', { vocabSize: 300, dModel: 64, dFF: 96, ...over });
      const m = new JudgeModel(c);
      expect(m.numParameters()).toBe(countParameters(c));
      m.dispose();
    }
  });

  it('patchWindow: defaults to patchSize (also for config.json written before the field), widens the patch projection, is checked', () => {
    const { patchWindow: _omit, ...old } = TINY_CONFIG;
    expect(validateConfig(old).patchWindow).toBe(4);
    expect(makeConfig('tiny', { imageSize: 16, patchSize: 8 }).patchWindow).toBe(8);
    const c = makeConfig('tiny', { patchWindow: 8, vocabSize: 300 });
    expect(c.patchWindow).toBe(8);
    expect(countParameters(c) - countParameters(makeConfig('tiny', { vocabSize: 300 }))).toBe(128 * (8 * 8 - 4 * 4) * 3);
    const m = new JudgeModel(c);
    expect(m.namedParameters().get('vision.patch_proj.weight')!.shape).toEqual([128, 192]);
    m.dispose();
    expect(() => makeConfig('tiny', { patchWindow: 7 })).toThrow(/config.patchWindow \(7\) must be ≥ config.patchSize \(4\) and differ from it by an even number/);
    expect(() => makeConfig('tiny', { patchWindow: 2 })).toThrow(/config.patchWindow \(2\)/);
  });

  it('drops unknown fields so config.json holds the schema only', () => {
    const c = validateConfig({ ...TINY_CONFIG, junk: 1 });
    expect('junk' in c).toBe(false);
  });
});

describe('packBatch', () => {
  const c = makeConfig('tiny', { imageSize: 8, patchSize: 4, vocabSize: 50, imageTokenId: 7, maxSeqLen: 32 });
  const P = numImageTokens(c); // 4

  it('lays out [images][text][pad] with index maps, targets and mask', () => {
    const b = packBatch(
      [
        { images: [image(8, 1)], tokens: [10, 11, 12], lossMask: [0, 1, 1] },
        { images: [image(8, 2), image(16, 3)], tokens: [20, 21] },
      ],
      c,
    );
    expect(b.seqLen).toBe(2 * P + 2);
    expect(Array.from(b.seqLengthsHost)).toEqual([P + 3, 2 * P + 2]);
    expect(Array.from(b.textOffsets)).toEqual([P, 2 * P]);
    const T = b.seqLen;
    const ids = b.ids.toArray();
    expect(Array.from(ids.subarray(0, T))).toEqual([7, 7, 7, 7, 10, 11, 12, 0, 0, 0]);
    expect(Array.from(ids.subarray(T, 2 * T))).toEqual([7, 7, 7, 7, 7, 7, 7, 7, 20, 21]);
    expect(Array.from(b.imagePositions.toArray())).toEqual([0, 1, 2, 3, T, T + 1, T + 2, T + 3, T + 4, T + 5, T + 6, T + 7]);
    expect(Array.from(b.slotIndex.toArray())).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
    expect(Array.from(b.patchIndex.toArray())).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
    const tg = b.targets.toArray();
    expect(Array.from(tg.subarray(0, T))).toEqual([7, 7, 7, 10, 11, 12, 0, 0, 0, 0]);
    // Row 0: text token 0 is unscored; tokens 1, 2 are predicted at positions P, P+1.
    expect(Array.from(b.lossMask.toArray().subarray(0, T))).toEqual([0, 0, 0, 0, 1, 1, 0, 0, 0, 0]);
    // Row 1 (default mask): both text tokens, predicted at 2P−1 and 2P.
    expect(Array.from(b.lossMask.toArray().subarray(T, 2 * T))).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1, 0]);
    expect(b.numLossTokens).toBe(4);
    expect(b.pixels.shape).toEqual([3, 8, 8, 3]);
    // seqValues/textValues are inverse on the text tokens.
    const sv = seqValues(b, [[1, 2, 3], [4, 5]]);
    const back = textValues(b, sv.toArray());
    expect(Array.from(back[0]!)).toEqual([1, 2, 3]);
    expect(Array.from(back[1]!)).toEqual([4, 5]);
    sv.dispose();
    disposeBatch(b);
  });

  it('rejects bad examples clearly', () => {
    expect(() => packBatch([], c)).toThrow(/at least one example/);
    expect(() => packBatch([{ images: [], tokens: [1] }], c)).toThrow(/expected 1..2/);
    expect(() => packBatch([{ images: [image(8, 0)], tokens: [1, 50] }], c)).toThrow(/tokens\[1\] = 50 is not a token id/);
    expect(() => packBatch([{ images: [image(8, 0)], tokens: [1], lossMask: [1, 1] }], c)).toThrow(/lossMask has 2 entries/);
    expect(() => packBatch([{ images: [image(8, 0)], tokens: new Array(40).fill(1) }], c)).toThrow(/maxSeqLen/);
    expect(() => packBatch([{ images: [{ width: 2, height: 2, data: new Uint8Array(3) }], tokens: [1] }], c)).toThrow(
      /needs 12/,
    );
  });
});

describe('resizeImage', () => {
  it('area-averages exactly on integer factors and keeps constants constant', () => {
    const src: RgbImage = { width: 4, height: 4, data: new Uint8Array(48) };
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) for (let ch = 0; ch < 3; ch++) src.data[(y * 4 + x) * 3 + ch] = x < 2 ? 10 : 30;
    const r = resizeImage(src, 2);
    expect(Array.from(r.data)).toEqual([10, 10, 10, 30, 30, 30, 10, 10, 10, 30, 30, 30]);
    const flat: RgbImage = { width: 7, height: 5, data: new Uint8Array(105).fill(77) };
    expect(Array.from(new Set(resizeImage(flat, 3).data))).toEqual([77]);
  });
});

describe('learning-rate schedules', () => {
  it('warm-up, linear and cosine follow their formulas', () => {
    const s = { kind: 'cosine' as const, lr: 1, warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 };
    expect(learningRate(s, 0)).toBeCloseTo(0.1, 12);
    expect(learningRate(s, 9)).toBeCloseTo(1, 12);
    expect(learningRate(s, 10)).toBeCloseTo(1, 12);
    expect(learningRate(s, 60)).toBeCloseTo(0.1 + 0.9 * 0.5, 12);
    expect(learningRate(s, 110)).toBeCloseTo(0.1, 12);
    expect(learningRate(s, 500)).toBeCloseTo(0.1, 12);
    const l = { kind: 'linear' as const, lr: 2, totalSteps: 4 };
    expect([0, 1, 2, 3, 4].map((i) => learningRate(l, i))).toEqual([2, 1.5, 1, 0.5, 0]);
    expect(learningRate({ kind: 'constant', lr: 3 }, 1000)).toBe(3);
  });
});
