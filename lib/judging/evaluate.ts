// evaluateJudge: runs a judge (greedy, or k samples with majority voting) over examples of any set of
// tasks and returns per-task tables: macro-F1 (the paper's metric), accuracy, format rate, and for
// pairwise tasks position-swap consistency (each pair judged in both orders), for graded tasks the
// Spearman correlation of the verdict with the rater mean.
import type { JudgeExample } from '../data/types.js';
import { classificationReport } from '../metrics/classification.js';
import { majorityVote, positionConsistency } from '../metrics/consistency.js';
import { spearman } from '../metrics/correlation.js';
import type { JudgeModel } from '../model/judge-model.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { makeRewardContext } from '../rewards/components.js';
import { swapPair, type Task } from '../tasks/task.js';
import { completionText, exampleImages, promptInput } from './encode.js';

export interface EvaluateOptions {
  /** Prompts per generation call (memory/speed trade-off). Default 32. */
  batchSize?: number;
  /** Longest judgment generated. Default 48 tokens. */
  maxNewTokens?: number;
  /** 0 (default) = greedy; > 0 samples at this temperature. */
  temperature?: number;
  /** Judgments per example (self-consistency; the majority verdict is scored). Default 1; > 1 needs temperature > 0. */
  samples?: number;
  /** Seed of the sampler (sampling only). Default 0. */
  seed?: number;
  /** Judge pairwise examples in both orders (position consistency). Default true. */
  swapPairs?: boolean;
  /** How many judged examples (output, verdict) each task's table keeps for reports. Default 8. */
  keepOutputs?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface JudgedExample {
  example: JudgeExample;
  output: string;
  verdict: number | null;
  formatOk: boolean;
  correct: boolean;
}

export interface TaskEvaluation {
  task: string;
  n: number;
  macroF1: number;
  /** Fraction judged correctly (`task.isCorrect`: equality, or within the tolerance of a score task); no verdict = wrong. */
  accuracy: number;
  /** Outputs the paper's format reward accepts: one think block, then one answer block holding exactly one verdict. */
  formatRate: number;
  /** Outputs with no verdict, read as the accuracy reward reads them (lenient parse). */
  invalidRate: number;
  /** Pairwise with swapPairs: fraction right in both orders (J1; no verdict = wrong). */
  positionConsistentAccuracy?: number;
  /** Pairwise with swapPairs: of the pairs with a verdict in both orders, fraction choosing the same image both times. */
  positionConsistency?: number;
  /** 1 − positionConsistency: the choice of image changes when the order is swapped. */
  flipRate?: number;
  /** Fraction of the k samples agreeing with the majority (sampling only). */
  selfConsistency?: number;
  /** Spearman correlation of the verdict with the rater mean score (tasks with graded ratings). */
  spearman?: number;
  examples: JudgedExample[];
  /** Every example's verdict in input order (null = none) and its label: what confidence intervals resample. */
  predictions: (number | null)[];
  gold: number[];
  /** Pairwise with swapPairs: the verdict on each pair shown in the other order (same order as `predictions`). */
  swappedPredictions?: (number | null)[];
}

interface Job {
  example: JudgeExample;
  task: Task;
}

/** Generates judgments for jobs in batches; returns the decoded outputs, `samples` per job. */
function judgeAll(
  model: JudgeModel,
  tokenizer: Tokenizer,
  jobs: Job[],
  opts: { batchSize: number; maxNewTokens: number; temperature: number; samples: number; seed: number; onProgress?: EvaluateOptions['onProgress'] },
): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < jobs.length; i += opts.batchSize) {
    const chunk = jobs.slice(i, i + opts.batchSize);
    const res = model.generate(
      chunk.map((j) => promptInput(j.example, j.task, tokenizer)),
      {
        numGenerations: opts.samples,
        maxNewTokens: opts.maxNewTokens,
        eosId: tokenizer.eosId,
        temperature: opts.temperature,
        seed: opts.seed,
        // Rows restart at 0 in every chunk: a distinct offset range per chunk keeps their draws independent.
        offset: (i / opts.batchSize) * opts.maxNewTokens,
      },
    );
    for (let p = 0; p < chunk.length; p++) {
      const texts: string[] = [];
      for (let g = 0; g < opts.samples; g++) texts.push(completionText(res.completion(p * opts.samples + g), tokenizer));
      out.push(texts);
    }
    opts.onProgress?.(Math.min(i + opts.batchSize, jobs.length), jobs.length);
  }
  return out;
}

/**
 * The verdict and format of one output, read exactly as the rewards read them: the verdict as the
 * accuracy reward does (lenient parse, lenient verdict matching), the format as the paper's format
 * reward does (strict structure and exactly one verdict of the task).
 */
function verdictOf(text: string, task: Task, example: JudgeExample): { verdict: number | null; formatOk: boolean } {
  const ctx = makeRewardContext({ completion: text, example, task });
  return { verdict: ctx.verdict('lenient'), formatOk: ctx.strict.ok && ctx.verdict('strict') !== null };
}

/**
 * Evaluates `model` on `examples` (any mix of tasks; each example's `task` must be in `tasks`).
 * Returns one table per task, in the order tasks first appear.
 */
export function evaluateJudge(
  model: JudgeModel,
  tokenizer: Tokenizer,
  tasks: ReadonlyMap<string, Task> | readonly Task[],
  examples: readonly JudgeExample[],
  opts: EvaluateOptions = {},
): Record<string, TaskEvaluation> {
  const fn = 'evaluateJudge';
  if (!model || typeof model.generate !== 'function') throw new TypeError(`${fn}: model must be a JudgeModel`);
  if (!tokenizer || typeof tokenizer.encode !== 'function') throw new TypeError(`${fn}: tokenizer must be a Tokenizer`);
  if (!Array.isArray(examples)) throw new TypeError(`${fn}: examples must be an array of JudgeExample`);
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${fn}: opts must be an object`);
  const taskMap = tasks instanceof Map ? (tasks as ReadonlyMap<string, Task>) : new Map((tasks as readonly Task[]).map((t) => [t.name, t]));
  const o = {
    batchSize: opts.batchSize ?? 32,
    maxNewTokens: opts.maxNewTokens ?? 48,
    temperature: opts.temperature ?? 0,
    samples: opts.samples ?? 1,
    seed: opts.seed ?? 0,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  };
  const keep = opts.keepOutputs ?? 8;
  for (const [k, v, min] of [
    ['batchSize', o.batchSize, 1],
    ['maxNewTokens', o.maxNewTokens, 1],
    ['samples', o.samples, 1],
    ['keepOutputs', keep, 0],
    ['seed', o.seed, 0],
  ] as const)
    if (!(Number.isInteger(v) && v >= min)) throw new RangeError(`${fn}: ${k} must be an integer ≥ ${min}, got ${v}`);
  if (!(o.temperature >= 0 && Number.isFinite(o.temperature))) throw new RangeError(`${fn}: temperature must be a finite number ≥ 0, got ${o.temperature}`);
  if (o.samples > 1 && !(o.temperature > 0)) throw new RangeError(`${fn}: samples > 1 needs temperature > 0 (greedy samples are identical)`);
  const swap = opts.swapPairs ?? true;
  const jobs: Job[] = [];
  const swappedJobs: Job[] = [];
  for (const ex of examples) {
    const task = taskMap.get(ex.task);
    if (!task) throw new RangeError(`evaluateJudge: example ${ex.id} has task "${ex.task}", which is not among the tasks given (${[...taskMap.keys()].join(', ')})`);
    exampleImages(ex, task); // the image count, checked before the pair is swapped
    jobs.push({ example: ex, task });
    if (swap && task.format === 'pairwise') swappedJobs.push({ example: swapPair(ex), task });
  }
  const all = [...jobs, ...swappedJobs];
  const outputs = all.length > 0 ? judgeAll(model, tokenizer, all, o) : [];
  const byTask = new Map<string, number[]>();
  jobs.forEach((j, i) => {
    if (!byTask.has(j.task.name)) byTask.set(j.task.name, []);
    byTask.get(j.task.name)!.push(i);
  });
  const swappedIndex = new Map<number, number>();
  let s = jobs.length;
  jobs.forEach((j, i) => {
    if (swap && j.task.format === 'pairwise') swappedIndex.set(i, s++);
  });

  const vote = (texts: string[], task: Task, example: JudgeExample): { verdicts: (number | null)[]; verdict: number | null; formatOk: number } => {
    const parsed = texts.map((t) => verdictOf(t, task, example));
    const verdicts = parsed.map((p) => p.verdict);
    const verdict = o.samples > 1 ? majorityVote([verdicts])[0]! : verdicts[0]!;
    return { verdicts, verdict, formatOk: parsed.filter((p) => p.formatOk).length / parsed.length };
  };
  const result: Record<string, TaskEvaluation> = {};
  for (const [name, idxs] of byTask) {
    const task = taskMap.get(name)!;
    const preds: (number | null)[] = [];
    const gold: number[] = [];
    const judged: JudgedExample[] = [];
    let formatOk = 0;
    let agree = 0;
    let correct = 0;
    for (const i of idxs) {
      const job = jobs[i]!;
      const v = vote(outputs[i]!, task, job.example);
      if (o.samples > 1 && v.verdict !== null) agree += v.verdicts.filter((x) => x === v.verdict).length / o.samples;
      formatOk += v.formatOk;
      const ok = v.verdict !== null && task.isCorrect(v.verdict, job.example);
      if (ok) correct++;
      preds.push(v.verdict);
      gold.push(job.example.label);
      if (judged.length < keep)
        judged.push({ example: job.example, output: outputs[i]![0]!, verdict: v.verdict, formatOk: verdictOf(outputs[i]![0]!, task, job.example).formatOk, correct: ok });
    }
    const labels = task.labels ? [...task.labels] : undefined;
    const rep = classificationReport(preds, gold, labels ? { labels } : {});
    const ev: TaskEvaluation = {
      task: name,
      n: idxs.length,
      macroF1: rep.macroF1,
      accuracy: correct / idxs.length,
      formatRate: formatOk / idxs.length,
      invalidRate: preds.filter((p) => p === null).length / idxs.length,
      examples: judged,
      predictions: preds,
      gold,
    };
    if (o.samples > 1) ev.selfConsistency = agree / idxs.length;
    if (swap && task.format === 'pairwise') {
      const swappedPreds = idxs.map((i) => vote(outputs[swappedIndex.get(i)!]!, task, swappedJobs[swappedIndex.get(i)! - jobs.length]!.example).verdict);
      const pc = positionConsistency(preds, swappedPreds, gold);
      ev.swappedPredictions = swappedPreds;
      ev.positionConsistentAccuracy = pc.positionConsistentAccuracy;
      ev.positionConsistency = pc.consistency;
      ev.flipRate = pc.flipRate;
    }
    if (task.format === 'binary') {
      const x: number[] = [];
      const y: number[] = [];
      idxs.forEach((i, k) => {
        const score = jobs[i]!.example.score;
        if (typeof score === 'number' && preds[k] !== null) {
          x.push(preds[k]!);
          y.push(score);
        }
      });
      if (x.length >= 3) {
        const r = spearman(x, y);
        if (Number.isFinite(r)) ev.spearman = r;
      }
    }
    result[name] = ev;
  }
  return result;
}
