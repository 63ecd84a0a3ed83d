// Loads the run's examples: a JSONL folder when one is given, else the generated suite.
import type { RunConfig } from './config.js';
import { suiteData, type LoadedData } from './data-source.js';

export async function loadData(cfg: RunConfig, dir?: string): Promise<LoadedData> {
  const folder = dir ?? (cfg.data.source === 'folder' ? cfg.data.dir : undefined);
  if (cfg.data.source === 'folder' && !folder) throw new RangeError('config data.source is "folder" but data.dir is not set (or pass --data <dir>)');
  if (!folder) return suiteData(cfg);
  const { loadDataset } = await import('../data/load.js');
  const examples = await loadDataset(folder, { imageSize: cfg.data.imageSize, tasks: Object.fromEntries(cfg.tasks.map((t) => [String(t.name), (t.format as never) ?? null])) });
  return {
    train: examples.filter((e) => (e.split ?? 'train') === 'train'),
    validation: examples.filter((e) => e.split === 'validation'),
    test: examples.filter((e) => e.split === 'test'),
    description: `folder ${folder} (${examples.length} examples)`,
  };
}
