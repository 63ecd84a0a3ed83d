// evaluateJudge: runs a judge (greedy, or k samples with majority voting) over examples of any set of
// tasks and returns per-task tables: macro-F1 (the paper's metric), accuracy, format rate, and for
// pairwise tasks position-swap consistency (each pair judged in both orders), for graded tasks the
// Spearman correlation of the verdict with the rater mean.
import type { JudgeExample } from '../data/types.js';
import { classificationReport, type Prediction } from '../metrics/classification.js';
import { majorityVote } from '../metrics/consistency.js';
import { positionConsistency } from '../metrics/consistency.js';
import { spearman } from '../metrics/correlation.js';
import type { JudgeModel } from '../model/judge-model.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { parseJudgeOutput } from '../rewards/parse.js';
import { swapPair, type Task } from '../tasks/task.js';
import { completionText, promptInput } from './encode.js';

export interface EvaluateOptions {
  /** Prompts per generation call (memory/speed trade-off). Default 32. */
  batchSize?: number;
  /** Longest judgment generated. Default 48 tokens. */
  maxNewTokens?: number;
  /** 0 (default) = greedy; > 0 samples `samples` judgments and takes the majority verdict. */
  temperature?: number;
  /** Judgments per example when sampling (self-consistency). Default 1. */
  samples?: number;
  seed?: number;
  /** Judge pairwise examples in both orders (position consistency). Default true. */
  swapPairs?: boolean;
  /** Keep every output (for reports). Default false: only the first `keepOutputs` per task. */
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
  accuracy: number;
  /** Strictly well-formed outputs (one think block, then one answer block). */
  formatRate: number;
  /** Outputs with no parsable verdict at all. */
  invalidRate: number;
  positionConsistentAccuracy?: number;
  flipRate?: number;
  /** Fraction of the k samples agreeing with the majority (sampling only). */
  selfConsistency?: number;
  /** Spearman correlation of the verdict with the rater mean score (tasks with graded ratings). */
  spearman?: number;
  examples: JudgedExample[];
}

interface Job {
  example: JudgeExample;
  task: Task;
}

/** Generates judgments for jobs in batches; returns the decoded outputs, `samples` per job. */
function judgeAll(model: JudgeModel, tokenizer: Tokenizer, jobs: Job[], opts: Required<Omit<EvaluateOptions, 'onProgress' | 'keepOutputs' | 'swapPairs'>> & EvaluateOptions): string[][] {
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
        offset: i * 1_000_003,
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

function verdictOf(text: string, task: Task): { verdict: number | null; formatOk: boolean } {
  const strict = parseJudgeOutput(text, { mode: 'strict' });
  const lenient = strict.ok ? strict : parseJudgeOutput(text, { mode: 'lenient' });
  const answer = lenient.answer;
  return { verdict: answer === null ? null : task.parseVerdict(answer), formatOk: strict.ok };
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
  const taskMap = tasks instanceof Map ? (tasks as ReadonlyMap<string, Task>) : new Map((tasks as readonly Task[]).map((t) => [t.name, t]));
  const o = {
    batchSize: opts.batchSize ?? 32,
    maxNewTokens: opts.maxNewTokens ?? 48,
    temperature: opts.temperature ?? 0,
    samples: opts.samples ?? 1,
    seed: opts.seed ?? 0,
    ...opts,
  };
  if (!(Number.isInteger(o.samples) && o.samples >= 1)) throw new RangeError(`evaluateJudge: samples must be an integer ≥ 1, got ${o.samples}`);
  if (o.samples > 1 && !(o.temperature > 0)) throw new RangeError('evaluateJudge: samples > 1 needs temperature > 0 (greedy samples are identical)');
  const swap = opts.swapPairs ?? true;
  const jobs: Job[] = [];
  const swappedJobs: Job[] = [];
  for (const ex of examples) {
    const task = taskMap.get(ex.task);
    if (!task) throw new RangeError(`evaluateJudge: example ${ex.id} has task "${ex.task}", which is not among the tasks given (${[...taskMap.keys()].join(', ')})`);
    jobs.push({ example: ex, task });
    if (swap && task.format === 'pairwise') swappedJobs.push({ example: swapPair(ex), task });
  }
  const all = [...jobs, ...swappedJobs];
  const outputs = judgeAll(model, tokenizer, all, { ...o, onProgress: opts.onProgress });
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

  const result: Record<string, TaskEvaluation> = {};
  for (const [name, idxs] of byTask) {
    const task = taskMap.get(name)!;
    const preds: Prediction[] = [];
    const gold: number[] = [];
    const judged: JudgedExample[] = [];
    let formatOk = 0;
    let agree = 0;
    for (const i of idxs) {
      const job = jobs[i]!;
      const parsed = outputs[i]!.map((t) => verdictOf(t, task));
      const votes = parsed.map((p) => p.verdict);
      const verdict = o.samples > 1 ? majorityVote([votes])[0]! : votes[0]!;
      if (o.samples > 1 && verdict !== null) agree += votes.filter((v) => v === verdict).length / o.samples;
      formatOk += parsed.filter((p) => p.formatOk).length / parsed.length;
      preds.push(verdict);
      gold.push(job.example.label);
      if (judged.length < (opts.keepOutputs ?? 8))
        judged.push({
          example: job.example,
          output: outputs[i]![0]!,
          verdict,
          formatOk: parsed[0]!.formatOk,
          correct: verdict !== null && task.isCorrect(verdict, job.example),
        });
    }
    const labels = task.labels ? [...task.labels] : undefined;
    const rep = classificationReport(preds, gold, labels ? { labels } : {});
    const ev: TaskEvaluation = {
      task: name,
      n: idxs.length,
      macroF1: rep.macroF1,
      accuracy: rep.accuracy,
      formatRate: formatOk / idxs.length,
      invalidRate: rep.invalidRate,
      examples: judged,
    };
    if (o.samples > 1) ev.selfConsistency = agree / idxs.length;
    if (swap && task.format === 'pairwise') {
      const swappedPreds = idxs.map((i) => {
        const j = swappedIndex.get(i)!;
        const texts = outputs[j]!;
        const votes = texts.map((t) => verdictOf(t, task).verdict);
        return o.samples > 1 ? majorityVote([votes])[0]! : votes[0]!;
      });
      const pc = positionConsistency(preds, swappedPreds, gold);
      ev.positionConsistentAccuracy = pc.positionConsistentAccuracy;
      ev.flipRate = pc.flipRate;
    }
    const graded = idxs.filter((i) => typeof jobs[i]!.example.score === 'number' && preds[idxs.indexOf(i)] !== null);
    if (task.format === 'binary' && graded.length >= 3) {
      const x = graded.map((i) => preds[idxs.indexOf(i)]!);
      const y = graded.map((i) => jobs[i]!.example.score!);
      const r = spearman(x, y);
      if (Number.isFinite(r)) ev.spearman = r;
    }
    result[name] = ev;
  }
  return result;
}
