// Where the CLI's examples come from: the generated judging suite (default) or a folder in the
// documented JSONL format (docs/data-format.md).
import { generateSuite } from '../data/suite.js';
import type { JudgeExample } from '../data/types.js';
import type { RunConfig } from './config.js';

export interface LoadedData {
  train: JudgeExample[];
  validation: JudgeExample[];
  test: JudgeExample[];
  description: string;
}

const ALL = ['naturalness', 'technical', 'rationality', 'alignment', 'preference', 'safety', 'pair-alignment', 'pair-safety'] as const;

/** Generates the suite with the config's sizes (only the tasks the run uses). */
export function suiteData(cfg: RunConfig): LoadedData {
  const d = cfg.data;
  const used = new Set([...cfg.inDistribution, ...cfg.outOfDistribution]);
  const tasks = ALL.filter((t) => used.has(t));
  const sizes: Record<string, { train?: number; validation?: number; test?: number }> = {};
  for (const t of tasks) {
    const isOod = cfg.outOfDistribution.includes(t);
    sizes[t] = {
      ...(d.trainPerTask !== undefined ? { train: isOod ? 0 : d.trainPerTask } : {}),
      ...(d.validationPerTask !== undefined ? { validation: d.validationPerTask } : {}),
      ...(d.testPerTask !== undefined ? { test: d.testPerTask } : {}),
    };
  }
  const suite = generateSuite({ seed: d.seed, preset: d.preset, sizes: sizes as never, imageSize: d.imageSize, tasks, corpus: false });
  return {
    train: suite.train,
    validation: suite.validation,
    test: suite.test,
    description: `generated suite (preset ${d.preset}, seed ${d.seed}, ${d.imageSize}×${d.imageSize})`,
  };
}
