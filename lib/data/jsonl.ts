// The JSONL dataset format (docs/data-format.md): one judging example per line, with image paths
// relative to the file. This file reads lines as a stream (large files never sit in memory whole),
// validates each record with errors that say file:line and what was expected, and writes records.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { JudgeFormat, Split } from './types.js';

export const FORMATS: readonly JudgeFormat[] = ['binary', 'pairwise', 'score', 'choice'];
export const SPLIT_NAMES: readonly Split[] = ['train', 'validation', 'test'];

/** One line of a dataset file, as stored. */
export interface JsonlRecord {
  id: string;
  task: string;
  format: JudgeFormat;
  /** Image paths relative to the JSONL file, forward slashes. */
  images: string[];
  prompt?: string;
  label: number;
  score?: number;
  raters?: number[];
  split?: Split;
  meta?: Record<string, unknown>;
}

export type DatasetErrorCode =
  | 'E_IO'
  | 'E_JSON'
  | 'E_FIELD'
  | 'E_TASK'
  | 'E_FORMAT'
  | 'E_LABEL'
  | 'E_DUPLICATE_ID'
  | 'E_IMAGE_PATH'
  | 'E_IMAGE_MISSING'
  | 'E_IMAGE_DECODE';

/** A problem in a dataset, located at file:line (line 0 when it concerns the file as a whole). */
export class DatasetError extends Error {
  readonly code: DatasetErrorCode;
  readonly file: string;
  readonly line: number;
  constructor(code: DatasetErrorCode, file: string, line: number, message: string, options?: { cause?: unknown }) {
    super(`${line > 0 ? `${file}:${line}` : file}: ${message}`, options);
    this.name = 'DatasetError';
    this.code = code;
    this.file = file;
    this.line = line;
  }
}

/** Lines of a text file, streamed, with 1-based line numbers; a UTF-8 BOM on line 1 is dropped. */
export async function* readLines(file: string): AsyncGenerator<{ text: string; line: number }> {
  const stream = createReadStream(file, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (err) {
    stream.destroy();
    throw new DatasetError('E_IO', file, 0, `cannot read the dataset file: ${(err as Error).message}`, { cause: err });
  }
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const raw of rl) {
      line++;
      yield { text: line === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw, line };
    }
  } finally {
    rl.close();
    stream.destroy();
  }
}

/** What the validator knows about tasks: name → required format (undefined = any format). */
export type TaskFormats = ReadonlyMap<string, JudgeFormat | undefined>;

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Most images one dataset record may list (config.maxImages is at most 64 too). */
export const MAX_RECORD_IMAGES = 64;

/** The start of every line's validation: a JSON object with a non-empty "id"; `fail` throws a DatasetError at this line. */
/** The optional `split` and `meta` fields both record kinds share, checked and copied onto `out`. */
function withSplitAndMeta<T extends { split?: Split; meta?: Record<string, unknown> }>(
  r: Record<string, unknown>,
  out: T,
  id: string,
  fail: (code: DatasetErrorCode, msg: string) => never,
): T {
  if (r.split !== undefined && r.split !== null) {
    if (typeof r.split !== 'string' || !SPLIT_NAMES.includes(r.split as Split))
      fail('E_FIELD', `"split" must be one of ${SPLIT_NAMES.join(', ')}, got ${JSON.stringify(r.split)} (id ${id})`);
    out.split = r.split as Split;
  }
  if (r.meta !== undefined && r.meta !== null) {
    if (typeof r.meta !== 'object' || Array.isArray(r.meta)) fail('E_FIELD', `"meta" must be an object, got ${typeName(r.meta)} (id ${id})`);
    out.meta = r.meta as Record<string, unknown>;
  }
  return out;
}

function parseLine(text: string, file: string, line: number): { fail: (code: DatasetErrorCode, msg: string) => never; r: Record<string, unknown>; id: string } {
  const fail = (code: DatasetErrorCode, msg: string): never => {
    throw new DatasetError(code, file, line, msg);
  };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return fail('E_JSON', `malformed JSON: ${(err as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return fail('E_JSON', `each line must be a JSON object, got ${typeName(v)}`);
  const r = v as Record<string, unknown>;
  if (typeof r.id !== 'string' || r.id.length === 0) fail('E_FIELD', `"id" must be a non-empty string, got ${typeName(r.id)}`);
  return { fail, r, id: r.id as string };
}

/**
 * Parses and validates one line. `tasks` lists the accepted task names (and the format each must
 * use); pass undefined to accept any task name.
 */
export function parseRecord(text: string, file: string, line: number, tasks: TaskFormats | undefined): JsonlRecord {
  const { fail, r, id } = parseLine(text, file, line);
  if (typeof r.task !== 'string' || r.task.length === 0) fail('E_FIELD', `"task" must be a non-empty string, got ${typeName(r.task)} (id ${id})`);
  const task = r.task as string;
  if (tasks && !tasks.has(task)) {
    fail('E_TASK', `unknown task ${JSON.stringify(task)} (id ${id}); known tasks: ${[...tasks.keys()].join(', ')}. Pass the task in the loader's \`tasks\` option to accept it`);
  }
  if (typeof r.format !== 'string' || !FORMATS.includes(r.format as JudgeFormat))
    fail('E_FORMAT', `unknown format ${JSON.stringify(r.format)} (id ${id}); expected one of ${FORMATS.join(', ')}`);
  const format = r.format as JudgeFormat;
  const want = tasks?.get(task);
  if (want && want !== format) fail('E_FORMAT', `task ${task} uses format "${want}", but the record says "${format}" (id ${id})`);
  if (!Array.isArray(r.images) || r.images.length === 0) fail('E_FIELD', `"images" must be a non-empty array of relative paths, got ${typeName(r.images)} (id ${id})`);
  const images = r.images as unknown[];
  if (images.length > MAX_RECORD_IMAGES)
    fail('E_FIELD', `"images" has ${images.length} entries; a record may have at most ${MAX_RECORD_IMAGES} (id ${id})`);
  images.forEach((p, i) => {
    if (typeof p !== 'string' || p.length === 0) fail('E_FIELD', `"images[${i}]" must be a non-empty string path, got ${typeName(p)} (id ${id})`);
  });
  if (format === 'pairwise' && images.length < 2) fail('E_FIELD', `a pairwise record needs at least 2 images, got ${images.length} (id ${id})`);
  const label = r.label;
  const badLabel = (expected: string): never => fail('E_LABEL', `"label" must be ${expected} for format ${format}, got ${JSON.stringify(label) ?? typeName(label)} (id ${id})`);
  if (typeof label !== 'number' || !Number.isFinite(label)) badLabel(labelExpectation(format, images.length));
  const lab = label as number;
  switch (format) {
    case 'binary':
      if (lab !== 0 && lab !== 1) badLabel('0 or 1');
      break;
    case 'pairwise':
      if (!Number.isInteger(lab) || lab < 0 || lab >= images.length) badLabel(labelExpectation(format, images.length));
      break;
    case 'choice':
      if (!Number.isInteger(lab) || lab < 0) badLabel('a non-negative integer (the index of the correct option)');
      break;
    case 'score':
      break;
  }
  const out: JsonlRecord = { id, task, format, images: images as string[], label: lab };
  if (r.prompt !== undefined && r.prompt !== null) {
    if (typeof r.prompt !== 'string') fail('E_FIELD', `"prompt" must be a string, got ${typeName(r.prompt)} (id ${id})`);
    out.prompt = r.prompt as string;
  }
  if (r.score !== undefined && r.score !== null) {
    if (typeof r.score !== 'number' || !Number.isFinite(r.score)) fail('E_FIELD', `"score" must be a finite number, got ${typeName(r.score)} (id ${id})`);
    out.score = r.score as number;
  }
  if (r.raters !== undefined && r.raters !== null) {
    if (!Array.isArray(r.raters) || !r.raters.every((x) => typeof x === 'number' && Number.isFinite(x)))
      fail('E_FIELD', `"raters" must be an array of finite numbers (id ${id})`);
    out.raters = r.raters as number[];
  }
  return withSplitAndMeta(r, out, id, fail);
}

function labelExpectation(format: JudgeFormat, nImages: number): string {
  switch (format) {
    case 'binary':
      return '0 or 1';
    case 'pairwise':
      return `an integer image index in [0, ${nImages - 1}]`;
    case 'choice':
      return 'a non-negative integer';
    case 'score':
      return 'a finite number';
  }
}

/** One record as a JSONL line (no trailing newline); fields in the documented order. */
export function recordToLine(r: JsonlRecord): string {
  const o: Record<string, unknown> = { id: r.id, task: r.task, format: r.format, images: r.images };
  if (r.prompt !== undefined) o.prompt = r.prompt;
  o.label = r.label;
  if (r.score !== undefined) o.score = r.score;
  if (r.raters !== undefined) o.raters = r.raters;
  if (r.split !== undefined) o.split = r.split;
  if (r.meta !== undefined) o.meta = r.meta;
  return JSON.stringify(o);
}

/** One line of a base-model corpus file (captions and VQA; see docs/data-format.md). */
export interface CorpusRecord {
  id: string;
  kind?: string;
  images: string[];
  question?: string;
  answer: string;
  split?: Split;
  meta?: Record<string, unknown>;
}

/** Parses and validates one corpus line. */
export function parseCorpusRecord(text: string, file: string, line: number): CorpusRecord {
  const { fail, r, id } = parseLine(text, file, line);
  if (!Array.isArray(r.images) || r.images.length === 0 || !r.images.every((p) => typeof p === 'string' && p.length > 0))
    fail('E_FIELD', `"images" must be a non-empty array of relative paths (id ${id})`);
  if ((r.images as string[]).length > MAX_RECORD_IMAGES)
    fail('E_FIELD', `"images" has ${(r.images as string[]).length} entries; a record may have at most ${MAX_RECORD_IMAGES} (id ${id})`);
  if (typeof r.answer !== 'string') fail('E_FIELD', `"answer" must be a string, got ${typeName(r.answer)} (id ${id})`);
  const out: CorpusRecord = { id, images: r.images as string[], answer: r.answer as string };
  if (r.question !== undefined && r.question !== null) {
    if (typeof r.question !== 'string') fail('E_FIELD', `"question" must be a string, got ${typeName(r.question)} (id ${id})`);
    out.question = r.question as string;
  }
  if (r.kind !== undefined && r.kind !== null) {
    if (typeof r.kind !== 'string') fail('E_FIELD', `"kind" must be a string, got ${typeName(r.kind)} (id ${id})`);
    out.kind = r.kind as string;
  }
  return withSplitAndMeta(r, out, id, fail);
}

export function corpusRecordToLine(r: CorpusRecord): string {
  const o: Record<string, unknown> = { id: r.id };
  if (r.kind !== undefined) o.kind = r.kind;
  o.images = r.images;
  if (r.question !== undefined) o.question = r.question;
  o.answer = r.answer;
  if (r.split !== undefined) o.split = r.split;
  if (r.meta !== undefined) o.meta = r.meta;
  return JSON.stringify(o);
}
