// addVisionLayers: on a model with a vision encoder the new layers change nothing (zero residual
// writers); on one without, the only change is the encoder's final RMSNorm, so every image token
// reaches the decoder as x / rms(x). One backward pass then reaches the new layers.
import { describe, expect, it } from 'vitest';
import { makeConfig } from '../lib/model/config.js';
import { disposeBatch } from '../lib/model/batch.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import { addVisionLayers } from '../lib/model/add-vision-layers.js';
import { pretrainBase } from '../lib/experiment/pretrain.js';
import { randomInputs } from './random-inputs.js';

process.env.OMP_WAIT_POLICY ??= 'passive';

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let err = 0;
  for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(a[i]!)));
  return err;
};

/** Image tokens as the decoder receives them, less the image-slot rows (the same in both models). */
function imageTokens(m: JudgeModel, vocab: number): Float32Array {
  const b = m.batch(randomInputs(vocab, 16, 5, [9, 5]));
  const out = m.vision.forward(b.pixels, b.patchIndex, b.slotIndex, false);
  const rows = Float32Array.from(out.toArray());
  const slot = m.namedParameters().get('vision.slot_embed')!.value.toArray();
  const slotIdx = b.slotIndex.toArray();
  const d = m.config.dModel;
  for (let r = 0; r < rows.length / d; r++) for (let j = 0; j < d; j++) rows[r * d + j]! -= slot[slotIdx[r]! * d + j]!;
  out.dispose();
  disposeBatch(b);
  return rows;
}

describe('addVisionLayers', () => {
  const base = { imageSize: 16, vocabSize: 64, dModel: 32, nHeads: 2, nKvHeads: 1, dFF: 48, nLayers: 2, maxSeqLen: 96, initStd: 0.2, visionHeads: 2, visionFF: 40 };

  it('on top of an existing encoder keeps the model function exactly, and training reaches the new layers', () => {
    const m = new JudgeModel(makeConfig('tiny', { ...base, visionLayers: 1, visionDim: 24 }), { seed: 3 });
    const w = addVisionLayers(m, 2, 7);
    expect(w.config.visionLayers).toBe(3);
    expect(w.config.visionDim).toBe(24);
    const old = m.namedParameters();
    const neu = w.namedParameters();
    expect(neu.size - old.size).toBe(2 * 9);
    for (const [name, p] of old) expect(Array.from(neu.get(name)!.value.toArray()), name).toEqual(Array.from(p.value.toArray()));
    const bM = m.batch(randomInputs(64, 16, 5, [9, 5]));
    const bW = w.batch(randomInputs(64, 16, 5, [9, 5]));
    const err = relErr(m.forward(bM).toArray(), w.forward(bW).toArray());
    expect(err, `hidden states differ by ${err.toExponential(2)}`).toBeLessThan(1e-6);
    w.zeroGrad();
    w.nllBackward(bW);
    for (const i of [1, 2]) {
      expect(maxAbs(neu.get(`vision.layers.${i}.attn.wo.weight`)!.grad.toArray())).toBeGreaterThan(0);
      expect(maxAbs(neu.get(`vision.layers.${i}.mlp.w_down.weight`)!.grad.toArray())).toBeGreaterThan(0);
    }
    disposeBatch(bM);
    disposeBatch(bW);
    m.dispose();
    w.dispose();
    console.log(`addVisionLayers (on an encoder): max rel hidden-state difference ${err.toExponential(2)}`);
  });

  it('on a model without an encoder builds one of the decoder width whose only change is the final RMSNorm', () => {
    const m = new JudgeModel(makeConfig('tiny', base), { seed: 4 });
    expect(m.config.visionLayers).toBe(0);
    const w = addVisionLayers(m, 1, 9);
    expect(w.config.visionLayers).toBe(1);
    expect(w.config.visionDim).toBe(32);
    const neu = w.namedParameters();
    for (const [name, p] of m.namedParameters()) expect(Array.from(neu.get(name)!.value.toArray()), name).toEqual(Array.from(p.value.toArray()));
    const proj = neu.get('vision.projector.weight')!.value.toArray();
    for (let i = 0; i < 32; i++) for (let j = 0; j < 32; j++) expect(proj[i * 32 + j]).toBe(i === j ? 1 : 0);
    const x = imageTokens(m, 64);
    const y = imageTokens(w, 64);
    const d = 32;
    const expected = new Float32Array(x.length);
    let rmsMin = Infinity;
    let rmsMax = 0;
    for (let r = 0; r < x.length / d; r++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += x[r * d + j]! ** 2;
      const rms = Math.sqrt(s / d + 1e-5);
      rmsMin = Math.min(rmsMin, rms);
      rmsMax = Math.max(rmsMax, rms);
      for (let j = 0; j < d; j++) expected[r * d + j] = x[r * d + j]! / rms;
    }
    // The random init's tokens are far from RMS 1, so this is a real change that the check sees.
    expect(rmsMax / rmsMin).toBeGreaterThan(1.05);
    const err = relErr(expected, y);
    expect(err, `image tokens differ from x / rms(x) by ${err.toExponential(2)}`).toBeLessThan(1e-5);
    m.dispose();
    w.dispose();
    console.log(`addVisionLayers (no encoder): image tokens = x / rms(x) to ${err.toExponential(2)}; old RMS ${rmsMin.toFixed(2)}–${rmsMax.toFixed(2)}`);
  });

  it('refuses a layer count or seed it cannot use, and pretrainBase refuses it without init', async () => {
    const m = new JudgeModel(makeConfig('tiny', { ...base, imageSize: 8, maxSeqLen: 64 }));
    expect(() => addVisionLayers(m, 0)).toThrow(/addVisionLayers: n must be an integer in \[1, 64\], got 0/);
    expect(() => addVisionLayers(m, 2.5)).toThrow(/got 2.5/);
    expect(() => addVisionLayers(m, 1, -1)).toThrow(/seed must be a non-negative integer, got -1/);
    m.dispose();
    await expect(pretrainBase({ addVisionLayers: 1 })).rejects.toThrow(/pretrainBase: addVisionLayers deepens an init checkpoint's vision encoder/);
    await expect(pretrainBase({ init: 'no-such-checkpoint', addVisionLayers: 0 })).rejects.toThrow(/pretrainBase: addVisionLayers must be an integer in \[1, 64\], got 0/);
  });
});
