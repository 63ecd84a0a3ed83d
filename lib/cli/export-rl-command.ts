// `mtrl-judge data export --format verl|verl-jsonl|openrlhf`: the suite (or a JSONL folder) in the dataset layout
// of a distributed RL engine, with our scheduler's task mixing (lib/serve/rl-export.ts).
import path from 'node:path';
import type { BaseStrategyName } from '../scheduler/strategies.js';

export interface RlExportFlags {
  out: string;
  format: 'verl' | 'verl-jsonl' | 'openrlhf';
  data?: string;
  preset: 'small' | 'paper';
  seed: number;
  imageSize: number;
  config?: string;
  tasks?: string[];
  strategy?: string;
  strategyTemperature?: number;
  weights?: string;
  batchSize?: number;
  steps?: number;
  rewardUrl?: string;
  verlImages?: 'embed' | 'path';
  overwrite?: boolean;
}

function parseWeights(v: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [k, w] = part.split('=');
    const n = Number(w);
    if (!k || !Number.isFinite(n) || n < 0) throw new RangeError(`--weights must look like "safety=2,technical=1", got ${JSON.stringify(part)}`);
    out[k] = n;
  }
  return out;
}

export async function rlExportCommand(o: RlExportFlags): Promise<void> {
  const { exportForRl } = await import('../serve/rl-export.js');
  const { loadRunConfig, parseRunConfig, registryFor } = await import('./config.js');
  const cfg = o.config ? loadRunConfig(o.config) : parseRunConfig({});
  const registry = registryFor(cfg);
  let data = o.data;
  if (!data) {
    // The generated suite, written once in our own format next to the engine files (images as PNG).
    const { exportSuite } = await import('../data/export.js');
    data = path.join(o.out, 'data');
    await exportSuite(data, { seed: o.seed, sizes: o.preset, imageSize: o.imageSize }, { overwrite: !!o.overwrite });
  }
  const strategy = (o.strategy ?? (o.weights ? 'custom' : cfg.grpo.strategy ?? 'proportional')) as BaseStrategyName | 'adaptive';
  if (strategy === 'adaptive')
    throw new RangeError('--strategy adaptive reacts to training statistics, which an exported dataset cannot; use proportional, uniform, temperature or custom (--weights)');
  if (!['proportional', 'uniform', 'temperature', 'custom'].includes(strategy)) throw new RangeError(`--strategy must be proportional, uniform, temperature or custom, got ${JSON.stringify(strategy)}`);
  const tasks = o.tasks ?? cfg.inDistribution;
  const r = await exportForRl({
    format: o.format,
    data,
    out: path.join(o.out, o.format),
    registry,
    tasks: [...tasks, ...cfg.outOfDistribution.filter((t) => !tasks.includes(t) && !o.tasks)],
    strategy,
    ...(strategy === 'temperature' ? { temperature: o.strategyTemperature ?? cfg.grpo.strategyTemperature ?? 2 } : {}),
    ...(o.weights ? { weights: parseWeights(o.weights) } : {}),
    batchSize: o.batchSize ?? cfg.grpo.batchSize ?? 16,
    ...(o.steps !== undefined ? { steps: o.steps } : {}),
    seed: cfg.grpo.seed ?? 0,
    ...(o.rewardUrl ? { rewardUrl: o.rewardUrl } : {}),
    ...(o.verlImages ? { verlImages: o.verlImages } : {}),
    overwrite: !!o.overwrite,
  });
  console.log(`wrote ${r.dir} (${o.format}): ${JSON.stringify(r.rows)} rows; training stream ${r.steps} batches × ${r.batchSize}`);
  console.log(`task probabilities: ${Object.entries(r.probabilities).map(([t, p]) => `${t} ${p.toFixed(3)}`).join(', ')}`);
}
