// The shared step of the model surgeries (add-decoder-layers.ts, add-vision-layers.ts): every
// parameter the old model has is copied into the new one; each new parameter is set by `fresh`,
// which says whether it knows the name, so a surgery cannot silently keep a random weight it did not
// plan. On failure the half-built target is disposed, so a refused surgery leaks no memory.
import type { Tensor } from '../tensor.js';
import type { JudgeModel } from './judge-model.js';

export function graftParameters(target: JudgeModel, source: JudgeModel, fresh: (name: string, value: Tensor) => boolean, fn: string): void {
  const old = source.namedParameters();
  try {
    for (const p of target.parameters()) {
      const src = old.get(p.name);
      if (src) p.value.copyFrom(src.value);
      else if (!fresh(p.name, p.value)) throw new Error(`${fn}: the new model has a parameter ${p.name} the original lacks`);
    }
  } catch (err) {
    target.dispose();
    throw err;
  }
}
