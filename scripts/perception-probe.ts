// Perception probe for a base model: caption 200 held-out scenes greedily ("Write a caption for this
// picture.") and count, per drawn object, whether the caption names its colour, its colour and shape,
// and its colour, shape and position; plus whether the caption has the right number of objects.
// Alignment judging needs all three, so this says whether a weak alignment score is a judging or a
// seeing problem (docs/training.md). Then closed questions with hard negatives, answered directly:
// one picture ("Is there a red star?", "Is the red star at the top?") and two ("Which picture has
// …?", one faithful and one with a single change); chance is 50 % for both; and the pair question by
// the kind of change, in both orders; and "do these notes fit …?" (with the noted picture) by the
// kind of change, so a blind spot for one kind is not averaged away, and again with an unrelated
// picture, so only the notes can answer. Scenes come from the
// caption corpus and the perception items under their own seed ("perception-probe"), never from
// a suite split nor the pretraining corpus.
// Usage: npx tsx scripts/perception-probe.ts [checkpoint, default models/base]
import { generateCorpusItem, type CorpusItem } from '../lib/data/corpus.js';
import { generateInstructItem, type InstructItem } from '../lib/data/instruct.js';
import { noteMatch, noteObjects, pairPerception, type PerceptionQa } from '../lib/data/perception.js';
import { REGION_PHRASES } from '../lib/data/prompts.js';
import { COLOUR_NAMES, SHAPES, type Scene } from '../lib/data/scene.js';
import { completionText } from '../lib/judging/encode.js';
import { loadCheckpoint } from '../lib/model/checkpoint.js';
import { generate } from '../lib/model/generate.js';
import { Rng } from '../lib/rng.js';

const dir = process.argv[2] ?? 'models/base';
const ck = loadCheckpoint(dir, { device: 'cpu', skipOptimizer: true });
const tok = ck.tokenizer;
if (!tok) throw new Error(`${dir} has no tokenizer.json`);

// Region phrases longest first, so "at the top" does not shadow "at the top center".
const REGIONS = Object.entries(REGION_PHRASES).map(([region, ps]) => [region, [...ps].sort((a, b) => b.length - a.length)] as const);
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
    region: REGIONS.find(([, ps]) => ps.some((p) => m[3]!.startsWith(p)))?.[0],
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

// Closed questions with hard negatives (lib/data/perception.ts), asked directly, greedy: "Is there a
// red star?" / "Is the red star at the top?" over one picture (chance 50 %), and "Which picture has
// …?" over a faithful picture and one with a single change (chance 50 %). Held-out scenes: the
// probe's own seed, never the corpus' nor a suite's.
function closedItems(concept: 'perception' | 'pair-perception' | 'note-match', n: number): InstructItem[] {
  const out: InstructItem[] = [];
  for (let i = 0; out.length < n; i++) {
    // Note matching exists from corpus version 4 on; the others are version 3's items as before.
    const it = generateInstructItem('perception-probe', i, 32, concept === 'note-match' ? 4 : 3);
    if (it.concept === concept && it.truth !== undefined && !it.reasoning) out.push(it);
  }
  return out;
}
/** Greedy short answers (4 tokens) to one-shot questions, 50 at a time. */
function directAnswers(asks: { images: InstructItem['images']; prompt: string }[]): string[] {
  const said: string[] = [];
  for (let b = 0; b < asks.length; b += 50) {
    const batch = asks.slice(b, b + 50);
    const r = generate(ck.model, batch.map((a) => ({ images: a.images, tokens: [tok!.bosId, ...tok!.encode(a.prompt, { parseSpecial: false })] })), { maxNewTokens: 4, eosId: tok!.eosId, temperature: 0 });
    batch.forEach((_, k) => said.push(completionText(r.tokens.subarray(k * r.maxNewTokens, k * r.maxNewTokens + r.lengths[k]!), tok!).trim()));
  }
  return said;
}
function closedAccuracy(items: InstructItem[]): number {
  const said = directAnswers(items);
  return pct(items.filter((it, i) => said[i] === it.target).length, items.length);
}
// The same "Which picture has …?" question by what the other picture changes, asked in both orders
// (accuracy over both; position-consistent = right in both orders, chance 25 %), answered directly
// and after noting both pictures in <think>: which differences the base can see and use, which is
// what pair-alignment judging needs.
interface ByChange {
  pairs: number;
  accuracyPct: number;
  positionConsistentPct: number;
  /** After notes: how often the notes of both pictures are exactly right, and the answer's accuracy then. */
  notesRightPct?: number;
  accuracyWhenNotesRightPct?: number;
}
function pairsByChange(n: number, think: boolean): Record<string, ByChange> {
  const qas: PerceptionQa[] = [];
  for (let i = 0; qas.length < n; i++) {
    const p = pairPerception(Rng.from('perception-probe', 'pairs-by-change', i), 32);
    if (p) qas.push(p);
  }
  const right = (qa: PerceptionQa, swap: boolean, said: string) => said === (qa.truth === (swap ? 1 : 0) ? 'A' : 'B');
  const asked = qas.flatMap((qa) => [false, true].map((swap) => ({ qa, swap, images: swap ? [qa.images[1]!, qa.images[0]!] : qa.images })));
  const said: string[] = [];
  const notesRight: boolean[] = [];
  for (let b = 0; b < asked.length; b += 50) {
    const batch = asked.slice(b, b + 50);
    const r = generate(
      ck.model,
      batch.map((a) => {
        const instruction = think ? 'Think in <think></think>, then answer A or B in <answer></answer>.' : 'Answer A or B.';
        return { images: a.images, tokens: [tok!.bosId, ...tok!.encode(`${a.qa.question.replace(/\?$/, '')}, A (first) or B (second)? ${instruction}`, { parseSpecial: false })] };
      }),
      { maxNewTokens: think ? 48 : 4, eosId: tok!.eosId, temperature: 0 },
    );
    batch.forEach((_, k) => {
      const text = completionText(r.tokens.subarray(k * r.maxNewTokens, k * r.maxNewTokens + r.lengths[k]!), tok!).trim();
      said.push(think ? (/<answer>\s*([AB])\s*<\/answer>/.exec(text)?.[1] ?? '') : text);
      // Marks (": yes"/": no", corpus version 4) are not part of what was seen.
      const notes = /<think>(.*)<\/think>/.exec(text)?.[1]?.replace(/: (yes|no)\./g, '.');
      const a = batch[k]!;
      const [s0, s1] = a.swap ? [a.qa.scenes[1]!, a.qa.scenes[0]!] : a.qa.scenes;
      notesRight.push(notes === `A: ${noteObjects(s0!)}. B: ${noteObjects(s1!)}.`);
    });
  }
  const out: Record<string, ByChange> = {};
  for (const change of new Set(qas.map((q) => q.change!))) {
    const idx = qas.map((q, i) => (q.change === change ? i : -1)).filter((i) => i >= 0);
    const ok = idx.map((i) => [right(qas[i]!, false, said[2 * i]!), right(qas[i]!, true, said[2 * i + 1]!)]);
    out[change] = { pairs: idx.length, accuracyPct: pct(ok.flat().filter(Boolean).length, 2 * idx.length), positionConsistentPct: pct(ok.filter(([a, b]) => a && b).length, idx.length) };
    if (think) {
      const asks = idx.flatMap((i) => [2 * i, 2 * i + 1]);
      const good = asks.filter((j) => notesRight[j]);
      out[change]!.notesRightPct = pct(good.length, asks.length);
      out[change]!.accuracyWhenNotesRightPct = pct(good.filter((j) => right(qas[j >> 1]!, j % 2 === 1, said[j]!)).length, Math.max(good.length, 1));
    }
  }
  return out;
}

// "Do these notes fit …?" by what the noted scene changes ("faithful": nothing, answer yes): the
// comparison half of pair judging, per kind of difference, so a blind spot is not averaged away.
// With `unrelatedPicture` the same questions (same rng, same notes and answer) come with another
// scene's picture, so only the notes can decide: the text half of the comparison on its own.
function noteMatchByChange(n: number, unrelatedPicture = false): Record<string, { items: number; accuracyPct: number }> {
  const qas = Array.from({ length: n }, (_, i) => noteMatch(Rng.from('perception-probe', 'note-match-by-change', i), 32, undefined, { unrelatedPicture }));
  const said = directAnswers(qas.map((q) => ({ images: q.images, prompt: `${q.question} Answer yes or no.` })));
  const out: Record<string, { items: number; accuracyPct: number }> = {};
  for (const change of new Set(qas.map((q) => q.change ?? 'faithful'))) {
    const idx = qas.map((q, i) => ((q.change ?? 'faithful') === change ? i : -1)).filter((i) => i >= 0);
    out[change] = { items: idx.length, accuracyPct: pct(idx.filter((i) => said[i] === qas[i]!.answer).length, idx.length) };
  }
  return out;
}

const single = closedItems('perception', 200);
const pairs = closedItems('pair-perception', 200);
console.log(
  JSON.stringify({
    checkpoint: dir,
    scenes: items.length,
    objects,
    colourPct: pct(colour, objects),
    colourShapePct: pct(colourShape, objects),
    colourShapePositionPct: pct(colourShapeRegion, objects),
    objectCountPct: pct(countRight, items.length),
    singleClosedPct: closedAccuracy(single),
    pairClosedPct: closedAccuracy(pairs),
    // "Notes: … Do these notes fit …?" (text comparison, with the noted picture; chance 50 %).
    noteMatchPct: closedAccuracy(closedItems('note-match', 200)),
    noteMatchByChange: noteMatchByChange(600),
    // The same 600 with an unrelated picture: can the notes alone be compared?
    noteMatchTextByChange: noteMatchByChange(600, true),
    pairsByChange: pairsByChange(300, false),
    pairsByChangeThinking: pairsByChange(300, true),
  }),
);
ck.model.dispose();
