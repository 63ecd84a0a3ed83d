// Where pair-alignment judging goes wrong, by the worse picture's generator error: for each pair of
// the suite's validation and test splits (the first 64, as `eval` takes them), asked in both orders
// with the task's own prompt, greedily: are both pictures' notes in <think> exactly what is drawn,
// are both marks (": yes" / ": no", the picture shows the prompt or not) right, is the answer right,
// and is it right in both orders (position-consistent, the issue-12 target). Notes and marks are
// what the base learnt to write (corpus version 4); a judge that writes something else counts as
// wrong there but is still scored on its answer. Answers are read strictly (<answer>A</answer>), so a
// total can differ by a pair from `eval`, which reads verdicts leniently.
// Usage: npx tsx scripts/pair-alignment-breakdown.ts [checkpoint, default models/base] [data seed, default 1]
import { noteObjects } from '../lib/data/perception.js';
import { generateExamples } from '../lib/data/suite.js';
import type { Scene } from '../lib/data/scene.js';
import { completionText, promptInput } from '../lib/judging/encode.js';
import { loadCheckpoint } from '../lib/model/checkpoint.js';
import { generate } from '../lib/model/generate.js';
import { TaskRegistry } from '../lib/tasks/index.js';
import { swapPair } from '../lib/tasks/task.js';

const dir = process.argv[2] ?? 'models/base';
const dataSeed = Number(process.argv[3] ?? 1);
const ck = loadCheckpoint(dir, { device: 'cpu', skipOptimizer: true });
const tok = ck.tokenizer;
if (!tok) throw new Error(`${dir} has no tokenizer.json`);
const task = new TaskRegistry().get('pair-alignment');
const OUTPUT = /<think>A: (.*?): (yes|no)\. B: (.*?): (yes|no)\.<\/think><answer>([AB])<\/answer>/;
const pct = (k: number, n: number) => Math.round((1000 * k) / Math.max(n, 1)) / 10;

interface Row { pairs: number; notesRightPct: number; marksRightPct: number; answerRightPct: number; positionConsistentPct: number }
const report: Record<string, Record<string, Row>> = {};
for (const split of ['validation', 'test'] as const) {
  const pairs = [...generateExamples('pair-alignment', split, { preset: 'small', seed: dataSeed, imageSize: 32 }, 64)];
  const asks = pairs.flatMap((e) => [e, swapPair(e)]);
  const texts: string[] = [];
  for (let b = 0; b < asks.length; b += 32) {
    const batch = asks.slice(b, b + 32);
    const r = generate(ck.model, batch.map((e) => promptInput(e, task, tok)), { maxNewTokens: 48, eosId: tok.eosId, temperature: 0 });
    batch.forEach((_, k) => texts.push(completionText(r.tokens.subarray(k * r.maxNewTokens, k * r.maxNewTokens + r.lengths[k]!), tok)));
  }
  const tally: Record<string, { pairs: number; notes: number; marks: number; answers: number; consistent: number }> = {};
  pairs.forEach((pair, i) => {
    const m = pair.meta as unknown as { truth: number; images: { scene: Scene; error?: string }[] };
    const right = [0, 1].map((o) => {
      const e = asks[2 * i + o]!;
      const em = e.meta as unknown as typeof m;
      const g = OUTPUT.exec(texts[2 * i + o]!);
      return {
        notes: !!g && g[1] === noteObjects(em.images[0]!.scene) && g[3] === noteObjects(em.images[1]!.scene),
        marks: !!g && g[2] === (em.images[0]!.error ? 'no' : 'yes') && g[4] === (em.images[1]!.error ? 'no' : 'yes'),
        answer: /<answer>\s*([AB])\s*<\/answer>/.exec(texts[2 * i + o]!)?.[1] === (e.label === 0 ? 'A' : 'B'),
      };
    });
    for (const key of [m.images[1 - m.truth]!.error ?? 'none', 'all']) {
      const t = (tally[key] ??= { pairs: 0, notes: 0, marks: 0, answers: 0, consistent: 0 });
      t.pairs++;
      for (const r of right) {
        t.notes += r.notes ? 0.5 : 0;
        t.marks += r.marks ? 0.5 : 0;
        t.answers += r.answer ? 0.5 : 0;
      }
      t.consistent += right[0]!.answer && right[1]!.answer ? 1 : 0;
    }
  });
  report[split] = Object.fromEntries(
    Object.entries(tally)
      .sort(([a], [b]) => (a === 'all' ? -1 : b === 'all' ? 1 : a.localeCompare(b)))
      .map(([k, t]) => [k, { pairs: t.pairs, notesRightPct: pct(t.notes, t.pairs), marksRightPct: pct(t.marks, t.pairs), answerRightPct: pct(t.answers, t.pairs), positionConsistentPct: pct(t.consistent, t.pairs) }]),
  );
}
console.log(JSON.stringify({ checkpoint: dir, dataSeed, ...report }, null, 1));
ck.model.dispose();
