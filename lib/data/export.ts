// Writes datasets to disk in the JSONL format: the generated suite (streamed from the generator, so
// the paper-sized preset never sits in memory), or any examples. Images become lossless PNGs next to
// the JSONL files, so loading them back gives the same pixels.
import { createHash } from 'node:crypto';
import { createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import type { CorpusItem } from './corpus.js';
import { generateCorpusItem } from './corpus.js';
import { SAFETY_POLICY } from './hazard.js';
import { checkRgbImage, encodePng } from './images.js';
import { corpusRecordToLine, recordToLine, type JsonlRecord } from './jsonl.js';
import { generateExamples, resolveSuiteOptions, SPLITS, SUITE_TASKS, TASK_INFO, type ResolvedSuiteOptions, type Suite, type SuiteOptions } from './suite.js';
import type { JudgeExample, Split } from './types.js';

/** Identifies our dataset folders; bumped when the layout changes incompatibly. */
export const MANIFEST_FORMAT = 'mtrl-judge-dataset';
export const MANIFEST_VERSION = 1;

export interface WriteOptions {
  /** Replace files of an earlier export in the same folder (default false: refuse). */
  overwrite?: boolean;
  /** Images encoded and written concurrently (default 8). */
  concurrency?: number;
  /** Called after each example or corpus item is written. */
  onProgress?: (p: { done: number; total: number }) => void;
}

export interface ExportSummary {
  dir: string;
  manifest: string;
  /** Split → JSONL file of judging examples (relative to dir). */
  files: Partial<Record<Split, string>>;
  /** Split → corpus JSONL file (relative to dir). */
  corpus: Partial<Record<Split, string>>;
  /** Split → task → examples written. */
  counts: Partial<Record<Split, Record<string, number>>>;
  corpusCounts: Partial<Record<Split, number>>;
  images: number;
}

function checkWriteOptions(o: WriteOptions, fn: string): Required<Pick<WriteOptions, 'concurrency' | 'overwrite'>> {
  if (o === null || typeof o !== 'object') throw new TypeError(`${fn}: options must be an object`);
  const concurrency = o.concurrency ?? 8;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new RangeError(`${fn}: concurrency must be an integer in [1, 256], got ${String(concurrency)}`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new TypeError(`${fn}: onProgress must be a function`);
  return { concurrency, overwrite: o.overwrite ?? false };
}

async function refuseExisting(dir: string, rels: readonly string[], overwrite: boolean, fn: string): Promise<void> {
  if (overwrite) return;
  for (const rel of rels) {
    const p = path.join(dir, rel);
    if (await fs.stat(p).then(() => true, () => false)) throw new Error(`${fn}: ${p} already exists; pass { overwrite: true } to replace it`);
  }
}

/** A file-name-safe stem for an id; ids that needed changes get a hash suffix so names stay unique. */
export function fileStem(id: string): string {
  const safe = id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
  if (safe === id && !/^\.+$/.test(id)) return id;
  return `${safe}-${createHash('sha1').update(id).digest('hex').slice(0, 8)}`;
}

async function writeLine(out: WriteStream, line: string): Promise<void> {
  if (!out.write(line + '\n')) await once(out, 'drain');
}

async function closeStream(out: WriteStream): Promise<void> {
  out.end();
  await once(out, 'finish');
}

/**
 * Runs `work` over items with up to `concurrency` in flight and writes the lines it returns in the
 * items' order (so files are deterministic whatever the encoding order).
 */
async function writeOrdered<T>(
  items: Iterable<T> | AsyncIterable<T>,
  out: WriteStream,
  concurrency: number,
  work: (item: T) => Promise<string>,
  progress?: () => void,
): Promise<number> {
  const pending: Array<Promise<string>> = [];
  let n = 0;
  const flushOne = async () => {
    await writeLine(out, await pending.shift()!);
    progress?.();
  };
  try {
    for await (const item of items) {
      const p = work(item);
      p.catch(() => undefined);
      pending.push(p);
      n++;
      if (pending.length >= concurrency) await flushOne();
    }
    while (pending.length > 0) await flushOne();
  } finally {
    // Let every in-flight write settle before the caller closes the stream or reports an error.
    await Promise.allSettled(pending);
  }
  return n;
}

/** The JSONL record of an example whose images were written to `paths` (relative to the file). */
export function exampleToRecord(e: JudgeExample, paths: string[]): JsonlRecord {
  const r: JsonlRecord = { id: e.id, task: e.task, format: e.format, images: paths, label: e.label };
  if (e.prompt !== undefined) r.prompt = e.prompt;
  if (e.score !== undefined) r.score = e.score;
  if (e.raters !== undefined) r.raters = e.raters;
  if (e.split !== undefined) r.split = e.split;
  if (e.meta !== undefined) r.meta = e.meta;
  return r;
}

async function writeImages(dir: string, imageDir: string, id: string, images: readonly { width: number; height: number; data: Uint8Array }[], fn: string): Promise<string[]> {
  const stem = fileStem(id);
  const rels: string[] = [];
  await fs.mkdir(path.join(dir, imageDir), { recursive: true });
  await Promise.all(
    images.map(async (img, k) => {
      checkRgbImage(img, `${fn} (example ${id}, image ${k})`);
      const rel = `${imageDir}/${images.length === 1 ? stem : `${stem}-${k}`}.png`;
      rels[k] = rel;
      await fs.writeFile(path.join(dir, rel), await encodePng(img));
    }),
  );
  return rels;
}

/**
 * Writes examples as `<dir>/<file>` plus PNGs under `<dir>/<imageDir>/`. Any examples: generated,
 * loaded, or built by hand. Returns how many were written.
 */
export async function writeDataset(
  dir: string,
  examples: Iterable<JudgeExample> | AsyncIterable<JudgeExample>,
  options: WriteOptions & { file?: string; imageDir?: string } = {},
): Promise<{ file: string; count: number }> {
  const fn = 'writeDataset';
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`${fn}: dir must be a folder path`);
  const { concurrency, overwrite } = checkWriteOptions(options, fn);
  const file = options.file ?? 'data.jsonl';
  const imageDir = options.imageDir ?? 'images';
  if (path.isAbsolute(file) || file.includes('..') || path.isAbsolute(imageDir) || imageDir.includes('..'))
    throw new RangeError(`${fn}: file and imageDir must be relative paths inside dir`);
  await fs.mkdir(path.join(dir, path.dirname(file)), { recursive: true });
  await refuseExisting(dir, [file], overwrite, fn);
  const out = createWriteStream(path.join(dir, file));
  let done = 0;
  try {
    const count = await writeOrdered(
      examples,
      out,
      concurrency,
      async (e) => {
        const fileDir = path.posix.dirname(file);
        const rels = await writeImages(dir, imageDir, e.id, e.images, fn);
        // Paths in the record are relative to the JSONL file, which may sit in a subfolder.
        const relToFile = rels.map((r) => path.posix.relative(fileDir === '.' ? '' : fileDir, r));
        return recordToLine(exampleToRecord(e, relToFile));
      },
      () => options.onProgress?.({ done: ++done, total: NaN }),
    );
    return { file: path.join(dir, file), count };
  } finally {
    await closeStream(out);
  }
}

function suiteCounts(o: ResolvedSuiteOptions): { total: number; counts: Partial<Record<Split, Record<string, number>>>; corpus: Partial<Record<Split, number>> } {
  let total = 0;
  const counts: Partial<Record<Split, Record<string, number>>> = {};
  const corpus: Partial<Record<Split, number>> = {};
  for (const split of SPLITS) {
    const c: Record<string, number> = {};
    for (const t of SUITE_TASKS) if (o.tasks.includes(t) && o.sizes[t][split] > 0) total += c[t] = o.sizes[t][split];
    if (Object.keys(c).length > 0) counts[split] = c;
    if (o.corpus && o.sizes.corpus[split] > 0) total += corpus[split] = o.sizes.corpus[split];
  }
  return { total, counts, corpus };
}

function isSuite(x: Suite | SuiteOptions): x is Suite {
  return Array.isArray((x as Suite).train) && typeof (x as Suite).options === 'object';
}

/**
 * Exports the suite to `dir`: manifest.json, train/validation/test.jsonl (all tasks of a split in
 * one file), corpus/<split>.jsonl, and PNGs under images/. Given options, examples are generated
 * while writing (bounded memory); given a generated Suite, its examples are written as they are.
 */
export async function exportSuite(dir: string, suiteOrOptions: Suite | SuiteOptions, options: WriteOptions = {}): Promise<ExportSummary> {
  const fn = 'exportSuite';
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`${fn}: dir must be a folder path`);
  const { concurrency, overwrite } = checkWriteOptions(options, fn);
  const suite = isSuite(suiteOrOptions) ? suiteOrOptions : undefined;
  const opts = suite ? suite.options : resolveSuiteOptions(suiteOrOptions as SuiteOptions, fn);
  const planned = suiteCounts(opts);
  const total = suite ? SPLITS.reduce((a, s) => a + suite[s].length + (opts.corpus ? suite.corpus[s].length : 0), 0) : planned.total;
  await fs.mkdir(dir, { recursive: true });
  await refuseExisting(dir, ['manifest.json', ...SPLITS.map((s) => `${s}.jsonl`)], overwrite, fn);
  const summary: ExportSummary = { dir, manifest: path.join(dir, 'manifest.json'), files: {}, corpus: {}, counts: {}, corpusCounts: {}, images: 0 };
  let done = 0;
  const progress = () => options.onProgress?.({ done: ++done, total });
  for (const split of SPLITS) {
    const examples: Iterable<JudgeExample> = suite
      ? suite[split]
      : (function* () {
          for (const t of SUITE_TASKS) if (opts.tasks.includes(t) && opts.sizes[t][split] > 0) yield* generateExamples(t, split, opts);
        })();
    const counts: Record<string, number> = {};
    const rel = `${split}.jsonl`;
    const out = createWriteStream(path.join(dir, rel));
    let n: number;
    try {
      n = await writeOrdered(
        examples,
        out,
        concurrency,
        async (e) => {
          counts[e.task] = (counts[e.task] ?? 0) + 1;
          summary.images += e.images.length;
          const rels = await writeImages(dir, `images/${split}/${e.task}`, e.id, e.images, fn);
          return recordToLine(exampleToRecord(e, rels));
        },
        progress,
      );
    } finally {
      await closeStream(out);
    }
    if (n > 0) {
      summary.files[split] = rel;
      summary.counts[split] = counts;
    } else {
      await fs.rm(path.join(dir, rel));
    }
    if (!opts.corpus) continue;
    const items: Iterable<CorpusItem> = suite
      ? suite.corpus[split]
      : (function* () {
          for (let i = 0; i < opts.sizes.corpus[split]; i++) yield generateCorpusItem(opts.seed, split, i, opts.imageSize);
        })();
    await fs.mkdir(path.join(dir, 'corpus'), { recursive: true });
    const crel = `corpus/${split}.jsonl`;
    const cout = createWriteStream(path.join(dir, crel));
    let cn: number;
    try {
      cn = await writeOrdered(
        items,
        cout,
        concurrency,
        async (it) => {
          summary.images += it.images.length;
          const rels = await writeImages(dir, `corpus/images/${split}`, it.id, it.images, fn);
          // Corpus paths are relative to corpus/<split>.jsonl.
          const relToFile = rels.map((r) => path.posix.relative('corpus', r));
          return corpusRecordToLine({
            id: it.id,
            kind: it.kind,
            images: relToFile,
            ...(it.question !== undefined ? { question: it.question } : {}),
            answer: it.answer,
            split: it.split,
            ...(it.meta !== undefined ? { meta: it.meta } : {}),
          });
        },
        progress,
      );
    } finally {
      await closeStream(cout);
    }
    if (cn > 0) {
      summary.corpus[split] = crel;
      summary.corpusCounts[split] = cn;
    } else {
      await fs.rm(path.join(dir, crel));
    }
  }
  const { resolved: _resolved, ...generator } = opts;
  const manifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    generator,
    files: summary.files,
    corpus: summary.corpus,
    counts: summary.counts,
    corpusCounts: summary.corpusCounts,
    tasks: Object.fromEntries(opts.tasks.map((t) => [t, TASK_INFO[t]])),
    safetyPolicy: SAFETY_POLICY,
  };
  await fs.writeFile(summary.manifest, JSON.stringify(manifest, null, 2) + '\n');
  return summary;
}
