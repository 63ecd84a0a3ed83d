// `mtrl-judge eval`: a checkpoint on chosen tasks and split; a readable table or JSON.
import { parseDevice } from '../device.js';
import { evaluateJudge } from '../judge/evaluate.js';
import { formatTable } from '../metrics/table.js';
import { loadCheckpoint } from '../model/checkpoint.js';
import { registryFor, type RunConfig } from './config.js';
import { loadData } from './load-data.js';
import { createProgress } from './progress.js';

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
  for (const t of tasks) if (!registry.has(t)) throw new RangeError(`--tasks: unknown task "${t}" (known: ${registry.names().join(', ')})`);
  const runCfg = { ...cfg, inDistribution: tasks.filter((t) => registry.get(t).format !== 'pairwise'), outOfDistribution: tasks.filter((t) => registry.get(t).format === 'pairwise') };
  if (runCfg.inDistribution.length === 0) runCfg.inDistribution = [tasks[0]!];
  const data = await loadData(runCfg as RunConfig, o.data);
  const max = o.maxPerTask ?? cfg.evaluation.maxExamplesPerTask;
  const seen = new Map<string, number>();
  const examples = data[o.split].filter((e) => {
    if (!tasks.includes(e.task)) return false;
    const n = seen.get(e.task) ?? 0;
    if (max > 0 && n >= max) return false;
    seen.set(e.task, n + 1);
    return true;
  });
  if (examples.length === 0) throw new RangeError(`eval: no ${o.split} examples for tasks ${tasks.join(', ')}`);
  const ck = loadCheckpoint(o.checkpoint, { device: parseDevice(cfg.device, '--device'), skipOptimizer: true });
  if (!ck.tokenizer) throw new Error(`${o.checkpoint} has no tokenizer.json`);
  const progress = createProgress({ quiet: o.json === true });
  progress.start(`evaluating ${o.checkpoint}`, examples.length);
  const evals = evaluateJudge(ck.model, ck.tokenizer, tasks.map((t) => registry.get(t)), examples, {
    batchSize: cfg.evaluation.batchSize,
    maxNewTokens: cfg.evaluation.maxNewTokens,
    temperature: o.temperature ?? cfg.evaluation.temperature,
    samples: o.samples ?? cfg.evaluation.samples,
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
