// From a starting checkpoint to trained checkpoints, one way for every caller (`mtrl-judge train`,
// runExperiment, pretraining): load the start (or resume from last/), build the trainer, train with
// best/ saved on every validation improvement and last/ every saveEvery steps, then write last/
// (weights, optimizer, trainer state) and best/ (the final weights when no evaluation chose one).
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { JudgeExample } from '../data/types.js';
import type { Device } from '../device.js';
import { loadCheckpoint, saveCheckpoint, type LoadedCheckpoint } from '../model/checkpoint.js';
import type { JudgeModel } from '../model/judge-model.js';
import type { Tokenizer } from '../model/tokenizer.js';
import type { Task } from '../tasks/task.js';
import type { GrpoConfig, SftConfig } from './config.js';
import { GrpoTrainer, type GrpoStepMetrics } from './grpo-trainer.js';
import { SftTrainer, type SftStepMetrics } from './sft-trainer.js';
import type { Trainer, TrainerHooks, TrainerState, TrainingResult } from './trainer.js';
import { finalAsBestState } from './training-log.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyTrainer = Trainer<any, any, any>;
type MetricsOf<T extends AnyTrainer> = T extends Trainer<infer _C, infer M, infer _S> ? M : never;

export interface TrainRunOptions<T extends AnyTrainer> {
  /** Where the weights start: a checkpoint folder (with its tokenizer), or a model and tokenizer in memory. */
  from: string | { model: JudgeModel; tokenizer: Tokenizer };
  device?: Device;
  /** Builds the trainer on the starting model; pass `hooks` on (they save best/ and last/ as training goes). */
  trainer: (model: JudgeModel, tokenizer: Tokenizer, hooks: TrainerHooks<MetricsOf<T>>) => T;
  /** The caller's callbacks (progress, metrics file, stop requests). */
  hooks?: TrainerHooks<MetricsOf<T>>;
  /** Written at the end and every saveEvery steps: weights, tokenizer, optimizer (unless saveOptimizer is false), state. Nothing is saved when undefined. */
  lastDir?: string;
  /** Best validation checkpoint; the final weights when no evaluation chose one. None when undefined. */
  bestDir?: string;
  /** Continue from lastDir when it holds a checkpoint (weights, optimizer, trainer state). */
  resume?: boolean;
  /** trainer_state.json of lastDir. Default: trainer.state(). */
  state?: (trainer: T) => Record<string, unknown>;
  /** Save the optimizer state in lastDir (default true; needed for an exact resume). */
  saveOptimizer?: boolean;
  /** Loads a checkpoint folder (default loadCheckpoint); `role` says which one, for error messages. */
  load?: (dir: string, role: 'start' | 'resume') => LoadedCheckpoint;
  /** Called once the trainer is built (and restored, when resuming), before the first step. */
  onStart?: (trainer: T, resumed: boolean) => void;
}

export interface TrainRunResult<T extends AnyTrainer> {
  trainer: T;
  /** The trained model (its final weights) and tokenizer. */
  model: JudgeModel;
  tokenizer: Tokenizer;
  result: TrainingResult;
}

function loadWithTokenizer(dir: string, device: Device | undefined): LoadedCheckpoint {
  const ck = loadCheckpoint(dir, { device: device ?? 'cpu' });
  if (!ck.tokenizer) throw new Error(`checkpoint ${dir} has no tokenizer.json`);
  return ck;
}

/** Trains from `from` to `lastDir` (and `bestDir`); see TrainRunOptions. */
export async function runTraining<T extends AnyTrainer>(o: TrainRunOptions<T>): Promise<TrainRunResult<T>> {
  const load = o.load ?? ((dir: string) => loadWithTokenizer(dir, o.device));
  const resumeFrom = o.resume && o.lastDir !== undefined && existsSync(path.join(o.lastDir, 'config.json')) ? load(o.lastDir, 'resume') : undefined;
  const start = resumeFrom ?? (typeof o.from === 'string' ? load(o.from, 'start') : o.from);
  const { model } = start;
  const tokenizer = start.tokenizer!;
  const hooks = o.hooks ?? {};
  const saveLast = (trainer: T) =>
    o.lastDir !== undefined &&
    saveCheckpoint(o.lastDir, {
      model,
      tokenizer,
      ...(o.saveOptimizer === false ? {} : { optimizer: trainer.optimizer }),
      trainerState: o.state ? o.state(trainer) : (trainer.state() as TrainerState),
    });
  const trainer: T = o.trainer(model, tokenizer, {
    ...hooks,
    onStep: (m) => {
      hooks.onStep?.(m);
      const every = trainer.config.saveEvery as number | undefined;
      if (every && every > 0 && m.step % every === 0) saveLast(trainer);
    },
    ...(o.bestDir !== undefined
      ? {
          onBest: async (step: number, f1: number) => {
            saveCheckpoint(o.bestDir!, { model, tokenizer });
            await hooks.onBest?.(step, f1);
          },
        }
      : {}),
  });
  if (resumeFrom) {
    resumeFrom.restoreOptimizer(trainer.optimizer);
    trainer.restore(resumeFrom.trainerState);
  }
  o.onStart?.(trainer, resumeFrom !== undefined);
  const result = await trainer.train();
  saveLast(trainer);
  // best/ always exists after training: saved when evaluation chose a best step, else the final weights.
  const bestSaved = result.bestStep > 0 && existsSync(path.join(o.bestDir ?? '', 'config.json'));
  if (o.bestDir !== undefined && !bestSaved && trainer.step > 0)
    saveCheckpoint(o.bestDir, { model, tokenizer, trainerState: finalAsBestState(trainer.step) });
  return { trainer, model, tokenizer, result };
}

export type TrainKind = 'grpo' | 'sft';

export interface TrainMethodOptions {
  /** GRPO (mt-rl, rl-single) or SFT (sft-unified, sft-single). */
  kind: TrainKind;
  /** Base checkpoint folder the judge starts from (also the frozen reference of the KL term). */
  base: string;
  /** Output folder: last/, best/ and metrics.jsonl. */
  dir: string;
  device?: Device;
  tasks: readonly Task[];
  train: readonly JudgeExample[];
  validation?: readonly JudgeExample[];
  grpo?: Partial<GrpoConfig>;
  sft?: Partial<SftConfig>;
  /** Overrides maxSteps of the method's config. */
  maxSteps?: number;
  resume?: boolean;
  /** Fields added to last/trainer_state.json besides the trainer's state (e.g. method and tasks). */
  stateFields?: Record<string, unknown>;
  /** Return best/ (loaded) instead of the final weights when an evaluation chose an earlier step. */
  returnBest?: boolean;
  hooks?: TrainerHooks<GrpoStepMetrics | SftStepMetrics>;
  load?: TrainRunOptions<AnyTrainer>['load'];
  onStart?: (trainer: GrpoTrainer | SftTrainer, resumed: boolean) => void;
}

/** Trains one judge with GRPO or SFT from `base` into `dir`/last and `dir`/best. */
export async function trainMethod(o: TrainMethodOptions): Promise<TrainRunResult<GrpoTrainer | SftTrainer>> {
  const steps = o.maxSteps !== undefined ? { maxSteps: o.maxSteps } : {};
  const data = { tasks: o.tasks, train: o.train, validation: o.validation ?? [], metricsFile: path.join(o.dir, 'metrics.jsonl') };
  // The KL term (beta > 0) anchors the policy to the base it started from, also on resume.
  const refModel = o.kind === 'grpo' && (o.grpo?.beta ?? 0) > 0 ? loadCheckpoint(o.base, { device: o.device ?? 'cpu', skipOptimizer: true }).model : undefined;
  try {
    const run = await runTraining<GrpoTrainer | SftTrainer>({
      from: o.base,
      ...(o.device !== undefined ? { device: o.device } : {}),
      lastDir: path.join(o.dir, 'last'),
      bestDir: path.join(o.dir, 'best'),
      ...(o.resume ? { resume: true } : {}),
      ...(o.load ? { load: o.load } : {}),
      ...(o.onStart ? { onStart: o.onStart } : {}),
      hooks: o.hooks ?? {},
      state: (t) => ({ ...(o.stateFields ?? {}), ...t.state() }),
      trainer: (model, tokenizer, hooks) =>
        o.kind === 'grpo'
          ? new GrpoTrainer({ model, tokenizer, ...data, ...(hooks as TrainerHooks<GrpoStepMetrics>), ...(refModel ? { refModel } : {}), config: { ...(o.grpo ?? {}), ...steps } })
          : new SftTrainer({ model, tokenizer, ...data, ...(hooks as TrainerHooks<SftStepMetrics>), config: { ...(o.sft ?? {}), ...steps } }),
    });
    const { bestStep, steps: done } = run.result;
    if (o.returnBest && bestStep > 0 && bestStep !== done) {
      run.model.dispose();
      return { ...run, model: loadCheckpoint(path.join(o.dir, 'best'), { device: o.device ?? 'cpu' }).model };
    }
    return run;
  } finally {
    refModel?.dispose();
  }
}
