// verl's dataset files: Parquet, read by verl's RLHFDataset (verl/utils/dataset/rl_dataset.py) through
// `datasets.load_dataset("parquet")`. The columns are those of verl's own preprocessing scripts
// (examples/data_preprocess/geo3k.py, the multimodal one):
//
//   data_source   string                        the task (verl's reward dispatch key)
//   prompt        list<struct<role, content>>   chat messages; content holds one "<image>" per image,
//                                               which RLHFDataset splits into image / text parts
//   images        list<struct<bytes: binary, path: string>>   the image files' bytes (the layout of a
//                                               Hugging Face `Image` feature, as in geo3k), or with
//                                               mode "path": list<struct<image: string>> (absolute paths)
//   ability       string
//   reward_model  struct<style, ground_truth>   ground_truth = the verdict word
//   extra_info    struct<split, index: int64, id, task, label: int64, sampling_weight: double>
//
// verl's process_image (verl/utils/dataset/vision_utils.py) opens {"bytes": ...} from memory and
// {"image": "/path"} from disk. Strings are UTF8 byte arrays, lists the standard three-level LIST
// (list / element), every field nullable: what pyarrow writes for the same Python rows. Files are
// written in row groups of CHUNK rows, so the images of one row group are in memory at a time.
import { readFile } from 'node:fs/promises';
import { fileWriter, ParquetWriter } from 'hyparquet-writer';

type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]['schema'][number];

export type VerlImageMode = 'embed' | 'path';

/** One verl row; images are absolute paths until written. */
export interface VerlRow {
  data_source: string;
  prompt: Array<{ role: string; content: string }>;
  images: string[];
  ability: string;
  reward_model: { style: string; ground_truth: string };
  extra_info: { split: string; index: number; id: string; task: string; label: number; sampling_weight: number };
}

const CHUNK = 256;

const str = (name: string): SchemaElement => ({ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' });
const i64 = (name: string): SchemaElement => ({ name, type: 'INT64', repetition_type: 'OPTIONAL' });
const f64 = (name: string): SchemaElement => ({ name, type: 'DOUBLE', repetition_type: 'OPTIONAL' });
const struct = (name: string, fields: SchemaElement[]): SchemaElement[] => [{ name, repetition_type: 'OPTIONAL', num_children: fields.length }, ...fields];
/** A list of structs: the three-level LIST layout (name / list / element). */
const listOf = (name: string, fields: SchemaElement[]): SchemaElement[] => [
  { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  ...struct('element', fields),
];

/** The Parquet schema of verl rows (flattened depth-first, as Parquet's footer stores it). */
export function verlSchema(mode: VerlImageMode): SchemaElement[] {
  const columns = [
    [str('data_source')],
    listOf('prompt', [str('role'), str('content')]),
    listOf('images', mode === 'embed' ? [{ name: 'bytes', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' }, str('path')] : [str('image')]),
    [str('ability')],
    struct('reward_model', [str('style'), str('ground_truth')]),
    struct('extra_info', [str('split'), i64('index'), str('id'), str('task'), i64('label'), f64('sampling_weight')]),
  ];
  return [{ name: 'schema', num_children: columns.length }, ...columns.flat()];
}

function int64(v: number, what: string): bigint {
  if (!Number.isSafeInteger(v)) throw new RangeError(`verl export: ${what} must be an integer, got ${v}`);
  return BigInt(v);
}

async function columnsOf(rows: readonly VerlRow[], mode: VerlImageMode): Promise<Array<{ name: string; data: unknown[] }>> {
  const images = await Promise.all(
    rows.map((r) => Promise.all(r.images.map(async (p) => (mode === 'embed' ? { bytes: new Uint8Array(await readFile(p)), path: p } : { image: p })))),
  );
  return [
    { name: 'data_source', data: rows.map((r) => r.data_source) },
    { name: 'prompt', data: rows.map((r) => r.prompt.map((m) => ({ role: m.role, content: m.content }))) },
    { name: 'images', data: images },
    { name: 'ability', data: rows.map((r) => r.ability) },
    { name: 'reward_model', data: rows.map((r) => ({ style: r.reward_model.style, ground_truth: r.reward_model.ground_truth })) },
    {
      name: 'extra_info',
      data: rows.map((r) => {
        const x = r.extra_info;
        return { split: x.split, index: int64(x.index, 'extra_info.index'), id: x.id, task: x.task, label: int64(x.label, `the label of ${x.id}`), sampling_weight: x.sampling_weight };
      }),
    },
  ];
}

/** Writes rows to a Parquet file (one row group per CHUNK rows); returns the row count. */
export async function writeVerlParquet(file: string, rows: Iterable<VerlRow>, mode: VerlImageMode = 'embed'): Promise<number> {
  const writer = new ParquetWriter({ writer: fileWriter(file), schema: verlSchema(mode), createdBy: 'mtrl-judge data export (hyparquet-writer)' });
  let n = 0;
  let chunk: VerlRow[] = [];
  const flush = async () => {
    if (chunk.length === 0) return;
    // The column values are the nested JS objects the schema describes; the writer's types are wider.
    await writer.write({ columnData: (await columnsOf(chunk, mode)) as Parameters<ParquetWriter['write']>[0]['columnData'], rowGroupSize: chunk.length });
    n += chunk.length;
    chunk = [];
  };
  for (const r of rows) {
    chunk.push(r);
    if (chunk.length === CHUNK) await flush();
  }
  await flush();
  await writer.finish();
  return n;
}
