// Function-preserving widening of a model's patch window: a trained model with plain P×P patches
// becomes one whose image tokens read K×K windows centred on the same patches, with the old
// projection weights on the centre P×P of each window and zeros on the new border pixels. The new
// model computes exactly what the old one did; further training can then learn to use the border
// (neighbouring pixels: the rest of a small object). This is how a base pretrained with plain
// patches is continued with overlapping windows without starting over.
import { validateConfig } from './config.js';
import { JudgeModel } from './judge-model.js';
import { Tensor } from '../tensor.js';

const PATCH_PROJ = 'vision.patch_proj.weight';

/** A new model (same device) with config.patchWindow = window and the same function as `model`. */
export function widenPatchWindow(model: JudgeModel, window: number): JudgeModel {
  const fn = 'widenPatchWindow';
  const c = model.config;
  if (!Number.isInteger(window) || window < c.patchWindow || (window - c.patchWindow) % 2 !== 0)
    throw new RangeError(
      `${fn}: window must be an integer ≥ the model's patchWindow (${c.patchWindow}) that differs from it by an even number, got ${window}`,
    );
  const config = validateConfig({ ...c, patchWindow: window }, fn);
  const wide = new JudgeModel(config, { device: model.device, seed: 0 });
  const old = model.namedParameters();
  const k0 = c.patchWindow;
  const C = c.channels;
  const off = (window - k0) / 2;
  for (const p of wide.parameters()) {
    const src = old.get(p.name);
    if (!src) throw new Error(`${fn}: the widened model has a parameter ${p.name} the original lacks`);
    if (p.name !== PATCH_PROJ) {
      p.value.copyFrom(src.value);
      continue;
    }
    // (vw, k0·k0·C) → (vw, K·K·C): column (iy, ix, c) moves to (iy + off, ix + off, c).
    const [vw, dOld] = src.shape as [number, number];
    const dNew = window * window * C;
    const from = src.value.toArray();
    const to = new Float32Array(vw * dNew);
    for (let r = 0; r < vw; r++)
      for (let iy = 0; iy < k0; iy++)
        for (let ix = 0; ix < k0; ix++)
          for (let ch = 0; ch < C; ch++)
            to[r * dNew + ((iy + off) * window + ix + off) * C + ch] = from[r * dOld + (iy * k0 + ix) * C + ch]!;
    const t = Tensor.fromArray(to, [vw, dNew], { device: model.device });
    p.value.copyFrom(t);
    t.dispose();
  }
  return wide;
}
