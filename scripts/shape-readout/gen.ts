// Writes N rendered 32×32 scenes (1–3 objects, the suite's scene sampler) and, per scene, the shape and
// colour in each of the nine regions (0 = empty) for train.py: raw u8 files OUT.img (N·32·32·3) and
// OUT.lab (N·9·2). Usage: npx tsx scripts/shape-readout/gen.ts N SEED OUT
import { writeFileSync } from 'node:fs';
import { renderScene } from '../../lib/data/compose.js';
import { COLOUR_NAMES, REGION_NAMES, sampleScene, SHAPES } from '../../lib/data/scene.js';
import { Rng } from '../../lib/rng.js';

const [n, seed, out] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]!];
const rng = Rng.from(seed);
const img = Buffer.alloc(n * 32 * 32 * 3);
const lab = Buffer.alloc(n * 9 * 2);
for (let i = 0; i < n; i++) {
  const s = sampleScene(rng, { minObjects: 1, maxObjects: 3 });
  Buffer.from(renderScene(s, 32).data).copy(img, i * 3072);
  for (const o of s.objects) {
    const r = REGION_NAMES.indexOf(o.region);
    lab[i * 18 + r * 2] = 1 + SHAPES.indexOf(o.shape);
    lab[i * 18 + r * 2 + 1] = 1 + COLOUR_NAMES.indexOf(o.colour);
  }
}
writeFileSync(`${out}.img`, img);
writeFileSync(`${out}.lab`, lab);
