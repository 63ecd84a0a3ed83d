// `mtrl-judge train`: trains one judge (mt-rl, sft-unified) or one per task (rl-single, sft-single)
// from a base checkpoint through trainMethod (lib/rl/train-run.ts), with progress bars, periodic
// checkpoints, Ctrl-C → save → exit, and --resume.
import path from 'node:path';
import type { JudgeExample } from '../data/types.js';
import { evaluateJudge } from '../judging/evaluate.js';
import { formatTable } from '../metrics/table.js';
import { loadCheckpoint } from '../model/checkpoint.js';
import { trainMethod } from '../rl/train-run.js';
import { registryFor, type RunConfig } from './config.js';
import { checkpointFor, CliError, datasetFor } from './errors.js';
import { onInterrupt } from './interrupt.js';
import { loadData } from './load-data.js';
import { createProgress } from './progress.js';
import { cliDevice } from './resolve.js';

export interface TrainFlags {
  method: 'mt-rl' | 'rl-single' | 'sft-unified' | 'sft-single';
  data?: string;
  steps?: number;
  resume: boolean;
}

export async function trainCommand(cfg: RunConfig, flags: TrainFlags): Promise<void> {
  const device = cliDevice(cfg.device);
  const data = await datasetFor(flags.data ? '--data' : 'config data.dir', () => loadData(cfg, flags.data));
  const registry = registryFor(cfg);
  const single = flags.method.endsWith('-single');
  const groups = single ? cfg.inDistribution.map((t) => [t]) : [cfg.inDistribution];
  const progress = createProgress();
  const interrupt = onInterrupt('saving a checkpoint', (line) => progress.log(line));
  const kind = flags.method === 'mt-rl' || flags.method === 'rl-single' ? 'grpo' : 'sft';
  progress.log(`data: ${data.description}; base: ${cfg.base}`);
  for (const tasks of groups) {
    if (interrupt.stopped) break;
    const dir = single ? path.join(cfg.out, flags.method, tasks[0]!) : path.join(cfg.out, flags.method);
    const lastDir = path.join(dir, 'last');
    const label = single ? `${flags.method} ${tasks[0]}` : flags.method;
    const taskList = tasks.map((t) => registry.get(t));
    const validation = data.validation.filter((e: JudgeExample) => tasks.includes(e.task));
    let resumed = false;
    const { model, tokenizer } = await trainMethod({
      kind,
      base: cfg.base,
      dir,
      device,
      tasks: taskList,
      train: data.train.filter((e: JudgeExample) => tasks.includes(e.task)),
      validation,
      grpo: cfg.grpo,
      sft: cfg.sft,
      ...(flags.steps !== undefined ? { maxSteps: flags.steps } : {}),
      resume: flags.resume,
      stateFields: { method: flags.method, tasks },
      load: (from, role) => {
        const [flag, hint] =
          role === 'resume' ? ['--resume', `delete ${lastDir} to start over from --base`] : ['--base', `pass --base <checkpoint folder>, or run \`mtrl-judge pretrain --out ${cfg.base}\` first`];
        const ck = checkpointFor(flag, from, hint, () => loadCheckpoint(from, { device }));
        if (!ck.tokenizer) throw new CliError(flag, `${from} has no tokenizer.json`, 'pass a checkpoint written by mtrl-judge pretrain or train', { exitCode: 1 });
        resumed ||= role === 'resume';
        return ck;
      },
      hooks: {
        shouldStop: () => interrupt.stopped,
        onStep: (m) => {
          if ('rewardMean' in m) {
            const acc = Object.values(m.perTask).map((v) => v.accuracy ?? NaN);
            progress.update(m.step, { reward: m.rewardMean, acc: acc.reduce((a, b) => a + b, 0) / acc.length, 'tok/s': m.tokensPerSecond });
          } else progress.update(m.step, { loss: m.loss, 'tok/s': m.tokensPerSecond });
          if (m.skipped) progress.log(`step ${m.step}: ${m.skipReason}`);
        },
        onEval: (step, _e, f1, best) => progress.log(`step ${step}: validation mean macro-F1 ${(100 * f1).toFixed(1)}${best ? ' (best)' : ''}`),
      },
      onStart: (trainer) => {
        if (flags.resume && !resumed) progress.log(`--resume: no checkpoint at ${lastDir}; starting from ${cfg.base}`);
        if (resumed) progress.log(`resumed ${label} at step ${trainer.step}`);
        progress.start(`training ${label}`, trainer.config.maxSteps);
        progress.update(trainer.step);
      },
    });
    progress.stop();
    progress.log(`saved ${lastDir}`);
    if (validation.length && !interrupt.stopped) {
      const evals = evaluateJudge(model, tokenizer, taskList, validation.slice(0, 64 * tasks.length), { maxNewTokens: cfg.evaluation.maxNewTokens, swapPairs: false });
      console.log(
        formatTable(
          Object.values(evals).map((e) => ({ task: e.task, n: e.n, 'macro-F1 %': 100 * e.macroF1, 'accuracy %': 100 * e.accuracy, 'format %': 100 * e.formatRate })),
        ),
      );
    }
    model.dispose();
  }
  if (interrupt.stopped) process.exit(130);
}
