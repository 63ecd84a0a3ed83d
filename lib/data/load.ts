// Loads datasets in the JSONL format from disk: a folder (its manifest.json, or every top-level
// *.jsonl) or a single file. Lines are streamed, records validated, image paths confined to the
// dataset folder, images decoded with sharp (PNG/JPEG/WebP), resized to the model's size and cached.
// Errors say file:line. Also reads the base-model corpus and single image files.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { CorpusItem, CorpusKind } from './corpus.js';
import { checkImageSize, decodeImage, defaultImageCache, ImageCache, type ImageSize, type ResizeFit } from './images.js';
import { DatasetError, parseCorpusRecord, parseRecord, readLines, SPLIT_NAMES, type JsonlRecord, type TaskFormats } from './jsonl.js';
import { isInside, resolveInside } from './safe-path.js';
import { SUITE_TASKS, TASK_INFO } from './suite.js';
import type { JudgeExample, JudgeFormat, RgbImage, Split } from './types.js';

export interface LoadOptions {
  /** Resize every image to this size (a side, or { width, height }); default: keep each file's size. */
  imageSize?: number | ImageSize;
  /** How to resize when the aspect differs: stretch ('fill', default), crop ('cover') or pad ('contain'). */
  fit?: ResizeFit;
  /**
   * Tasks accepted besides the suite's own: a list of names (any format), or name → required format.
   */
  tasks?: readonly string[] | Readonly<Record<string, JudgeFormat | null>>;
  /** Accept any task name (no task check at all). */
  anyTask?: boolean;
  /** Keep only records of these splits (records without a split are dropped when this is set). */
  split?: Split | readonly Split[];
  /** Stop after this many examples. */
  limit?: number;
  /** Decoded-image cache; false disables caching (default: a shared 256 MiB cache). */
  cache?: ImageCache | false;
  /** Examples decoded concurrently while streaming (default 8). */
  concurrency?: number;
}

interface Resolved {
  size: ImageSize | undefined;
  fit: ResizeFit;
  tasks: TaskFormats | undefined;
  splits: ReadonlySet<Split> | undefined;
  limit: number;
  cache: ImageCache | undefined;
  concurrency: number;
}

function resolveOptions(o: LoadOptions, fn: string): Resolved {
  if (o === null || typeof o !== 'object') throw new TypeError(`${fn}: options must be an object`);
  const fit = o.fit ?? 'fill';
  if (!['fill', 'cover', 'contain'].includes(fit)) throw new RangeError(`${fn}: fit must be 'fill', 'cover' or 'contain', got ${JSON.stringify(fit)}`);
  let tasks: Map<string, JudgeFormat | undefined> | undefined;
  if (!o.anyTask) {
    tasks = new Map(SUITE_TASKS.map((t) => [t, TASK_INFO[t].format]));
    if (Array.isArray(o.tasks)) {
      for (const t of o.tasks as readonly unknown[]) {
        if (typeof t !== 'string' || t.length === 0) throw new TypeError(`${fn}: tasks must hold non-empty strings`);
        tasks.set(t, tasks.get(t));
      }
    } else if (o.tasks !== undefined) {
      if (o.tasks === null || typeof o.tasks !== 'object') throw new TypeError(`${fn}: tasks must be an array of names or an object name → format`);
      for (const [t, f] of Object.entries(o.tasks)) {
        if (f !== null && !['binary', 'pairwise', 'score', 'choice'].includes(f as string))
          throw new RangeError(`${fn}: tasks.${t} must be 'binary', 'pairwise', 'score', 'choice' or null, got ${JSON.stringify(f)}`);
        tasks.set(t, (f ?? undefined) as JudgeFormat | undefined);
      }
    }
  }
  let splits: Set<Split> | undefined;
  if (o.split !== undefined) {
    const list = typeof o.split === 'string' ? [o.split] : [...o.split];
    for (const s of list) if (!SPLIT_NAMES.includes(s)) throw new RangeError(`${fn}: split must be one of ${SPLIT_NAMES.join(', ')}, got ${JSON.stringify(s)}`);
    splits = new Set(list);
  }
  const limit = o.limit ?? Infinity;
  if (typeof limit !== 'number' || !(limit >= 0)) throw new RangeError(`${fn}: limit must be a non-negative number, got ${String(limit)}`);
  const concurrency = o.concurrency ?? 8;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new RangeError(`${fn}: concurrency must be an integer in [1, 256], got ${String(concurrency)}`);
  if (o.cache !== undefined && o.cache !== false && !(o.cache instanceof ImageCache)) throw new TypeError(`${fn}: cache must be an ImageCache or false`);
  return {
    size: checkImageSize(o.imageSize, fn),
    fit,
    tasks,
    splits,
    limit,
    cache: o.cache === false ? undefined : (o.cache ?? defaultImageCache),
    concurrency,
  };
}

/** Where a dataset's files are: the folder (real path) and its JSONL files (real paths, in order). */
export interface DatasetLocation {
  root: string;
  files: string[];
  /** The parsed manifest.json, when the folder has one. */
  manifest?: Record<string, unknown>;
}

async function statOrFail(target: string): Promise<import('node:fs').Stats> {
  try {
    return await fs.stat(target);
  } catch (err) {
    throw new DatasetError('E_IO', target, 0, `dataset not found (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
}

async function readManifest(root: string): Promise<Record<string, unknown> | undefined> {
  const file = path.join(root, 'manifest.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const m = JSON.parse(text) as unknown;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new Error('not a JSON object');
    return m as Record<string, unknown>;
  } catch (err) {
    throw new DatasetError('E_JSON', file, 0, `malformed manifest: ${(err as Error).message}`, { cause: err });
  }
}

/** The manifest's list of files of one kind ('files' for judging data, 'corpus' for the corpus). */
async function manifestFiles(root: string, manifest: Record<string, unknown>, key: 'files' | 'corpus'): Promise<string[] | undefined> {
  const entry = manifest[key];
  if (entry === undefined) return undefined;
  const file = path.join(root, 'manifest.json');
  const list = Array.isArray(entry) ? entry : entry !== null && typeof entry === 'object' ? Object.values(entry) : undefined;
  if (!list || !list.every((p) => typeof p === 'string')) throw new DatasetError('E_FIELD', file, 0, `"${key}" must be an array or an object of relative file paths`);
  const out: string[] = [];
  for (const rel of list as string[]) out.push(await resolveInside(root, root, rel, file, 0, 'dataset file'));
  return out;
}

async function topLevelJsonl(root: string): Promise<string[]> {
  const names = (await fs.readdir(root)).filter((n) => n.endsWith('.jsonl')).sort();
  const out: string[] = [];
  for (const n of names) out.push(await resolveInside(root, root, n, root, 0, 'dataset file'));
  return out;
}

/** Finds a dataset's JSONL files: a folder's manifest "files", else its top-level *.jsonl; or one file. */
export async function locateDataset(target: string): Promise<DatasetLocation> {
  const st = await statOrFail(target);
  if (st.isDirectory()) {
    const root = await fs.realpath(target);
    const manifest = await readManifest(root);
    const files = (manifest && (await manifestFiles(root, manifest, 'files'))) ?? (await topLevelJsonl(root));
    if (files.length === 0) throw new DatasetError('E_IO', root, 0, 'no .jsonl files in this folder (and no manifest.json listing them)');
    return { root, files, ...(manifest ? { manifest } : {}) };
  }
  const real = await fs.realpath(target);
  return { root: path.dirname(real), files: [real] };
}

async function loadImageChecked(real: string, rel: string, file: string, line: number, o: Resolved): Promise<RgbImage> {
  try {
    return o.cache ? await o.cache.load(real, o.size, o.fit) : await decodeImage(real, o.size, o.fit);
  } catch (err) {
    throw new DatasetError('E_IMAGE_DECODE', file, line, `cannot decode image ${JSON.stringify(rel)}: ${(err as Error).message}`, { cause: err });
  }
}

async function toExample(rec: JsonlRecord, root: string, file: string, line: number, o: Resolved): Promise<JudgeExample> {
  const base = path.dirname(file);
  const images: RgbImage[] = [];
  for (const rel of rec.images) {
    const real = await resolveInside(root, base, rel, file, line);
    images.push(await loadImageChecked(real, rel, file, line, o));
  }
  // Same key order as generated examples, so loaded and generated examples print alike.
  const ex: JudgeExample = { id: rec.id, task: rec.task, format: rec.format, images, imagePaths: rec.images.slice(), label: rec.label };
  if (rec.prompt !== undefined) ex.prompt = rec.prompt;
  if (rec.score !== undefined) ex.score = rec.score;
  if (rec.raters !== undefined) ex.raters = rec.raters;
  if (rec.split !== undefined) ex.split = rec.split;
  if (rec.meta !== undefined) ex.meta = rec.meta;
  return ex;
}

/**
 * Streams the examples of one or more JSONL files under a root, in file order, decoding up to
 * `concurrency` examples ahead. An error is raised when the stream reaches the bad line: every
 * example before it is yielded first.
 */
async function* streamFiles<T, R extends { id: string; split?: Split }>(
  loc: DatasetLocation,
  o: Resolved,
  parse: (text: string, file: string, line: number) => R,
  build: (rec: R, root: string, file: string, line: number) => Promise<T>,
): AsyncGenerator<T> {
  const seen = new Map<string, string>();
  const pending: Array<Promise<T>> = [];
  let count = 0;
  for (const file of loc.files) {
    if (!isInside(loc.root, file)) throw new DatasetError('E_IMAGE_PATH', file, 0, `dataset file is outside the dataset folder ${loc.root}`);
    for await (const { text, line } of readLines(file)) {
      if (count >= o.limit) break;
      if (text.trim() === '') continue;
      let rec: R;
      try {
        rec = parse(text, file, line);
        const where = `${file}:${line}`;
        const prev = seen.get(rec.id);
        if (prev !== undefined) throw new DatasetError('E_DUPLICATE_ID', file, line, `duplicate id ${JSON.stringify(rec.id)} (first seen at ${prev})`);
        seen.set(rec.id, where);
      } catch (err) {
        while (pending.length > 0) yield await pending.shift()!;
        throw err;
      }
      if (o.splits && (rec.split === undefined || !o.splits.has(rec.split))) continue;
      const p = build(rec, loc.root, file, line);
      // Errors surface when this example's turn comes; until then keep Node from calling them unhandled.
      p.catch(() => undefined);
      pending.push(p);
      count++;
      if (pending.length >= o.concurrency) yield await pending.shift()!;
    }
    if (count >= o.limit) break;
  }
  while (pending.length > 0) yield await pending.shift()!;
}

/** Streams the judging examples of a dataset folder or file. */
export async function* streamDataset(target: string, options: LoadOptions = {}): AsyncGenerator<JudgeExample> {
  if (typeof target !== 'string' || target.length === 0) throw new TypeError('streamDataset: target must be a path to a dataset folder or .jsonl file');
  const o = resolveOptions(options, 'streamDataset');
  const loc = await locateDataset(target);
  yield* streamFiles(
    loc,
    o,
    (text, file, line) => parseRecord(text, file, line, o.tasks),
    (rec, root, file, line) => toExample(rec, root, file, line, o),
  );
}

/** Loads every judging example of a dataset folder or file into memory. */
export async function loadDataset(target: string, options: LoadOptions = {}): Promise<JudgeExample[]> {
  if (typeof target !== 'string' || target.length === 0) throw new TypeError('loadDataset: target must be a path to a dataset folder or .jsonl file');
  const out: JudgeExample[] = [];
  for await (const ex of streamDataset(target, options)) out.push(ex);
  return out;
}

const CORPUS_KINDS: readonly CorpusKind[] = ['caption', 'vqa', 'describe-answer'];

/**
 * Loads a base-model corpus: a dataset folder whose manifest lists "corpus" files, a folder of
 * corpus *.jsonl files, or one corpus file.
 */
export async function loadCorpus(target: string, options: Pick<LoadOptions, 'imageSize' | 'fit' | 'split' | 'limit' | 'cache' | 'concurrency'> = {}): Promise<CorpusItem[]> {
  if (typeof target !== 'string' || target.length === 0) throw new TypeError('loadCorpus: target must be a path to a folder or .jsonl file');
  const o = resolveOptions({ ...options, anyTask: true }, 'loadCorpus');
  const loc = await locateCorpus(target);
  if (loc.files.length === 0) throw new DatasetError('E_IO', target, 0, 'no corpus files found (expected manifest "corpus" entries, corpus/*.jsonl or *.jsonl)');
  const out: CorpusItem[] = [];
  const stream = streamFiles(loc, o, parseCorpusRecord, async (rec, root, file, line): Promise<CorpusItem> => {
    const base = path.dirname(file);
    const images: RgbImage[] = [];
    for (const rel of rec.images) images.push(await loadImageChecked(await resolveInside(root, base, rel, file, line), rel, file, line, o));
    const kind = (rec.kind ?? (rec.question !== undefined ? 'vqa' : 'caption')) as CorpusKind;
    if (!CORPUS_KINDS.includes(kind)) throw new DatasetError('E_FIELD', file, line, `"kind" must be one of ${CORPUS_KINDS.join(', ')}, got ${JSON.stringify(rec.kind)}`);
    const item: CorpusItem = { id: rec.id, split: rec.split ?? 'train', kind, images, answer: rec.answer };
    if (rec.question !== undefined) item.question = rec.question;
    if (rec.meta !== undefined) item.meta = rec.meta;
    return item;
  });
  for await (const it of stream) out.push(it);
  return out;
}

async function locateCorpus(target: string): Promise<DatasetLocation> {
  const st = await statOrFail(target);
  if (!st.isDirectory()) {
    const real = await fs.realpath(target);
    return { root: path.dirname(real), files: [real] };
  }
  const root = await fs.realpath(target);
  const manifest = await readManifest(root);
  const listed = manifest ? await manifestFiles(root, manifest, 'corpus') : undefined;
  if (listed) return { root, files: listed };
  const sub = path.join(root, 'corpus');
  const subStat = await fs.stat(sub).catch(() => undefined);
  if (subStat?.isDirectory()) {
    const files = (await fs.readdir(sub)).filter((n) => n.endsWith('.jsonl')).sort();
    const out: string[] = [];
    for (const n of files) out.push(await resolveInside(root, sub, n, sub, 0, 'corpus file'));
    return { root, files: out };
  }
  return { root, files: await topLevelJsonl(root) };
}

/**
 * Reads one image file given directly by a user (e.g. `judge --image a.png`), resized like dataset
 * images. No folder confinement here: the user named the file.
 */
export async function loadImageFile(file: string, imageSize?: number | ImageSize, fit: ResizeFit = 'fill'): Promise<RgbImage> {
  if (typeof file !== 'string' || file.length === 0) throw new TypeError('loadImageFile: file must be a path to an image');
  const size = checkImageSize(imageSize, 'loadImageFile');
  try {
    await fs.access(file);
  } catch (err) {
    throw new DatasetError('E_IMAGE_MISSING', file, 0, 'image not found', { cause: err });
  }
  try {
    return await decodeImage(file, size, fit);
  } catch (err) {
    throw new DatasetError('E_IMAGE_DECODE', file, 0, `cannot decode image: ${(err as Error).message}`, { cause: err });
  }
}
