// Vision-encoder surgery: a trained model gets n more bidirectional transformer layers over its image
// patches, so shape perception gets capacity of its own instead of sharing the decoder's.
// New layers are pre-norm blocks whose residual writers (attention wo, MLP w_down) start at zero.
// - A model that already has vision layers gets the new ones on top of them: the encoder computes
//   exactly what it did (the final norm and projector see the same vectors).
// - A model without any (the Fuyu design: patches projected straight into the decoder) gets an
//   encoder of the decoder's width: the old patch projection and positions, the new layers, the
//   final RMSNorm (weight 1) and an identity projector. Everything is kept except that RMSNorm: each
//   image token now reaches the decoder rescaled to RMS 1. The shipped base's image tokens have RMS
//   0.63–1.43 (5th–95th percentile, mean 1.00), so the model starts close to, not exactly at, the
//   loaded one; test/add-vision-layers.test.ts bounds the change and docs/training.md measures it.
import { validateConfig } from './config.js';
import { graftParameters } from './graft.js';
import { JudgeModel } from './judge-model.js';
import { Tensor } from '../tensor.js';

const residualWriters = (i: number) => [`vision.layers.${i}.attn.wo.weight`, `vision.layers.${i}.mlp.w_down.weight`];

/** A new model (same device) with n more vision-encoder layers, starting from `model`'s function. */
export function addVisionLayers(model: JudgeModel, n: number, seed = 0): JudgeModel {
  const fn = 'addVisionLayers';
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new RangeError(`${fn}: n must be an integer in [1, 64], got ${n}`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`${fn}: seed must be a non-negative integer, got ${seed}`);
  const c = model.config;
  const fromNone = c.visionLayers === 0;
  // Without an encoder the patch projection already has the decoder's width: the encoder keeps it.
  const config = validateConfig({ ...c, visionLayers: c.visionLayers + n, ...(fromNone ? { visionDim: c.dModel } : {}) }, fn);
  const wide = new JudgeModel(config, { device: model.device, seed });
  const zero = new Set(Array.from({ length: n }, (_, k) => residualWriters(c.visionLayers + k)).flat());
  graftParameters(
    wide,
    model,
    (name, value) => {
      if (zero.has(name)) value.fill(0);
      else if (fromNone && name === 'vision.norm.weight') value.fill(1);
      else if (fromNone && name === 'vision.projector.weight') {
        const eye = identity(c.dModel, model.device);
        value.copyFrom(eye);
        eye.dispose();
      } else return /^vision\.layers\.\d+\./.test(name); // the new layers' other weights keep their random init
      return true;
    },
    fn,
  );
  return wide;
}

function identity(d: number, device: JudgeModel['device']): Tensor {
  const eye = new Float32Array(d * d);
  for (let i = 0; i < d; i++) eye[i * d + i] = 1;
  return Tensor.fromArray(eye, [d, d], { device });
}
