// The paper's comparison: off-the-shelf (the base model zero-shot), SFT-Single (one model per task),
// SFT-Unified, RL-Single (GRPO per task) and MT-RL-Judge (GRPO on the union of the tasks), all from
// the same base checkpoint with the same data and step budget, each evaluated in-distribution
// (macro-F1 per task) and — for the methods that produce one judge — on the pairwise OOD tasks.
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { JudgeExample } from '../data/types.js';
import { evaluateJudge, type EvaluateOptions, type TaskEvaluation } from '../judging/evaluate.js';
import { loadCheckpoint } from '../model/checkpoint.js';
import type { JudgeModel } from '../model/judge-model.js';
import type { Tokenizer } from '../model/tokenizer.js';
import type { ExampleJudgment, MethodReport, TaskScore, CurvePoint } from '../report/report.js';
import type { GrpoConfig, SftConfig } from '../rl/config.js';
import type { GrpoStepMetrics } from '../rl/grpo-trainer.js';
import { trainMethod } from '../rl/train-run.js';
import type { Task } from '../tasks/task.js';
import type { Device } from '../device.js';

export const METHODS = ['off-the-shelf', 'sft-single', 'sft-unified', 'rl-single', 'mt-rl'] as const;
export type MethodName = (typeof METHODS)[number];

export const METHOD_LABELS: Record<MethodName, string> = {
  'off-the-shelf': 'Base (off-the-shelf)',
  'sft-single': 'SFT-Single',
  'sft-unified': 'SFT-Unified',
  'rl-single': 'RL-Single',
  'mt-rl': 'MT-RL-Judge',
};

export interface ExperimentData {
  train: readonly JudgeExample[];
  validation: readonly JudgeExample[];
  test: readonly JudgeExample[];
}

export interface MethodProgress {
  method: MethodName;
  /** The task a single-task model trains on. */
  task?: string;
  phase: 'train' | 'eval';
  step: number;
  total: number;
  reward?: number;
  accuracy?: number;
  loss?: number;
}

export interface ExperimentOptions {
  /** Folder of the base checkpoint every method starts from. */
  base: string;
  methods: readonly MethodName[];
  tasks: readonly Task[];
  inDistribution: readonly string[];
  outOfDistribution: readonly string[];
  data: ExperimentData;
  grpo?: Partial<GrpoConfig>;
  sft?: Partial<SftConfig>;
  /** Single-task methods get this many steps per task (default: the unified budget, grpo/sft maxSteps). */
  singleTaskSteps?: number;
  evaluation?: EvaluateOptions & { maxExamplesPerTask?: number };
  outDir: string;
  device?: Device;
  onProgress?: (p: MethodProgress) => void;
  /** Checked between steps: true stops training (checkpoints are still written). */
  shouldStop?: () => boolean;
}

function limitPerTask(examples: readonly JudgeExample[], tasks: readonly string[], max?: number): JudgeExample[] {
  const count = new Map<string, number>();
  return examples.filter((e) => {
    if (!tasks.includes(e.task)) return false;
    const n = count.get(e.task) ?? 0;
    if (max !== undefined && max > 0 && n >= max) return false;
    count.set(e.task, n + 1);
    return true;
  });
}

function toScore(e: TaskEvaluation, task: Task | undefined): TaskScore {
  return {
    macroF1: e.macroF1,
    accuracy: e.accuracy,
    n: e.n,
    formatRate: e.formatRate,
    verdictRate: 1 - e.invalidRate,
    ...(e.positionConsistentAccuracy !== undefined ? { positionConsistentAccuracy: e.positionConsistentAccuracy } : {}),
    ...(e.flipRate !== undefined ? { flipRate: e.flipRate } : {}),
    ...(e.spearman !== undefined ? { spearman: e.spearman } : {}),
    raw: {
      pred: e.predictions,
      gold: e.gold,
      ...(e.swappedPredictions ? { swapped: e.swappedPredictions } : {}),
      ...(task?.labels ? { labels: [...task.labels] } : {}),
    },
  };
}

export async function pngOf(img: { width: number; height: number; data: Uint8Array }): Promise<Uint8Array> {
  return new Uint8Array(await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer());
}

async function examplesFrom(method: string, evals: Record<string, TaskEvaluation>, tasks: Map<string, Task>, perTask = 1): Promise<ExampleJudgment[]> {
  const out: ExampleJudgment[] = [];
  for (const [name, ev] of Object.entries(evals)) {
    const task = tasks.get(name)!;
    for (const j of ev.examples.slice(0, perTask)) {
      out.push({
        method,
        task: name,
        ...(j.example.prompt ? { prompt: j.example.prompt } : {}),
        imagesPng: await Promise.all(j.example.images.map(pngOf)),
        output: j.output,
        verdict: j.verdict === null ? null : task.verdictFor(j.verdict),
        label: task.verdictFor(j.example.label),
        correct: j.correct,
      });
    }
  }
  return out;
}

function grpoCurves(steps: GrpoStepMetrics[]): CurvePoint[] {
  const pts: CurvePoint[] = [];
  for (const m of steps) {
    for (const [task, v] of Object.entries(m.perTask)) {
      pts.push({ step: m.step, task, metric: 'reward', value: v.reward });
      if (v.accuracy !== undefined) pts.push({ step: m.step, task, metric: 'accuracy', value: v.accuracy });
    }
  }
  return pts;
}

export interface ExperimentResult {
  methods: MethodReport[];
  examples: ExampleJudgment[];
}

/** Runs the chosen methods one after the other; writes each trained judge under outDir/<method>[/<task>]. */
export async function runExperiment(o: ExperimentOptions): Promise<ExperimentResult> {
  const taskMap = new Map(o.tasks.map((t) => [t.name, t]));
  const evalOpts = { ...(o.evaluation ?? {}), keepOutputs: 4 };
  const idTest = limitPerTask(o.data.test, o.inDistribution, o.evaluation?.maxExamplesPerTask);
  const oodTest = limitPerTask(o.data.test, o.outOfDistribution, o.evaluation?.maxExamplesPerTask);
  const idTasks = o.inDistribution.map((n) => taskMap.get(n)!);
  const trainFor = (tasks: readonly string[]) => o.data.train.filter((e) => tasks.includes(e.task));
  const valFor = (tasks: readonly string[]) => o.data.validation.filter((e) => tasks.includes(e.task));
  const reports: MethodReport[] = [];
  const examples: ExampleJudgment[] = [];

  const load = (): { model: JudgeModel; tokenizer: Tokenizer } => {
    const ck = loadCheckpoint(o.base, { device: o.device ?? 'cpu', skipOptimizer: true });
    if (!ck.tokenizer) throw new Error(`runExperiment: base checkpoint ${o.base} has no tokenizer.json`);
    return { model: ck.model, tokenizer: ck.tokenizer };
  };
  const evaluate = (method: MethodName, model: JudgeModel, tokenizer: Tokenizer, examplesToJudge: JudgeExample[]) => {
    let done = 0;
    return evaluateJudge(model, tokenizer, taskMap, examplesToJudge, {
      ...evalOpts,
      onProgress: (d, total) => {
        done = d;
        o.onProgress?.({ method, phase: 'eval', step: done, total });
      },
    });
  };

  /** Trains one judge on `tasks` with SFT or GRPO; returns the model (best validation checkpoint when evaluated). */
  const trainOne = async (method: MethodName, kind: 'sft' | 'grpo', tasks: readonly string[], steps: number | undefined, dir: string) => {
    const t0 = performance.now();
    const curves: CurvePoint[] = [];
    const single = tasks.length === 1 ? tasks[0] : undefined;
    let total = 0;
    const progress = (m: { step: number }, extra: Partial<MethodProgress>) =>
      o.onProgress?.({ method, ...(single ? { task: single } : {}), phase: 'train', step: m.step, total, ...extra });
    const run = await trainMethod({
      kind,
      base: o.base,
      dir,
      device: o.device ?? 'cpu',
      tasks: tasks.map((n) => taskMap.get(n)!),
      train: trainFor(tasks),
      validation: valFor(tasks),
      ...(o.grpo ? { grpo: o.grpo } : {}),
      ...(o.sft ? { sft: o.sft } : {}),
      ...(steps !== undefined ? { maxSteps: steps } : {}),
      returnBest: true,
      onStart: (trainer) => {
        total = trainer.config.maxSteps;
      },
      hooks: {
        ...(o.shouldStop ? { shouldStop: o.shouldStop } : {}),
        onStep: (m) => {
          if ('rewardMean' in m) {
            curves.push(...grpoCurves([m]));
            const acc = Object.values(m.perTask).map((v) => v.accuracy ?? NaN);
            progress(m, { reward: m.rewardMean, accuracy: acc.reduce((a, b) => a + b, 0) / acc.length });
          } else {
            curves.push({ step: m.step, task: single ?? 'all', metric: 'loss', value: m.loss });
            progress(m, { loss: m.loss });
          }
        },
      },
    });
    return { model: run.model, tokenizer: run.tokenizer, curves, trainSteps: run.result.steps, seconds: (performance.now() - t0) / 1000 };
  };

  for (const method of o.methods) {
    if (o.shouldStop?.()) break;
    const report: MethodReport = { method, label: METHOD_LABELS[method], inDistribution: {}, outOfDistribution: {} };
    if (method === 'off-the-shelf' || method === 'sft-unified' || method === 'mt-rl') {
      const trained =
        method === 'off-the-shelf'
          ? { ...load(), curves: [] as CurvePoint[], trainSteps: 0, seconds: 0 }
          : await trainOne(method, method === 'mt-rl' ? 'grpo' : 'sft', o.inDistribution, undefined, path.join(o.outDir, method));
      const id = evaluate(method, trained.model, trained.tokenizer, idTest);
      const ood = oodTest.length ? evaluate(method, trained.model, trained.tokenizer, oodTest) : {};
      for (const [k, v] of Object.entries(id)) report.inDistribution[k] = toScore(v, taskMap.get(k));
      for (const [k, v] of Object.entries(ood)) report.outOfDistribution[k] = toScore(v, taskMap.get(k));
      report.curves = trained.curves;
      report.trainSteps = trained.trainSteps;
      report.trainSeconds = trained.seconds;
      examples.push(...(await examplesFrom(METHOD_LABELS[method], { ...id, ...ood }, taskMap)));
      trained.model.dispose();
    } else {
      // One judge per task, each evaluated on its own task (they have no single judge for the OOD tasks).
      report.curves = [];
      report.trainSteps = 0;
      report.trainSeconds = 0;
      for (const task of idTasks) {
        const steps = o.singleTaskSteps;
        const trained = await trainOne(method, method === 'rl-single' ? 'grpo' : 'sft', [task.name], steps, path.join(o.outDir, method, task.name));
        const ev = evaluate(method, trained.model, trained.tokenizer, idTest.filter((e) => e.task === task.name));
        for (const [k, v] of Object.entries(ev)) report.inDistribution[k] = toScore(v, taskMap.get(k));
        report.curves.push(...trained.curves);
        report.trainSteps += trained.trainSteps;
        report.trainSeconds += trained.seconds;
        trained.model.dispose();
        if (o.shouldStop?.()) break;
      }
    }
    reports.push(report);
  }
  return { methods: reports, examples };
}

/** One line describing the machine for reports. */
export function machineLine(device: Device = 'cpu'): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'cpu';
  return `${device === 'cpu' ? `${cpu}, ${os.cpus().length} threads` : device} · Node ${process.version}`;
}
