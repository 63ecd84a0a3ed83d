// Judge-data throughput: examples generated per second per task and image size; the rasteriser
// (one-sample signed-distance anti-aliasing) against a naive 4×4-supersampled rasteriser on the same
// scenes; export (PNG encode + write) and loading (sharp decode) cold vs cached.
// Run: npx tsx benchmarks/data.ts [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { args, printTable, time, timeAsync, writeCsv, type Row } from './harness.js';
import { objectDrawItems } from '../lib/data/compose.js';
import { exportSuite } from '../lib/data/export.js';
import { ImageCache } from '../lib/data/images.js';
import { loadDataset } from '../lib/data/load.js';
import { drawItem, insidePrimitive, newFloatImage, primitiveExtent, type DrawItem, type FloatImage } from '../lib/data/render.js';
import { Rng } from '../lib/rng.js';
import { sampleScene } from '../lib/data/scene.js';
import { generateExamples, SUITE_TASKS, type SuiteTask } from '../lib/data/suite.js';
import { generateCorpusItem } from '../lib/data/corpus.js';

const quick = args.quick;
const rows: Row[] = [];
const table: Array<Array<string | number>> = [];

function record(op: string, impl: string, shape: string, t: { p50: number; p20: number; p80: number; samples: number }, metric: string, value: number): void {
  rows.push({ op, impl, mode: 'cpu', shape, timing: t, metric, value });
  table.push([op, impl, shape, t.p50, t.p20, t.p80, metric, value]);
}

// 1. Generation throughput per task.
const perCall = quick ? 50 : 200;
const sizes = quick ? [32] : [32, 64, 128];
for (const imageSize of sizes) {
  const tasks: readonly SuiteTask[] = imageSize === 32 ? SUITE_TASKS : ['technical', 'alignment', 'safety', 'pair-alignment'];
  for (const task of tasks) {
    let offset = 0;
    const t = time(
      () => {
        // Fresh indices every call, so nothing is memoised between repetitions.
        let n = 0;
        for (const _ of generateExamples(task, 'train', { seed: offset++, imageSize }, perCall)) n++;
        return n;
      },
      { warmup: 1, minReps: 3, budgetMs: quick ? 800 : 2500 },
    );
    record('generate', task, `${perCall}x${imageSize}px`, t, 'examples_per_s', (perCall / t.p50) * 1000);
  }
}
{
  let offset = 0;
  const t = time(
    () => {
      const base = offset++ * perCall;
      for (let i = 0; i < perCall; i++) generateCorpusItem(1, 'train', base + i, 32);
    },
    { warmup: 1, minReps: 3, budgetMs: quick ? 800 : 2500 },
  );
  record('generate', 'corpus', `${perCall}x32px`, t, 'items_per_s', (perCall / t.p50) * 1000);
}

// 2. Rasteriser vs a naive supersampled baseline on the same draw lists.
/** The obvious rasteriser: 4×4 point samples per pixel through the shapes' inside tests. */
function drawSupersampled(img: FloatImage, item: DrawItem): void {
  const unit = Math.min(img.width, img.height);
  const cx = item.x * unit;
  const cy = item.y * unit;
  const rpx = item.r * unit;
  const reach = rpx * primitiveExtent(item.shape, item.sx, item.sy) + 1;
  const cos = Math.cos(item.angle ?? 0);
  const sin = Math.sin(item.angle ?? 0);
  for (let py = Math.max(0, Math.floor(cy - reach)); py <= Math.min(img.height - 1, Math.ceil(cy + reach)); py++) {
    for (let px = Math.max(0, Math.floor(cx - reach)); px <= Math.min(img.width - 1, Math.ceil(cx + reach)); px++) {
      let hits = 0;
      for (let j = 0; j < 4; j++)
        for (let i = 0; i < 4; i++) {
          const dx = (px + (i + 0.5) / 4 - cx) / rpx;
          const dy = (py + (j + 0.5) / 4 - cy) / rpx;
          if (insidePrimitive(item.shape, cos * dx + sin * dy, -sin * dx + cos * dy, item.sx, item.sy)) hits++;
        }
      if (hits === 0) continue;
      const a = hits / 16;
      const o = (py * img.width + px) * 3;
      for (let c = 0; c < 3; c++) img.data[o + c] = img.data[o + c]! * (1 - a) + item.rgb[c]! * a;
    }
  }
}
const scenes = Array.from({ length: 200 }, (_, i) => objectDrawItems(sampleScene(Rng.from('bench', i))));
for (const size of quick ? [32] : [32, 128]) {
  const naive = time(() => {
    for (const items of scenes) {
      const img = newFloatImage(size, size);
      for (const it of items) drawSupersampled(img, it);
    }
  });
  const sdf = time(() => {
    for (const items of scenes) {
      const img = newFloatImage(size, size);
      for (const it of items) drawItem(img, it);
    }
  });
  record('rasterise', 'naive-ss4x4', `200 scenes ${size}px`, naive, 'scenes_per_s', (200 / naive.p50) * 1000);
  record('rasterise', 'sdf-1sample', `200 scenes ${size}px`, sdf, 'speedup_vs_naive', naive.p50 / sdf.p50);
}

// 3. Export and load (cold decode vs cached), on the small preset's validation + test splits.
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mtrl-bench-data-'));
try {
  const each = quick ? 16 : 64;
  const sizesSpec = Object.fromEntries(SUITE_TASKS.map((t) => [t, { train: 0, validation: each, test: 0 }]));
  let k = 0;
  const n = SUITE_TASKS.length * each;
  const exp = await timeAsync(
    async () => {
      await exportSuite(path.join(tmp, `e${k++}`), { seed: 1, sizes: { ...sizesSpec, corpus: { train: 0, validation: 0, test: 0 } } });
    },
    { warmup: 1, minReps: 3, budgetMs: quick ? 1000 : 4000 },
  );
  record('export', 'png+jsonl', `${n} examples 32px`, exp, 'examples_per_s', (n / exp.p50) * 1000);
  const dir = path.join(tmp, 'e0');
  const cold = await timeAsync(() => loadDataset(dir, { cache: false }), { warmup: 1, minReps: 3, budgetMs: quick ? 1000 : 4000 });
  const cache = new ImageCache();
  await loadDataset(dir, { cache });
  const warm = await timeAsync(() => loadDataset(dir, { cache }), { warmup: 1, minReps: 3, budgetMs: quick ? 1000 : 4000 });
  record('load', 'decode', `${n} examples 32px`, cold, 'examples_per_s', (n / cold.p50) * 1000);
  record('load', 'cached', `${n} examples 32px`, warm, 'speedup_vs_decode', cold.p50 / warm.p50);
  const resized = await timeAsync(() => loadDataset(dir, { cache: false, imageSize: 64 }), { warmup: 1, minReps: 3, budgetMs: quick ? 1000 : 4000 });
  record('load', 'decode+resize64', `${n} examples 32px`, resized, 'examples_per_s', (n / resized.p50) * 1000);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

printTable('judge data throughput', ['op', 'impl', 'shape', 'p50_ms', 'p20_ms', 'p80_ms', 'metric', 'value'], table);
console.log(`\nCSV: ${writeCsv('data', rows)}`);
