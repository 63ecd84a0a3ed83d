// Load benchmark of `mtrl-judge serve`: requests/s and latency (p50 / p99) of POST /v1/judge against
// the model batch size (--max-batch), with the shipped base model (models/base), on loopback. A
// closed loop of C concurrent clients keeps the server busy; --max-batch 1 (no batching across
// clients) is the baseline, measured in the same run. Each request: one 32×32 PNG as a data URL,
// greedy, up to 24 new tokens.
// Usage: npx tsx benchmarks/serve.ts [--quick]
import path from 'node:path';
import { encodePng } from '../lib/data/images.js';
import { generateExamples } from '../lib/data/suite.js';
import { packageRoot } from '../lib/native.js';
import { startServer } from '../lib/serve/server.js';
import { args, machine, printTable, writeCsv, type Row } from './harness.js';

process.env.OMP_WAIT_POLICY ??= 'passive';

const quick = args.quick;
const checkpoint = path.join(packageRoot, 'models', 'base');
const batches = quick ? [1, 8] : [1, 4, 16, 32];
const clients = quick ? 16 : 32;
const requests = quick ? 48 : 160;
const maxNewTokens = 24;

const examples = [
  ...generateExamples('safety', 'test', { seed: 9, sizes: 'small', corpus: false }, 8),
  ...generateExamples('technical', 'test', { seed: 9, sizes: 'small', corpus: false }, 8),
];
const bodies = await Promise.all(
  examples.map(async (e) => JSON.stringify({ task: e.task, images: [`data:image/png;base64,${(await encodePng(e.images[0]!)).toString('base64')}`], max_tokens: maxNewTokens })),
);

function quantile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const rows: Row[] = [];
const table: Array<Array<string | number>> = [];
let baseline = NaN;
for (const maxBatch of batches) {
  const srv = await startServer({ checkpoint, port: 0, maxBatch, maxQueue: 4096, maxNewTokens, timeoutMs: 0 });
  // Warm-up: one request per client slot.
  await Promise.all(bodies.slice(0, 4).map((b) => fetch(`${srv.url}/v1/judge`, { method: 'POST', body: b, headers: { 'content-type': 'application/json' } }).then((r) => r.text())));
  const before = srv.metrics.batchRows.series.get('') ?? { count: 0, sum: 0 };
  const [b0, s0] = [before.count, before.sum];
  const lat: number[] = [];
  let next = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < requests) {
        const body = bodies[next++ % bodies.length]!;
        const t = performance.now();
        const r = await fetch(`${srv.url}/v1/judge`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
        await r.text();
        if (r.status !== 200) failed++;
        lat.push(performance.now() - t);
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const after = srv.metrics.batchRows.series.get('')!;
  const meanBatch = (after.sum - s0) / Math.max(1, after.count - b0);
  await srv.close();
  lat.sort((a, b) => a - b);
  const rps = requests / wall;
  if (maxBatch === 1) baseline = rps;
  const p50 = quantile(lat, 0.5);
  const p99 = quantile(lat, 0.99);
  table.push([String(maxBatch), String(clients), String(requests), String(failed), rps.toFixed(1), (rps / baseline).toFixed(2), p50.toFixed(0), p99.toFixed(0), meanBatch.toFixed(1)]);
  const timing = { p50, p20: quantile(lat, 0.2), p80: quantile(lat, 0.8), samples: lat.length };
  const shape = `maxBatch=${maxBatch} clients=${clients} tokens=${maxNewTokens}`;
  rows.push({ op: 'serve-judge', impl: 'mtrl-judge serve', mode: 'closed-loop', shape, timing, metric: 'requests_per_s', value: rps });
  rows.push({ op: 'serve-judge', impl: 'mtrl-judge serve', mode: 'closed-loop', shape, timing, metric: 'p99_ms', value: p99 });
  rows.push({ op: 'serve-judge', impl: 'mtrl-judge serve', mode: 'closed-loop', shape, timing, metric: 'mean_batch_rows', value: meanBatch });
}

printTable(`POST /v1/judge, models/base, ${machine()}`, ['max batch', 'clients', 'requests', 'failed', 'req/s', '× batch 1', 'p50 ms', 'p99 ms', 'mean batch'], table);
console.log(`results appended to ${writeCsv('serve', rows)}`);
