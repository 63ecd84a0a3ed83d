// Exports judging data in the dataset layouts of distributed RL engines, so that verl or OpenRLHF can
// train a judge on our tasks with our rewards (served by `mtrl-judge serve`, /v1/rewards and
// /get_reward) and our multi-task mixing:
//
// - verl (RLHFDataset): Parquet files (verl-parquet.ts), one row per prompt with data_source = the
//   task, prompt = chat messages whose text holds one <image> marker per image, images = the
//   image files' bytes ({bytes, path}, as a Hugging Face Image feature) or their absolute paths
//   ({image}), reward_model = { style: "rule", ground_truth: the verdict word }, extra_info = { split,
//   index, id, task, label, sampling_weight }; plus reward_fn.py, a verl custom reward function that
//   asks our server for the reward of each completion. verl-jsonl: the same rows as JSONL with image
//   paths (for verl forks that read JSONL, e.g. EasyR1, and for reading).
// - OpenRLHF: one row per prompt with prompt = chat messages with image and text parts (Qwen-VL
//   message layout), prompt_text = the same with <image> placeholders, label = JSON {"task",
//   "label", "verdict"} (pass --label_key label; /get_reward reads it back), datasource = the task,
//   images = absolute paths, sampling_weight.
//
// Mixing: the training split is written as the stream of batches our MultiTaskScheduler draws
// (strategy, batch size, seed), in order, so an engine that reads it without shuffling sees our
// task mixture batch by batch; every row also carries sampling_weight = p_task / n_task (the
// scheduler's per-task probability spread over the task's examples) for engines that sample with
// weights, and weights.json records the probabilities. The validation and test splits are written
// whole.
import { createWriteStream, promises as fs } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { parseRecord, readLines, type JsonlRecord } from '../data/jsonl.js';
import { locateDataset } from '../data/load.js';
import { resolveInside } from '../data/safe-path.js';
import type { Split } from '../data/types.js';
import { MultiTaskScheduler } from '../scheduler/scheduler.js';
import type { BaseStrategyName } from '../scheduler/strategies.js';
import type { TaskRegistry } from '../tasks/registry.js';
import { writeVerlParquet, type VerlImageMode, type VerlRow } from './verl-parquet.js';

export type RlFormat = 'verl' | 'verl-jsonl' | 'openrlhf';
export const RL_FORMATS: readonly RlFormat[] = ['verl', 'verl-jsonl', 'openrlhf'];

export interface RlExportOptions {
  format: RlFormat;
  /** A dataset folder (or file) in our JSONL format. */
  data: string;
  /** Output folder. */
  out: string;
  registry: TaskRegistry;
  /** Only these tasks (default: every task in the data). */
  tasks?: readonly string[];
  /** Mixing strategy of the training stream. Default "proportional" (the paper's shuffled union). */
  strategy?: BaseStrategyName;
  /** τ of the "temperature" strategy. */
  temperature?: number;
  /** Weights per task for the "custom" strategy. */
  weights?: Readonly<Record<string, number>>;
  /** Prompts per batch. Default 16. */
  batchSize?: number;
  /** Batches written. Default: enough for one pass over the training examples. */
  steps?: number;
  seed?: number;
  /** The serve URL reward_fn.py posts to (verl). Default http://127.0.0.1:8080. */
  rewardUrl?: string;
  /** verl parquet: store the image files' bytes in the rows ("embed", default) or their absolute paths. */
  verlImages?: VerlImageMode;
  overwrite?: boolean;
}

export interface RlExportSummary {
  dir: string;
  files: Partial<Record<Split, string>>;
  rows: Partial<Record<Split, number>>;
  probabilities: Record<string, number>;
  sizes: Record<string, number>;
  steps: number;
  batchSize: number;
}

interface Row {
  record: JsonlRecord;
  images: string[];
}

async function readRecords(data: string, registry: TaskRegistry, tasks: readonly string[] | undefined): Promise<Row[]> {
  const loc = await locateDataset(data);
  const formats = new Map(registry.list().map((t) => [t.name, t.format] as const));
  const rows: Row[] = [];
  for (const file of loc.files) {
    for await (const { text, line } of readLines(file)) {
      if (text.trim() === '') continue;
      const record = parseRecord(text, file, line, formats);
      if (tasks && !tasks.includes(record.task)) continue;
      const images: string[] = [];
      for (const rel of record.images) images.push(await resolveInside(loc.root, path.dirname(file), rel, file, line, 'image'));
      rows.push({ record, images });
    }
  }
  return rows;
}

function imagePrefix(n: number): string {
  return n === 1 ? '<image>\n' : Array.from({ length: n }, (_, i) => `Image ${String.fromCharCode(65 + i)}: <image>\n`).join('');
}

async function writeJsonl(file: string, lines: Iterable<unknown>): Promise<number> {
  const out = createWriteStream(file);
  let n = 0;
  for (const l of lines) {
    if (!out.write(JSON.stringify(l) + '\n')) await once(out, 'drain');
    n++;
  }
  out.end();
  await once(out, 'finish');
  return n;
}

/** Writes `<out>/{train,validation,test}.parquet` (verl) or `.jsonl` (verl-jsonl, openrlhf), weights.json and (verl) reward_fn.py. */
export async function exportForRl(o: RlExportOptions): Promise<RlExportSummary> {
  if (!RL_FORMATS.includes(o.format)) throw new RangeError(`data export: --format must be ${RL_FORMATS.join(', ')}, got ${JSON.stringify(o.format)}`);
  const verlImages = o.verlImages ?? 'embed';
  if (verlImages !== 'embed' && verlImages !== 'path') throw new RangeError(`data export: --verl-images must be embed or path, got ${JSON.stringify(verlImages)}`);
  const ext = o.format === 'verl' ? 'parquet' : 'jsonl';
  const batchSize = o.batchSize ?? 16;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`data export: --batch-size must be an integer ≥ 1, got ${batchSize}`);
  const rows = await readRecords(o.data, o.registry, o.tasks);
  const bySplit: Record<Split, Row[]> = { train: [], validation: [], test: [] };
  for (const r of rows) bySplit[r.record.split ?? 'train'].push(r);
  if (bySplit.train.length === 0) throw new RangeError(`data export: ${o.data} has no training examples${o.tasks ? ` for tasks ${o.tasks.join(', ')}` : ''}`);

  await fs.mkdir(o.out, { recursive: true });
  if (!o.overwrite) {
    for (const f of [`train.${ext}`, 'weights.json']) {
      if (await fs.stat(path.join(o.out, f)).then(() => true, () => false)) throw new Error(`data export: ${path.join(o.out, f)} already exists; pass --overwrite to replace it`);
    }
  }

  // The scheduler over the training split: the same mixing GrpoTrainer applies.
  const byTask = new Map<string, Row[]>();
  for (const r of bySplit.train) {
    const list = byTask.get(r.record.task) ?? [];
    list.push(r);
    byTask.set(r.record.task, list);
  }
  const strategy = o.strategy ?? 'proportional';
  const scheduler = new MultiTaskScheduler<Row>({
    tasks: [...byTask].map(([name, examples]) => ({ name, examples, ...(strategy === 'custom' ? { weight: o.weights?.[name] ?? NaN } : {}) })),
    batchSize,
    strategy,
    ...(strategy === 'temperature' ? { temperature: o.temperature ?? 2 } : {}),
    seed: o.seed ?? 0,
  });
  const probabilities = scheduler.probabilities();
  const sizes = Object.fromEntries([...byTask].map(([t, l]) => [t, l.length]));
  const weightOf = (task: string) => (probabilities[task] ?? 0) / (sizes[task] ?? 1);
  const steps = o.steps ?? Math.ceil(bySplit.train.length / batchSize);
  if (!(Number.isInteger(steps) && steps >= 1)) throw new RangeError(`data export: --steps must be an integer ≥ 1, got ${steps}`);

  const toRow = (r: Row, split: Split, index: number): Record<string, unknown> | VerlRow => {
    const task = o.registry.get(r.record.task);
    const question = task.buildPrompt({ id: r.record.id, task: task.name, format: task.format, images: [], label: r.record.label, ...(r.record.prompt !== undefined ? { prompt: r.record.prompt } : {}) });
    const verdict = task.verdictFor(r.record.label);
    const w = split === 'train' ? weightOf(task.name) : 1;
    if (o.format === 'verl' || o.format === 'verl-jsonl') {
      const row: VerlRow = {
        data_source: task.name,
        prompt: [{ role: 'user', content: imagePrefix(r.images.length) + question }],
        images: r.images,
        ability: 'judge',
        reward_model: { style: 'rule', ground_truth: verdict },
        extra_info: { split, index, id: r.record.id, task: task.name, label: r.record.label, sampling_weight: w },
      };
      return o.format === 'verl' ? row : { ...row, images: r.images.map((p) => ({ image: p })) };
    }
    return {
      prompt: [{ role: 'user', content: [...r.images.map((p) => ({ type: 'image', image: `file://${p}` })), { type: 'text', text: question }] }],
      prompt_text: imagePrefix(r.images.length) + question,
      images: r.images,
      label: JSON.stringify({ task: task.name, label: r.record.label, verdict }),
      datasource: task.name,
      id: r.record.id,
      sampling_weight: w,
    };
  };

  const files: RlExportSummary['files'] = {};
  const counts: RlExportSummary['rows'] = {};
  // Training: the scheduler's batches in order.
  const trainRows = function* () {
    let i = 0;
    for (let s = 0; s < steps; s++) for (const it of scheduler.next().items) yield toRow(it.example!, 'train', i++);
  };
  const write = (file: string, rows: Iterable<Record<string, unknown> | VerlRow>) =>
    o.format === 'verl' ? writeVerlParquet(file, rows as Iterable<VerlRow>, verlImages) : writeJsonl(file, rows);
  counts.train = await write(path.join(o.out, `train.${ext}`), trainRows());
  files.train = `train.${ext}`;
  for (const split of ['validation', 'test'] as const) {
    if (bySplit[split].length === 0) continue;
    counts[split] = await write(path.join(o.out, `${split}.${ext}`), bySplit[split].map((r, i) => toRow(r, split, i)));
    files[split] = `${split}.${ext}`;
  }
  const summary: RlExportSummary = { dir: o.out, files, rows: counts, probabilities, sizes, steps, batchSize };
  await fs.writeFile(
    path.join(o.out, 'weights.json'),
    JSON.stringify(
      {
        format: o.format,
        source: path.resolve(o.data),
        strategy,
        ...(strategy === 'temperature' ? { temperature: o.temperature ?? 2 } : {}),
        seed: o.seed ?? 0,
        batchSize,
        steps,
        probabilities,
        sizes,
        perExampleWeight: Object.fromEntries(Object.keys(sizes).map((t) => [t, weightOf(t)])),
        ...(o.format === 'verl' ? { images: verlImages } : {}),
        note: `train.${ext} is the scheduler stream (steps × batchSize rows, in order: read it without shuffling); sampling_weight = p_task / n_task for weighted samplers`,
      },
      null,
      2,
    ) + '\n',
  );
  if (o.format !== 'openrlhf') await fs.writeFile(path.join(o.out, 'reward_fn.py'), verlRewardFn(o.rewardUrl ?? 'http://127.0.0.1:8080'));
  return summary;
}

/** verl custom reward function: POSTs completions to `mtrl-judge serve`'s /v1/rewards (stdlib only). */
function verlRewardFn(url: string): string {
  return `# verl custom reward function for mtrl-judge tasks, written by \`mtrl-judge data export --format verl\`.
# The reward of a completion is computed by \`mtrl-judge serve\` (POST /v1/rewards) with the same reward
# components as mtrl-judge's GrpoTrainer (each task's rewards, e.g. 0.9*accuracy + 0.1*format).
#   custom_reward_function.path=<this file> custom_reward_function.name=compute_score            (naive reward manager)
#   custom_reward_function.name=compute_score_batch reward_model.reward_manager=batch            (one request per batch)
# Set MTRL_REWARD_URL to the server (default ${url}) and MTRL_API_KEY when it needs a key.
import json
import os
import urllib.request

URL = os.environ.get("MTRL_REWARD_URL", ${JSON.stringify(url)}).rstrip("/") + "/v1/rewards"
KEY = os.environ.get("MTRL_API_KEY")


def _post(items):
    req = urllib.request.Request(URL, data=json.dumps({"items": items}).encode("utf-8"), method="POST")
    req.add_header("Content-Type", "application/json")
    if KEY:
        req.add_header("Authorization", "Bearer " + KEY)
    with urllib.request.urlopen(req, timeout=float(os.environ.get("MTRL_REWARD_TIMEOUT", "120"))) as resp:
        return json.loads(resp.read().decode("utf-8"))


def _results(out, n):
    rows = []
    for i in range(n):
        total = out["rewards"][i]
        row = {"score": float(total) if total is not None else 0.0}
        for name, values in out["components"].items():
            row[name] = float(values[i]) if values[i] is not None else 0.0
        rows.append(row)
    return rows


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    out = _post([{"completion": solution_str, "task": data_source, "label": ground_truth}])
    return _results(out, 1)[0]


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, **kwargs):
    items = [{"completion": s, "task": d, "label": g} for d, s, g in zip(data_sources, solution_strs, ground_truths)]
    return _results(_post(items), len(items))
`;
}
