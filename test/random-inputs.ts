// Random judge inputs for tests that compare two models on the same batch: one single-image and one
// two-image sequence of random pixels and token ids (ids ≥ 8, clear of the special tokens).
import type { JudgeInput } from '../lib/model/batch.js';
import { mulberry32 } from '../lib/rng.js';

export function randomInputs(vocab: number, size: number, seed: number, lengths: readonly [number, number] = [7, 4]): JudgeInput[] {
  const r = mulberry32(seed);
  const img = () => ({ width: size, height: size, data: Uint8Array.from({ length: size * size * 3 }, () => Math.floor(r() * 256)) });
  const tok = (n: number) => Array.from({ length: n }, () => 8 + Math.floor(r() * (vocab - 8)));
  return [
    { images: [img()], tokens: tok(lengths[0]) },
    { images: [img(), img()], tokens: tok(lengths[1]) },
  ];
}
