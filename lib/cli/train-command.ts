// `mtrl-judge train`: trains one judge (mt-rl, sft-unified) or one per task (rl-single, sft-single)
// from a base checkpoint, with progress bars, periodic checkpoints, Ctrl-C → save → exit, and --resume.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { JudgeExample } from '../data/types.js';
import { loadCheckpoint, saveCheckpoint } from '../model/checkpoint.js';
import { formatTable } from '../metrics/table.js';
import { GrpoTrainer, type GrpoTrainerState } from '../rl/grpo-trainer.js';
import { SftTrainer } from '../rl/sft-trainer.js';
import { finalAsBestState } from '../rl/training-log.js';
import { registryFor, type RunConfig } from './config.js';
import { checkpointFor, CliError, datasetFor } from './errors.js';
import { loadData } from './load-data.js';
import { createProgress } from './progress.js';
import { cliDevice } from './resolve.js';

export interface TrainFlags {
  method: 'mt-rl' | 'rl-single' | 'sft-unified' | 'sft-single';
  data?: string;
  steps?: number;
  resume: boolean;
}

/**
 * best/ always exists after training: when evaluation chose a best step (evalEvery > 0 with a
 * validation set) it was saved then; otherwise the final weights are saved as best/ too.
 */
function saveBestIfUnselected(dir: string, bestStep: number, step: number, save: () => void): void {
  if (bestStep > 0 && existsSync(path.join(dir, 'best', 'config.json'))) return;
  if (step > 0) save();
}

export async function trainCommand(cfg: RunConfig, flags: TrainFlags): Promise<void> {
  const device = cliDevice(cfg.device);
  const data = await datasetFor(flags.data ? '--data' : 'config data.dir', () => loadData(cfg, flags.data));
  const registry = registryFor(cfg);
  const single = flags.method.endsWith('-single');
  const groups = single ? cfg.inDistribution.map((t) => [t]) : [cfg.inDistribution];
  const progress = createProgress();
  let stopRequested = false;
  let requestStop: (() => void) | undefined;
  process.on('SIGINT', () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    progress.log('\ninterrupted: finishing the current step, then saving a checkpoint (Ctrl-C again to quit now)');
    requestStop?.();
  });
  progress.log(`data: ${data.description}; base: ${cfg.base}`);
  for (const tasks of groups) {
    if (stopRequested) break;
    const dir = single ? path.join(cfg.out, flags.method, tasks[0]!) : path.join(cfg.out, flags.method);
    const lastDir = path.join(dir, 'last');
    const resumeFrom = flags.resume && existsSync(lastDir) ? lastDir : undefined;
    if (flags.resume && !resumeFrom) progress.log(`--resume: no checkpoint at ${lastDir}; starting from ${cfg.base}`);
    const ck = resumeFrom
      ? checkpointFor('--resume', resumeFrom, `delete ${lastDir} to start over from --base`, () => loadCheckpoint(resumeFrom, { device }))
      : checkpointFor('--base', cfg.base, `pass --base <checkpoint folder>, or run \`mtrl-judge pretrain --out ${cfg.base}\` first`, () => loadCheckpoint(cfg.base, { device }));
    if (!ck.tokenizer) throw new CliError(resumeFrom ? '--resume' : '--base', `${resumeFrom ?? cfg.base} has no tokenizer.json`, 'pass a checkpoint written by mtrl-judge pretrain or train', { exitCode: 1 });
    const { model, tokenizer } = ck;
    const taskList = tasks.map((t) => registry.get(t));
    const train = data.train.filter((e: JudgeExample) => tasks.includes(e.task));
    const validation = data.validation.filter((e: JudgeExample) => tasks.includes(e.task));
    const label = single ? `${flags.method} ${tasks[0]}` : flags.method;
    const isRl = flags.method === 'mt-rl' || flags.method === 'rl-single';
    const saveLast = (trainer: GrpoTrainer | SftTrainer) =>
      saveCheckpoint(lastDir, { model, tokenizer, optimizer: trainer.optimizer, trainerState: { method: flags.method, tasks, ...trainer.state() } });
    if (isRl) {
      // The KL term (beta > 0) anchors the policy to the base model it started from, also on resume.
      const refModel = (cfg.grpo.beta ?? 0) > 0 ? loadCheckpoint(cfg.base, { device, skipOptimizer: true }).model : undefined;
      const trainer: GrpoTrainer = new GrpoTrainer({
        model,
        ...(refModel ? { refModel } : {}),
        tokenizer,
        tasks: taskList,
        train,
        validation,
        config: { ...cfg.grpo, ...(flags.steps !== undefined ? { maxSteps: flags.steps } : {}) },
        metricsFile: path.join(dir, 'metrics.jsonl'),
        onStep: (m) => {
          const acc = Object.values(m.perTask).map((v) => v.accuracy ?? NaN);
          progress.update(m.step, { reward: m.rewardMean, acc: acc.reduce((a, b) => a + b, 0) / acc.length, 'tok/s': m.tokensPerSecond });
          if (m.skipped) progress.log(`step ${m.step}: ${m.skipReason}`);
          if (trainer.config.saveEvery > 0 && m.step % trainer.config.saveEvery === 0) saveLast(trainer);
        },
        onEval: (step, _e, f1, best) => progress.log(`step ${step}: validation mean macro-F1 ${(100 * f1).toFixed(1)}${best ? ' (best)' : ''}`),
        onBest: async () => {
          saveCheckpoint(path.join(dir, 'best'), { model, tokenizer });
        },
      });
      if (resumeFrom) {
        ck.restoreOptimizer(trainer.optimizer);
        trainer.restore(ck.trainerState as GrpoTrainerState);
        progress.log(`resumed ${label} at step ${trainer.step}`);
      }
      requestStop = () => trainer.requestStop();
      progress.start(`training ${label}`, trainer.config.maxSteps);
      progress.update(trainer.step);
      const r = await trainer.train();
      refModel?.dispose();
      progress.stop();
      saveLast(trainer);
      saveBestIfUnselected(dir, r.bestStep, trainer.step, () => saveCheckpoint(path.join(dir, 'best'), { model, tokenizer, trainerState: finalAsBestState(trainer.step) }));
    } else {
      const trainer: SftTrainer = new SftTrainer({
        model,
        tokenizer,
        tasks: taskList,
        train,
        validation,
        config: { ...cfg.sft, ...(flags.steps !== undefined ? { maxSteps: flags.steps } : {}) },
        metricsFile: path.join(dir, 'metrics.jsonl'),
        onStep: (m) => progress.update(m.step, { loss: m.loss, 'tok/s': m.tokensPerSecond }),
        onEval: (step, _e, f1, best) => progress.log(`step ${step}: validation mean macro-F1 ${(100 * f1).toFixed(1)}${best ? ' (best)' : ''}`),
        onBest: async () => {
          saveCheckpoint(path.join(dir, 'best'), { model, tokenizer });
        },
      });
      if (resumeFrom) {
        ck.restoreOptimizer(trainer.optimizer);
        trainer.restore(ck.trainerState as Parameters<SftTrainer['restore']>[0]);
        progress.log(`resumed ${label} at step ${trainer.step}`);
      }
      requestStop = () => trainer.requestStop();
      progress.start(`training ${label}`, trainer.config.maxSteps);
      progress.update(trainer.step);
      const r = await trainer.train();
      progress.stop();
      saveLast(trainer);
      saveBestIfUnselected(dir, r.bestStep, trainer.step, () => saveCheckpoint(path.join(dir, 'best'), { model, tokenizer, trainerState: finalAsBestState(trainer.step) }));
    }
    progress.log(`saved ${lastDir}`);
    if (validation.length && !stopRequested) {
      const { evaluateJudge } = await import('../judge/evaluate.js');
      const evals = evaluateJudge(model, tokenizer, taskList, validation.slice(0, 64 * tasks.length), { maxNewTokens: cfg.evaluation.maxNewTokens, swapPairs: false });
      console.log(
        formatTable(
          Object.values(evals).map((e) => ({ task: e.task, n: e.n, 'macro-F1 %': 100 * e.macroF1, 'accuracy %': 100 * e.accuracy, 'format %': 100 * e.formatRate })),
        ),
      );
    }
    model.dispose();
  }
  if (stopRequested) process.exit(130);
}
