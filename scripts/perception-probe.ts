// Perception probe for a base model: caption 200 held-out scenes greedily ("Write a caption for this
// picture.") and count, per drawn object, whether the caption names its colour, its colour and shape,
// and its colour, shape and position; plus whether the caption has the right number of objects.
// Alignment judging needs all three, so this says whether a weak alignment score is a judging or a
// seeing problem (docs/training.md). Scenes come from the caption corpus under their own seed
// ("perception-probe"), never from a suite split.
// Usage: npx tsx scripts/perception-probe.ts [checkpoint, default models/base]
import { generateCorpusItem, type CorpusItem } from '../lib/data/corpus.js';
import { COLOUR_NAMES, SHAPES, type Scene } from '../lib/data/scene.js';
import { completionText } from '../lib/judging/encode.js';
import { loadCheckpoint } from '../lib/model/checkpoint.js';
import { generate } from '../lib/model/generate.js';

const dir = process.argv[2] ?? 'models/base';
const ck = loadCheckpoint(dir, { device: 'cpu', skipOptimizer: true });
const tok = ck.tokenizer;
if (!tok) throw new Error(`${dir} has no tokenizer.json`);

// Every phrase the captions use per region (lib/data/prompts.ts), longest first so "at the top" does
// not shadow "at the top center".
const REGIONS: Record<string, string[]> = {
  'top left': ['at the top left', 'in the top left corner', 'in the upper left'],
  top: ['at the top center', 'near the top', 'at the top'],
  'top right': ['at the top right', 'in the top right corner', 'in the upper right'],
  left: ['at the left side', 'on the left side', 'on the left'],
  center: ['in the center', 'in the middle', 'at the center'],
  right: ['at the right side', 'on the right side', 'on the right'],
  'bottom left': ['at the bottom left', 'in the bottom left corner', 'in the lower left'],
  bottom: ['at the bottom center', 'near the bottom', 'at the bottom'],
  'bottom right': ['at the bottom right', 'in the bottom right corner', 'in the lower right'],
};
const OBJECT = new RegExp(`(${COLOUR_NAMES.join('|')}) (${SHAPES.join('|')}) ([a-z ]+?)(?=,| and |\\.| on a |$)`, 'g');

interface Seen {
  colour: string;
  shape: string;
  region?: string;
}
function objectsIn(caption: string): Seen[] {
  const objectsPart = caption.split(/There is|The picture/)[0]!;
  return [...objectsPart.matchAll(OBJECT)].map((m) => ({
    colour: m[1]!,
    shape: m[2]!,
    region: Object.entries(REGIONS).find(([, ps]) => ps.some((p) => m[3]!.startsWith(p)))?.[0],
  }));
}

const items: CorpusItem[] = [];
for (let i = 0; items.length < 200; i++) {
  const it = generateCorpusItem('perception-probe', 'test', i, 32);
  if (it.kind === 'caption' && it.images.length === 1) items.push(it);
}
let objects = 0;
let colour = 0;
let colourShape = 0;
let colourShapeRegion = 0;
let countRight = 0;
for (let b = 0; b < items.length; b += 50) {
  const batch = items.slice(b, b + 50);
  const prompt = [tok.bosId, ...tok.encode('Write a caption for this picture.', { parseSpecial: false })];
  const r = generate(ck.model, batch.map((it) => ({ images: it.images, tokens: prompt })), { maxNewTokens: 60, eosId: tok.eosId, temperature: 0 });
  batch.forEach((it, k) => {
    const caption = completionText(r.tokens.subarray(k * r.maxNewTokens, k * r.maxNewTokens + r.lengths[k]!), tok);
    const seen = objectsIn(caption);
    const drawn = ((it.meta as { scenes: Scene[] }).scenes[0]!).objects;
    if (seen.length === drawn.length) countRight++;
    for (const o of drawn) {
      objects++;
      if (seen.some((s) => s.colour === o.colour)) colour++;
      if (seen.some((s) => s.colour === o.colour && s.shape === o.shape)) colourShape++;
      if (seen.some((s) => s.colour === o.colour && s.shape === o.shape && s.region === o.region)) colourShapeRegion++;
    }
  });
}
const pct = (x: number, n: number) => Number(((100 * x) / n).toFixed(1));
console.log(
  JSON.stringify({ checkpoint: dir, scenes: items.length, objects, colourPct: pct(colour, objects), colourShapePct: pct(colourShape, objects), colourShapePositionPct: pct(colourShapeRegion, objects), objectCountPct: pct(countRight, items.length) }),
);
ck.model.dispose();
