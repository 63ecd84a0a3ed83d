// Function-preserving deepening: a trained model gets n more decoder layers on top of its stack.
// Each new layer is a pre-norm block whose two residual writers (attention output wo, MLP w_down)
// start at zero, so it adds nothing to the residual stream and the deeper model computes exactly
// what the old one did. Training first moves wo / w_down (their inputs are non-zero), and through
// them the rest of the new layer. This is how the shipped base gains depth without starting over.
import { validateConfig } from './config.js';
import { graftParameters } from './graft.js';
import { JudgeModel } from './judge-model.js';

/** The residual writers of decoder layer i: zero in a new layer. */
const residualWriters = (i: number) => [`layers.${i}.attn.wo.weight`, `layers.${i}.mlp.w_down.weight`];

/** A new model (same device) with config.nLayers + n decoder layers and the same function as `model`. */
export function addDecoderLayers(model: JudgeModel, n: number, seed = 0): JudgeModel {
  const fn = 'addDecoderLayers';
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new RangeError(`${fn}: n must be an integer in [1, 64], got ${n}`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`${fn}: seed must be a non-negative integer, got ${seed}`);
  const c = model.config;
  const config = validateConfig({ ...c, nLayers: c.nLayers + n }, fn);
  const deep = new JudgeModel(config, { device: model.device, seed });
  const zero = new Set(Array.from({ length: n }, (_, k) => residualWriters(c.nLayers + k)).flat());
  // New layers keep their random init except the zeroed writers.
  graftParameters(deep, model, (name, value) => (zero.has(name) ? (value.fill(0), true) : /^layers\.\d+\./.test(name)), fn);
  return deep;
}
