// `data export --format verl` writes Parquet in the layout of verl's own multimodal preprocessing
// (examples/data_preprocess/geo3k.py → RLHFDataset): read back here with an independent reader
// (hyparquet), checked column by column against the schema, the JSONL export of the same rows, and
// the image files on disk.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportSuite } from '../lib/data/export.js';
import { exportForRl } from '../lib/serve/rl-export.js';
import { TaskRegistry } from '../lib/tasks/registry.js';

// Rows are free-form nested objects; the assertions below check their fields.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Row = Record<string, any>;
const registry = new TaskRegistry();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mtrl-verl-'));
let data: string;

function arrayBufferOf(file: string): ArrayBuffer {
  const b = readFileSync(file);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
async function readParquet(file: string): Promise<Row[]> {
  return (await parquetReadObjects({ file: arrayBufferOf(file), utf8: false })) as Row[];
}
const readJsonl = (file: string): Row[] => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Row);

beforeAll(async () => {
  data = path.join(tmp, 'suite');
  await exportSuite(data, {
    seed: 4,
    sizes: { safety: { train: 10, validation: 0, test: 3 }, alignment: { train: 5, validation: 0, test: 2 }, 'pair-safety': { train: 0, validation: 0, test: 2 } },
    tasks: ['safety', 'alignment', 'pair-safety'],
    imageSize: 16,
    corpus: false,
  });
});

describe('data export --format verl (parquet)', () => {
  it('has the columns and types of verl datasets, footer and magic intact', async () => {
    const out = path.join(tmp, 'schema');
    const s = await exportForRl({ format: 'verl', data, out, registry, batchSize: 4, steps: 2 });
    expect(s.files).toEqual({ train: 'train.parquet', test: 'test.parquet' });
    const buf = readFileSync(path.join(out, 'train.parquet'));
    expect(buf.subarray(0, 4).toString()).toBe('PAR1');
    expect(buf.subarray(-4).toString()).toBe('PAR1');
    const meta = parquetMetadata(arrayBufferOf(path.join(out, 'train.parquet')));
    expect(Number(meta.num_rows)).toBe(8);
    const el = meta.schema.map((e) => [e.name, e.type ?? null, e.repetition_type ?? null, e.converted_type ?? null, e.num_children ?? 0]);
    expect(el).toEqual([
      ['schema', null, null, null, 6],
      ['data_source', 'BYTE_ARRAY', 'OPTIONAL', 'UTF8', 0],
      ['prompt', null, 'OPTIONAL', 'LIST', 1],
      ['list', null, 'REPEATED', null, 1],
      ['element', null, 'OPTIONAL', null, 2],
      ['role', 'BYTE_ARRAY', 'OPTIONAL', 'UTF8', 0],
      ['content', 'BYTE_ARRAY', 'OPTIONAL', 'UTF8', 0],
      ['images', null, 'OPTIONAL', 'LIST', 1],
      ['list', null, 'REPEATED', null, 1],
      ['element', null, 'OPTIONAL', null, 2],
      ['bytes', 'BYTE_ARRAY', 'OPTIONAL', null, 0],
      ['path', 'BYTE_ARRAY', 'OPTIONAL', 'UTF8', 0],
      ['ability', 'BYTE_ARRAY', 'OPTIONAL', 'UTF8', 0],
      ['reward_model', null, 'OPTIONAL', null, 2],
      ['style', 'BYTE_ARRAY', 'OPTIONAL', 'UTF8', 0],
      ['ground_truth', 'BYTE_ARRAY', 'OPTIONAL', 'UTF8', 0],
      ['extra_info', null, 'OPTIONAL', null, 6],
      ['split', 'BYTE_ARRAY', 'OPTIONAL', 'UTF8', 0],
      ['index', 'INT64', 'OPTIONAL', null, 0],
      ['id', 'BYTE_ARRAY', 'OPTIONAL', 'UTF8', 0],
      ['task', 'BYTE_ARRAY', 'OPTIONAL', 'UTF8', 0],
      ['label', 'INT64', 'OPTIONAL', null, 0],
      ['sampling_weight', 'DOUBLE', 'OPTIONAL', null, 0],
    ]);
    const w = JSON.parse(readFileSync(path.join(out, 'weights.json'), 'utf8')) as Row;
    expect(w.format).toBe('verl');
    expect(w.images).toBe('embed');
    expect(readFileSync(path.join(out, 'reward_fn.py'), 'utf8')).toMatch(/def compute_score_batch/);
  });

  it('holds the same rows as the JSONL export, the scheduler stream in order, and the image bytes', async () => {
    const opts = { data, registry, batchSize: 6, steps: 50, seed: 5 }; // 300 rows: two row groups
    await exportForRl({ ...opts, format: 'verl', out: path.join(tmp, 'pq') });
    await exportForRl({ ...opts, format: 'verl-jsonl', out: path.join(tmp, 'jl') });
    expect(parquetMetadata(arrayBufferOf(path.join(tmp, 'pq', 'train.parquet'))).row_groups).toHaveLength(2);
    for (const split of ['train', 'test']) {
      const pq = await readParquet(path.join(tmp, 'pq', `${split}.parquet`));
      const jl = readJsonl(path.join(tmp, 'jl', `${split}.jsonl`));
      expect(pq).toHaveLength(split === 'train' ? 300 : 7);
      expect(pq).toHaveLength(jl.length);
      const files = new Map<string, Buffer>();
      pq.forEach((r, i) => {
        const j = jl[i]!;
        expect(Object.keys(r)).toEqual(['data_source', 'prompt', 'images', 'ability', 'reward_model', 'extra_info']);
        expect(r.data_source).toBe(j.data_source);
        expect(r.prompt).toEqual(j.prompt);
        expect(r.ability).toBe('judge');
        expect(r.reward_model).toEqual(j.reward_model);
        expect({ ...r.extra_info, index: Number(r.extra_info.index), label: Number(r.extra_info.label) }).toEqual(j.extra_info);
        expect(typeof r.extra_info.index).toBe('bigint');
        // verl's RLHFDataset splits the message on "<image>": one image part per image.
        expect(r.prompt[0].content.split('<image>').length - 1).toBe(r.images.length);
        expect(r.images).toHaveLength(j.images.length);
        r.images.forEach((img: Row, k: number) => {
          const p = j.images[k].image as string;
          expect(img.path).toBe(p);
          expect(img.bytes).toBeInstanceOf(Uint8Array);
          if (!files.has(p)) files.set(p, readFileSync(p));
          expect(Buffer.from(img.bytes).equals(files.get(p)!)).toBe(true);
        });
      });
      if (split === 'test') expect(pq.filter((r) => r.images.length === 2).map((r) => r.data_source)).toEqual(['pair-safety', 'pair-safety']);
    }
    // Per-task sampling weights survive: p_task / n_task, summing to 1 over the training examples.
    const train = await readParquet(path.join(tmp, 'pq', 'train.parquet'));
    const weightOf = Object.fromEntries(train.map((r) => [r.data_source, r.extra_info.sampling_weight]));
    expect(weightOf.safety * 10 + weightOf.alignment * 5).toBeCloseTo(1, 12);
  });

  it('--verl-images path: absolute paths ({image}) instead of bytes', async () => {
    const out = path.join(tmp, 'paths');
    await exportForRl({ format: 'verl', data, out, registry, batchSize: 4, steps: 1, verlImages: 'path' });
    const meta = parquetMetadata(arrayBufferOf(path.join(out, 'train.parquet')));
    expect(meta.schema.filter((e) => ['bytes', 'path', 'image'].includes(e.name)).map((e) => e.name)).toEqual(['image']);
    const rows = await readParquet(path.join(out, 'train.parquet'));
    for (const r of rows) {
      expect(r.images).toHaveLength(1);
      expect(path.isAbsolute(r.images[0].image)).toBe(true);
      expect(readFileSync(r.images[0].image).subarray(1, 4).toString()).toBe('PNG');
    }
    await expect(exportForRl({ format: 'verl', data, out: path.join(tmp, 'bad'), registry, verlImages: 'url' as never })).rejects.toThrow(/--verl-images must be embed or path/);
  });
});
