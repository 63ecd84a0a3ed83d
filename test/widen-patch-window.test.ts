// widenPatchWindow: a model with plain patches becomes one with overlapping windows that computes the
// same function (the new border weights are zero), and training then reaches the border weights.
import { describe, expect, it } from 'vitest';
import { makeConfig } from '../lib/model/config.js';
import { disposeBatch } from '../lib/model/batch.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import { widenPatchWindow } from '../lib/model/widen-patch-window.js';
import { randomInputs } from './random-inputs.js';

process.env.OMP_WAIT_POLICY ??= 'passive';


describe('widenPatchWindow', () => {
  for (const visionLayers of [0, 1]) {
    it(`keeps the model's function exactly and lets training reach the new border (visionLayers ${visionLayers})`, () => {
      const c = makeConfig('tiny', { imageSize: 16, vocabSize: 64, dModel: 32, nHeads: 2, nKvHeads: 1, dFF: 48, nLayers: 1, maxSeqLen: 96, visionLayers, visionDim: 16, visionHeads: 2, visionFF: 24, initStd: 0.2 });
      const narrow = new JudgeModel(c, { seed: 3 });
      const wide = widenPatchWindow(narrow, 8);
      expect(wide.config.patchWindow).toBe(8);
      expect(wide.config.patchSize).toBe(4);
      const w = wide.namedParameters().get('vision.patch_proj.weight')!;
      const v = narrow.namedParameters().get('vision.patch_proj.weight')!;
      expect(w.shape).toEqual([v.shape[0], 8 * 8 * 3]);
      // Column (iy, ix, c) of the 4×4 patch sits at (iy + 2, ix + 2, c) of the 8×8 window; the rest is 0.
      const wa = w.value.toArray();
      const va = v.value.toArray();
      let moved = 0;
      let border = 0;
      for (let r = 0; r < v.shape[0]!; r++)
        for (let y = 0; y < 8; y++)
          for (let x = 0; x < 8; x++)
            for (let ch = 0; ch < 3; ch++) {
              const got = wa[r * 192 + (y * 8 + x) * 3 + ch]!;
              const centre = y >= 2 && y < 6 && x >= 2 && x < 6;
              if (centre) moved = Math.max(moved, Math.abs(got - va[r * 48 + ((y - 2) * 4 + x - 2) * 3 + ch]!));
              else border = Math.max(border, Math.abs(got));
            }
      expect(moved).toBe(0);
      expect(border).toBe(0);
      const batchN = narrow.batch(randomInputs(64, 16, 5));
      const batchW = wide.batch(randomInputs(64, 16, 5));
      const a = narrow.forward(batchN).toArray();
      const b = wide.forward(batchW).toArray();
      let err = 0;
      for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(a[i]!)));
      expect(err, `hidden states differ by ${err.toExponential(2)}`).toBeLessThan(1e-5);
      // One backward pass: the border columns get a gradient (the window sees the neighbours).
      wide.zeroGrad();
      wide.nllBackward(batchW);
      const g = w.grad.toArray();
      let gBorder = 0;
      for (let r = 0; r < v.shape[0]!; r++)
        for (let y = 0; y < 8; y++)
          for (let x = 0; x < 8; x++) if (!(y >= 2 && y < 6 && x >= 2 && x < 6)) for (let ch = 0; ch < 3; ch++) gBorder = Math.max(gBorder, Math.abs(g[r * 192 + (y * 8 + x) * 3 + ch]!));
      expect(gBorder).toBeGreaterThan(0);
      disposeBatch(batchN);
      disposeBatch(batchW);
      narrow.dispose();
      wide.dispose();
      console.log(`widenPatchWindow (visionLayers ${visionLayers}): max rel hidden-state difference ${err.toExponential(2)}`);
    });
  }

  it('refuses a window it cannot centre or one narrower than the model has', () => {
    const m = new JudgeModel(makeConfig('tiny', { imageSize: 8, vocabSize: 32, dModel: 16, nHeads: 2, nKvHeads: 1, dFF: 16, nLayers: 1, maxSeqLen: 64 }));
    expect(() => widenPatchWindow(m, 7)).toThrow(/widenPatchWindow: window must be an integer ≥ the model's patchWindow \(4\) that differs from it by an even number, got 7/);
    expect(() => widenPatchWindow(m, 2)).toThrow(/got 2/);
    m.dispose();
  });
});
