// addDecoderLayers: a model with n more decoder layers on top computes the same function (the new
// layers' residual writers are zero), and one training step then reaches the new layers.
import { describe, expect, it } from 'vitest';
import { makeConfig } from '../lib/model/config.js';
import { disposeBatch } from '../lib/model/batch.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import { addDecoderLayers } from '../lib/model/add-decoder-layers.js';
import { pretrainBase } from '../lib/experiment/pretrain.js';
import { randomInputs } from './random-inputs.js';

process.env.OMP_WAIT_POLICY ??= 'passive';


const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('addDecoderLayers', () => {
  it('keeps the model function exactly and one backward pass reaches the new layers', () => {
    const c = makeConfig('tiny', { imageSize: 16, vocabSize: 64, dModel: 32, nHeads: 2, nKvHeads: 1, dFF: 48, nLayers: 2, maxSeqLen: 96, initStd: 0.2 });
    const shallow = new JudgeModel(c, { seed: 3 });
    const deep = addDecoderLayers(shallow, 2, 7);
    expect(deep.config.nLayers).toBe(4);
    const old = shallow.namedParameters();
    const neu = deep.namedParameters();
    expect(neu.size - old.size).toBe(2 * 9);
    // Every old parameter is copied bit for bit; the new layers' wo and w_down are zero, the rest random.
    for (const [name, p] of old) expect(Array.from(neu.get(name)!.value.toArray()), name).toEqual(Array.from(p.value.toArray()));
    for (const i of [2, 3]) {
      expect(maxAbs(neu.get(`layers.${i}.attn.wo.weight`)!.value.toArray())).toBe(0);
      expect(maxAbs(neu.get(`layers.${i}.mlp.w_down.weight`)!.value.toArray())).toBe(0);
      expect(maxAbs(neu.get(`layers.${i}.attn.wq.weight`)!.value.toArray())).toBeGreaterThan(0);
    }
    const bS = shallow.batch(randomInputs(64, 16, 5, [9, 5]));
    const bD = deep.batch(randomInputs(64, 16, 5, [9, 5]));
    const a = shallow.forward(bS).toArray();
    const b = deep.forward(bD).toArray();
    expect(b.length).toBe(a.length);
    let err = 0;
    for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(a[i]!)));
    expect(err, `hidden states differ by ${err.toExponential(2)}`).toBeLessThan(1e-6);
    // The zero writers get a gradient (their inputs are non-zero), so training moves the new layers.
    deep.zeroGrad();
    deep.nllBackward(bD);
    for (const i of [2, 3]) {
      expect(maxAbs(neu.get(`layers.${i}.attn.wo.weight`)!.grad.toArray())).toBeGreaterThan(0);
      expect(maxAbs(neu.get(`layers.${i}.mlp.w_down.weight`)!.grad.toArray())).toBeGreaterThan(0);
    }
    disposeBatch(bS);
    disposeBatch(bD);
    shallow.dispose();
    deep.dispose();
    console.log(`addDecoderLayers: max rel hidden-state difference ${err.toExponential(2)}`);
  });

  it('refuses a layer count or seed it cannot use', () => {
    const m = new JudgeModel(makeConfig('tiny', { imageSize: 8, vocabSize: 32, dModel: 16, nHeads: 2, nKvHeads: 1, dFF: 16, nLayers: 1, maxSeqLen: 64 }));
    expect(() => addDecoderLayers(m, 0)).toThrow(/addDecoderLayers: n must be an integer in \[1, 64\], got 0/);
    expect(() => addDecoderLayers(m, 1.5)).toThrow(/got 1.5/);
    expect(() => addDecoderLayers(m, 1, -1)).toThrow(/seed must be a non-negative integer, got -1/);
    m.dispose();
  });
});

describe('pretrainBase surgery options', () => {
  // Refused before the corpus is generated or a checkpoint read, so these are instant.
  it('refuses addLayers of 0 or without init, and patchWindow without init, with named errors', async () => {
    await expect(pretrainBase({ addLayers: 2 })).rejects.toThrow(/pretrainBase: addLayers deepens an init checkpoint/);
    await expect(pretrainBase({ init: 'no-such-checkpoint', addLayers: 0 })).rejects.toThrow(/pretrainBase: addLayers must be an integer in \[1, 64\], got 0/);
    await expect(pretrainBase({ init: 'no-such-checkpoint', addLayers: 65 })).rejects.toThrow(/got 65/);
    await expect(pretrainBase({ patchWindow: 8 })).rejects.toThrow(/pretrainBase: patchWindow widens an init checkpoint/);
  });
});
