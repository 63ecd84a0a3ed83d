// Training a judge on your own data: a folder in the JSONL format, a custom task, and a custom
// reward next to the paper's composite reward. Run from a source checkout after `npm ci`:
//   npx tsx examples/custom-task.ts [base checkpoint, default models/base]
// It writes a small "brightness" dataset to runs/example-custom/data, trains a few GRPO steps and
// prints the judge's accuracy before and after.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import {
  GrpoTrainer,
  RewardModel,
  TaskRegistry,
  evaluateJudge,
  loadCheckpoint,
  loadDataset,
  paperRewards,
  parseJudgeOutput,
  type RewardContext,
} from 'mtrl-judge';

const base = process.argv[2] ?? 'models/base';
const dir = path.resolve('runs/example-custom/data');

// 1. A dataset: bright and dark images, label 1 = "bright".
mkdirSync(path.join(dir, 'images'), { recursive: true });
for (const split of ['train', 'test'] as const) {
  const lines: string[] = [];
  const n = split === 'train' ? 64 : 32;
  for (let i = 0; i < n; i++) {
    const bright = i % 2 === 0;
    const level = bright ? 170 + ((i * 37) % 80) : 10 + ((i * 53) % 80);
    const file = `images/${split}-${i}.png`;
    await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: level, g: level, b: (level * 3) >> 2 } } })
      .png()
      .toFile(path.join(dir, file));
    lines.push(JSON.stringify({ id: `${split}-${i}`, task: 'brightness', format: 'binary', images: [file], label: bright ? 1 : 0, split }));
  }
  writeFileSync(path.join(dir, `${split}.jsonl`), lines.join('\n') + '\n');
}

// 2. A custom task (a plain object, validated) with the paper's reward plus a custom component.
const registry = new TaskRegistry();
const task = registry.register({
  name: 'brightness',
  format: 'binary',
  description: 'Is the image bright?',
  question: 'Is this image bright?',
  rewards: [...paperRewards(0.1), { name: 'brief', weight: 0.05 }],
});
// Custom rewards may be async and may return null ("not applicable": left out of the group baseline).
const brief = async (ctx: RewardContext) => {
  const think = parseJudgeOutput(ctx.completion, { mode: 'strict' }).think;
  return think === null ? null : think.length <= 40 ? 1 : 0;
};

// 3. Load the folder (images resized to the model's size) and the base model.
const examples = await loadDataset(dir, { tasks: { brightness: 'binary' }, imageSize: 32 });
const train = examples.filter((e) => e.split === 'train');
const test = examples.filter((e) => e.split === 'test');
const ck = loadCheckpoint(base);
const tokenizer = ck.tokenizer!;
const before = evaluateJudge(ck.model, tokenizer, [task], test, { maxNewTokens: 24 }).brightness!;

// 4. GRPO with the custom reward.
const trainer = new GrpoTrainer({
  model: ck.model,
  tokenizer,
  tasks: [task],
  train,
  rewardModel: new RewardModel({ custom: { brief } }),
  config: { maxSteps: 8, batchSize: 8, numGenerations: 4, maxCompletionLength: 24, learningRate: 3e-4 },
  // `brief` is null ("not applicable") for outputs without a think block: a batch with none has no mean.
  onStep: (m) => {
    const b = m.components.brief;
    console.log(`step ${m.step}: reward ${m.rewardMean.toFixed(3)} (brief ${b !== undefined && Number.isFinite(b) ? b.toFixed(2) : 'n/a: no think block in this batch'})`);
  },
});
await trainer.train();
const after = evaluateJudge(ck.model, tokenizer, [task], test, { maxNewTokens: 24 }).brightness!;
console.log(`accuracy ${(100 * before.accuracy).toFixed(1)}% → ${(100 * after.accuracy).toFixed(1)}%, format ${(100 * before.formatRate).toFixed(0)}% → ${(100 * after.formatRate).toFixed(0)}%`);
ck.model.dispose();
