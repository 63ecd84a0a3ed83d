// `mtrl-judge eval`: a checkpoint on chosen tasks and split; a readable table or JSON.
import { evaluateJudge } from '../judging/evaluate.js';
import { formatTable } from '../metrics/table.js';
import { loadCheckpoint } from '../model/checkpoint.js';
import { registryFor, type RunConfig } from './config.js';
import { checkpointFor, CliError, datasetFor } from './errors.js';
import { loadData } from './load-data.js';
import { createProgress } from './progress.js';
import { cliDevice } from './resolve.js';

export interface EvalFlags {
  checkpoint: string;
  tasks?: string[];
  split: 'validation' | 'test';
  data?: string;
  maxPerTask?: number;
  samples?: number;
  temperature?: number;
  json?: boolean;
}

export async function evalCommand(cfg: RunConfig, o: EvalFlags): Promise<void> {
  const registry = registryFor(cfg);
  const tasks = o.tasks ?? [...cfg.inDistribution, ...cfg.outOfDistribution];
  for (const t of tasks) if (!registry.has(t)) throw new CliError('--tasks', `unknown task "${t}"`, `use some of ${registry.names().join(', ')}`);
  const samples = o.samples ?? cfg.evaluation.samples;
  const temperature = o.temperature ?? cfg.evaluation.temperature;
  if (samples > 1 && !(temperature > 0))
    throw new CliError(
      o.samples !== undefined ? '--samples' : 'config evaluation.samples',
      `${samples} sampled judgments per example need a temperature > 0 (greedy samples are all the same)`,
      'add --temperature 0.7 (or another value > 0), or use --samples 1',
    );
  const runCfg = { ...cfg, inDistribution: tasks.filter((t) => registry.get(t).format !== 'pairwise'), outOfDistribution: tasks.filter((t) => registry.get(t).format === 'pairwise') };
  if (runCfg.inDistribution.length === 0) runCfg.inDistribution = [tasks[0]!];
  const device = cliDevice(cfg.device, '--device', o.json ? () => {} : undefined);
  const ck = checkpointFor('--checkpoint', o.checkpoint, 'pass the folder of a checkpoint, e.g. runs/default/mt-rl/best (or models/base)', () =>
    loadCheckpoint(o.checkpoint, { device, skipOptimizer: true }),
  );
  if (!ck.tokenizer) throw new CliError('--checkpoint', `${o.checkpoint} has no tokenizer.json`, 'pass a checkpoint written by mtrl-judge pretrain or train', { exitCode: 1 });
  const data = await datasetFor(o.data ? '--data' : 'config data.dir', () => loadData(runCfg as RunConfig, o.data));
  const max = o.maxPerTask ?? cfg.evaluation.maxExamplesPerTask;
  const seen = new Map<string, number>();
  const examples = data[o.split].filter((e) => {
    if (!tasks.includes(e.task)) return false;
    const n = seen.get(e.task) ?? 0;
    if (max > 0 && n >= max) return false;
    seen.set(e.task, n + 1);
    return true;
  });
  if (examples.length === 0)
    throw new CliError('--tasks', `no ${o.split} examples for ${tasks.join(', ')}${o.data ? ` in ${o.data}` : ''}`, `pick tasks the data has, or another --split`, { exitCode: 1 });
  const progress = createProgress({ quiet: o.json === true });
  progress.start(`evaluating ${o.checkpoint}`, examples.length);
  const evals = evaluateJudge(ck.model, ck.tokenizer, tasks.map((t) => registry.get(t)), examples, {
    batchSize: cfg.evaluation.batchSize,
    maxNewTokens: cfg.evaluation.maxNewTokens,
    temperature,
    samples,
    onProgress: (d) => progress.update(Math.min(d, examples.length)),
  });
  progress.stop();
  const rows = Object.values(evals).map((e) => ({
    task: e.task,
    n: e.n,
    'macro-F1 %': 100 * e.macroF1,
    'accuracy %': 100 * e.accuracy,
    'format %': 100 * e.formatRate,
    'pos-consistent %': e.positionConsistentAccuracy !== undefined ? 100 * e.positionConsistentAccuracy : undefined,
    'flip %': e.flipRate !== undefined ? 100 * e.flipRate : undefined,
    spearman: e.spearman,
  }));
  if (o.json) {
    console.log(JSON.stringify(Object.fromEntries(Object.entries(evals).map(([k, v]) => [k, { ...v, examples: undefined }])), null, 2));
  } else {
    console.log(formatTable(rows));
  }
  ck.model.dispose();
}
