// Checkpoint folders saved and loaded as one atomic unit. A checkpoint is a flat folder of files
// (model.safetensors, config.json, tokenizer.json, optimizer.safetensors, trainer_state.json, ...)
// plus manifest.json listing every file with its size and sha256 and the save's sequence number; the
// manifest is written last, so a folder with a valid manifest is complete by construction.
//
// Save protocol (POSIX rename is atomic, but there is no portable atomic swap of two folders):
//   0. recover: if `<dir>` is missing, rename the newest complete `<dir>.old-*` back; delete every
//      `.old-*` it supersedes and every `.tmp-*` (leftovers of crashed saves);
//   1. write every file into `<dir>.tmp-<tag>` and fsync it; write manifest.json with sequence =
//      1 + the largest sequence present; fsync the folder;
//   2. rename the old `<dir>` aside to `<dir>.old-<tag>` (fsync the parent);
//   3. rename `<dir>.tmp-<tag>` to `<dir>` (fsync the parent) — the commit point;
//   4. delete `<dir>.old-<tag>`.
// At every moment a complete checkpoint exists: before step 3 the old one (at `<dir>`, or at
// `<dir>.old-<tag>` between steps 2 and 3), after it the new one. When `<dir>` is missing, readers
// take the `.old-*` folder with the largest manifest sequence (never a name or mtime order), so two
// crashes in a row cannot roll the checkpoint back to an older version. One writer per folder at a
// time. Layout: docs/formats.md.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsyncDirSync, randomTag, readRegularFileSync, writeFileDurableSync } from './atomic-file.js';
import { parseSafetensors, type SafetensorsFile, type SafeTensorInput, serializeSafetensors } from './safetensors.js';

export const MANIFEST_NAME = 'manifest.json';
export const CHECKPOINT_FORMAT = 'mtrl-judge-checkpoint';
export const CHECKPOINT_VERSION = 1;

/** A `.safetensors` entry: tensors (+ string metadata), or just the tensor record. */
export type SafetensorsEntry = { tensors: Record<string, SafeTensorInput>; metadata?: Record<string, string> } | Record<string, SafeTensorInput>;

/**
 * What a file in the folder holds, by extension: `.safetensors` → a SafetensorsEntry; `.json` → any
 * JSON value (serialised with 2-space indent); any name → raw bytes (Uint8Array) or a string (UTF-8).
 */
export type CheckpointEntry = SafetensorsEntry | Uint8Array | string | unknown;

export interface ManifestFile {
  bytes: number;
  sha256: string;
}

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  createdAt: string;
  /**
   * Save counter of this checkpoint path: 1 + the largest sequence among the folders present when
   * it was saved. Recovery after a crash picks the largest. Absent in manifests written before it
   * existed (read as 0).
   */
  sequence?: number;
  files: Record<string, ManifestFile>;
}

export type CheckpointSaveStage =
  | 'tmp-created' // the temporary folder exists, empty
  | 'file-partial' // half of a file's bytes are written (detail: the file name)
  | 'file-written' // a file is complete and fsynced (detail: the file name)
  | 'manifest-written' // manifest.json is complete: the temporary folder is a full checkpoint
  | 'old-moved' // the previous checkpoint is renamed aside; `<dir>` does not exist right now
  | 'committed' // the new checkpoint is at `<dir>`
  | 'cleaned'; // the previous checkpoint is deleted

export interface SaveCheckpointOptions {
  /** Called at each step of the protocol; throwing aborts there (tests use it to simulate crashes). */
  onStage?: (stage: CheckpointSaveStage, detail?: string) => void;
}

export interface LoadCheckpointOptions {
  /** Load only these files (default: every file in the manifest). Listed files must exist. */
  files?: readonly string[];
  /** Files that must be present, with a clear error otherwise (e.g. ['model.safetensors', 'config.json']). */
  require?: readonly string[];
  /** Check each loaded file's sha256 against the manifest (default true; sizes are always checked). */
  verifyChecksums?: boolean;
}

/** A checkpoint as loaded: parsed files plus typed accessors that fail clearly on a missing file. */
export class LoadedCheckpoint {
  /** The folder actually read: `dir`, or the `.old-` folder when recovering from an interrupted save. */
  readonly path: string;
  readonly manifest: CheckpointManifest;
  /** Parsed contents: `.json` → value, `.safetensors` → SafetensorsFile, other → Buffer. */
  readonly files: Record<string, unknown>;
  /** True when `dir` was missing and the previous checkpoint was read from its `.old-` folder. */
  readonly recovered: boolean;

  constructor(p: string, manifest: CheckpointManifest, files: Record<string, unknown>, recovered: boolean) {
    this.path = p;
    this.manifest = manifest;
    this.files = files;
    this.recovered = recovered;
  }

  #get(name: string): unknown {
    if (!Object.hasOwn(this.files, name))
      throw new CheckpointError(this.path, `has no file '${name}' (loaded: ${Object.keys(this.files).join(', ') || 'none'})`);
    return this.files[name];
  }
  json<T = unknown>(name: string): T {
    if (!name.endsWith('.json')) throw new TypeError(`LoadedCheckpoint.json: '${name}' is not a .json file`);
    return this.#get(name) as T;
  }
  safetensors(name: string): SafetensorsFile {
    if (!name.endsWith('.safetensors')) throw new TypeError(`LoadedCheckpoint.safetensors: '${name}' is not a .safetensors file`);
    return this.#get(name) as SafetensorsFile;
  }
  bytes(name: string): Buffer {
    const v = this.#get(name);
    if (!Buffer.isBuffer(v)) throw new TypeError(`LoadedCheckpoint.bytes: '${name}' was parsed (use json() or safetensors())`);
    return v;
  }
  has(name: string): boolean {
    return Object.hasOwn(this.files, name);
  }
}

/** A missing, incomplete or corrupt checkpoint folder. */
export class CheckpointError extends Error {
  readonly dir: string;
  constructor(dir: string, message: string, options?: { cause?: unknown }) {
    super(`checkpoint '${dir}' ${message}`, options);
    this.name = 'CheckpointError';
    this.dir = dir;
  }
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x);
}

function checkFileName(name: string, fn: string): void {
  if (name.length === 0 || name === '.' || name === '..' || /[/\\\0]/.test(name) || name.startsWith('.'))
    throw new RangeError(`${fn}: file name ${JSON.stringify(name)} must be a plain name (no path separators, not hidden)`);
  if (name === MANIFEST_NAME) throw new RangeError(`${fn}: '${MANIFEST_NAME}' is written by the checkpoint itself and cannot be given`);
}

/** Turns one entry into the bytes of its file. */
function entryBytes(name: string, value: unknown, fn: string): Uint8Array[] {
  if (value instanceof Uint8Array) return [value];
  if (name.endsWith('.safetensors')) {
    if (!isObj(value)) throw new TypeError(`${fn}: files['${name}'] must be { tensors, metadata? } or a record of tensors`);
    // { tensors: {...} } unless "tensors" is itself a tensor (it would have a dtype).
    const wrapped = isObj(value.tensors) && !('dtype' in value.tensors);
    const tensors = (wrapped ? value.tensors : value) as Record<string, SafeTensorInput>;
    const metadata = wrapped && value.metadata !== undefined ? (value.metadata as Record<string, string>) : {};
    return serializeSafetensors(tensors, metadata, `${fn}: files['${name}']`);
  }
  if (name.endsWith('.json')) {
    let text: string | undefined;
    try {
      text = JSON.stringify(value, null, 2);
    } catch (err) {
      throw new TypeError(`${fn}: files['${name}'] is not JSON-serialisable (${(err as Error).message})`);
    }
    if (text === undefined) throw new TypeError(`${fn}: files['${name}'] is not JSON-serialisable (got ${typeof value})`);
    return [new TextEncoder().encode(text + '\n')];
  }
  if (typeof value === 'string') return [new TextEncoder().encode(value)];
  throw new TypeError(`${fn}: files['${name}'] must be a Uint8Array or string (only .json and .safetensors files are serialised for you)`);
}

function siblings(dir: string, kind: 'tmp' | 'old'): string[] {
  const parent = path.dirname(dir);
  const prefix = `${path.basename(dir)}.${kind}-`;
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(prefix)).map((n) => path.join(parent, n));
}

/** Largest manifest.json accepted (a real one is a few hundred bytes per file). */
const MAX_MANIFEST_BYTES = 1 << 20;

function readManifest(folder: string): CheckpointManifest | undefined {
  let text: string;
  try {
    text = readRegularFileSync(path.join(folder, MANIFEST_NAME), { maxBytes: MAX_MANIFEST_BYTES, what: MANIFEST_NAME }).toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new CheckpointError(folder, `has an unreadable ${MANIFEST_NAME}: ${(err as Error).message}`);
  }
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(folder, `has a manifest.json that is not valid JSON (${(err as Error).message})`);
  }
  if (!isObj(m) || m.format !== CHECKPOINT_FORMAT || !isObj(m.files))
    throw new CheckpointError(folder, `has a manifest.json that is not an ${CHECKPOINT_FORMAT} manifest`);
  if (typeof m.version !== 'number' || m.version > CHECKPOINT_VERSION)
    throw new CheckpointError(folder, `has manifest version ${String(m.version)}; this build reads up to ${CHECKPOINT_VERSION}`);
  if (m.sequence !== undefined && (typeof m.sequence !== 'number' || !Number.isSafeInteger(m.sequence) || m.sequence < 0))
    throw new CheckpointError(folder, `has a manifest sequence that is not a non-negative integer: ${JSON.stringify(m.sequence)}`);
  for (const [name, f] of Object.entries(m.files)) {
    if (!isObj(f) || typeof f.bytes !== 'number' || !Number.isSafeInteger(f.bytes) || f.bytes < 0 || typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256))
      throw new CheckpointError(folder, `manifest entry '${name}' must be { bytes, sha256 }`);
    if (name.length === 0 || /[/\\\0]/.test(name) || name === '.' || name === '..') throw new CheckpointError(folder, `manifest names an invalid file ${JSON.stringify(name)}`);
  }
  return m as unknown as CheckpointManifest;
}

interface Candidate {
  folder: string;
  sequence: number;
}

/** The sequence of a complete checkpoint folder (valid manifest, every listed file present at its size), else undefined. */
function completeSequence(folder: string): number | undefined {
  let m: CheckpointManifest | undefined;
  try {
    m = readManifest(folder);
  } catch {
    return undefined;
  }
  if (!m) return undefined;
  for (const [name, info] of Object.entries(m.files)) {
    let st: fs.Stats;
    try {
      st = fs.statSync(path.join(folder, name));
    } catch {
      return undefined;
    }
    if (!st.isFile() || st.size !== info.bytes) return undefined;
  }
  return m.sequence ?? 0;
}

/** Complete `<dir>.old-*` folders, newest (largest sequence) first; ties broken by name for determinism. */
function oldCandidates(dir: string): Candidate[] {
  const out: Candidate[] = [];
  for (const folder of siblings(dir, 'old')) {
    const sequence = completeSequence(folder);
    if (sequence !== undefined) out.push({ folder, sequence });
  }
  return out.sort((x, y) => y.sequence - x.sequence || (x.folder < y.folder ? -1 : x.folder > y.folder ? 1 : 0));
}

/** The newest complete `.old-` folder: the checkpoint to read when `<dir>` is missing after a crash. */
function findRecoverable(dir: string): string | undefined {
  return oldCandidates(dir)[0]?.folder;
}

/**
 * Repairs the state interrupted saves can leave behind: if `dir` is missing, the newest complete
 * `<dir>.old-*` (largest manifest sequence) is renamed back; then every `.old-*` folder that the
 * checkpoint at `dir` supersedes (smaller or equal sequence, or incomplete) is deleted. Returns true
 * when a checkpoint was restored to `dir`. Run by every save; safe to call at any time while no save
 * of this folder is running.
 */
export function recoverCheckpointFolder(dir: string): boolean {
  const abs = path.resolve(dir);
  let restored = false;
  if (!fs.existsSync(abs)) {
    const old = findRecoverable(abs);
    if (!old) return false;
    fs.renameSync(old, abs);
    fsyncDirSync(path.dirname(abs));
    restored = true;
  }
  const current = completeSequence(abs);
  if (current === undefined) return restored; // `dir` is damaged: keep everything for a human to look at
  let removed = false;
  for (const folder of siblings(abs, 'old')) {
    const seq = completeSequence(folder);
    if (seq === undefined || seq <= current) {
      fs.rmSync(folder, { recursive: true, force: true });
      removed = true;
    }
  }
  if (removed) fsyncDirSync(path.dirname(abs));
  return restored;
}

/**
 * Saves a whole checkpoint folder atomically (see the protocol at the top of this file) and returns
 * its manifest. `files` maps plain file names to entries (see CheckpointEntry).
 */
export function saveCheckpointFolder(dir: string, files: Record<string, CheckpointEntry>, opts: SaveCheckpointOptions = {}): CheckpointManifest {
  const fn = 'saveCheckpointFolder';
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`${fn}: dir must be a non-empty string, got ${JSON.stringify(dir)}`);
  if (!isObj(files)) throw new TypeError(`${fn}: files must be an object mapping file names to contents`);
  const names = Object.keys(files);
  if (names.length === 0) throw new RangeError(`${fn}: files is empty (a checkpoint needs at least one file)`);
  for (const n of names) checkFileName(n, fn);
  // Serialise everything before touching the disk, so bad input never leaves a half-made folder.
  const contents = names.map((n) => [n, entryBytes(n, files[n], fn)] as const);

  const abs = path.resolve(dir);
  const parent = path.dirname(abs);
  fs.mkdirSync(parent, { recursive: true });
  const stage = (s: CheckpointSaveStage, detail?: string) => opts.onStage?.(s, detail);
  // Undo an earlier interrupted save first, and drop leftovers of crashed saves (single writer).
  recoverCheckpointFolder(abs);
  for (const t of siblings(abs, 'tmp')) fs.rmSync(t, { recursive: true, force: true });
  let sequence = completeSequence(abs) ?? 0;
  for (const c of oldCandidates(abs)) sequence = Math.max(sequence, c.sequence);
  sequence += 1;

  const tag = randomTag();
  const tmp = `${abs}.tmp-${tag}`;
  const old = `${abs}.old-${tag}`;
  let movedOld = false;
  let committed = false;
  try {
    fs.mkdirSync(tmp);
    stage('tmp-created');
    const manifestFiles: Record<string, ManifestFile> = {};
    for (const [name, chunks] of contents) {
      manifestFiles[name] = writeFileDurableSync(path.join(tmp, name), chunks, () => stage('file-partial', name));
      stage('file-written', name);
    }
    const manifest: CheckpointManifest = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, createdAt: new Date().toISOString(), sequence, files: manifestFiles };
    writeFileDurableSync(path.join(tmp, MANIFEST_NAME), new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'));
    fsyncDirSync(tmp);
    stage('manifest-written');
    if (fs.existsSync(abs)) {
      fs.renameSync(abs, old);
      movedOld = true;
      fsyncDirSync(parent);
      stage('old-moved');
    }
    fs.renameSync(tmp, abs);
    committed = true;
    fsyncDirSync(parent);
    stage('committed');
    if (movedOld) fs.rmSync(old, { recursive: true, force: true });
    stage('cleaned');
    return manifest;
  } catch (err) {
    // Roll back to the previous checkpoint unless the new one is already committed.
    if (!committed) {
      if (movedOld && !fs.existsSync(abs)) {
        try {
          fs.renameSync(old, abs);
          fsyncDirSync(parent);
        } catch {
          /* leave it at .old-: load and the next save recover it */
        }
      }
      fs.rmSync(tmp, { recursive: true, force: true });
    } else if (movedOld) fs.rmSync(old, { recursive: true, force: true });
    throw err;
  }
}

function parseFile(folder: string, name: string, buf: Buffer): unknown {
  if (name.endsWith('.safetensors')) return parseSafetensors(buf, path.join(folder, name));
  if (name.endsWith('.json')) {
    try {
      return JSON.parse(buf.toString('utf8'));
    } catch (err) {
      throw new CheckpointError(folder, `file '${name}' is not valid JSON (${(err as Error).message})`);
    }
  }
  return buf;
}

/**
 * Loads and validates a checkpoint folder: the manifest must exist (else the folder is incomplete),
 * every listed file must exist with the recorded size (and sha256 unless verifyChecksums is false),
 * `.json` files are parsed and `.safetensors` files fully validated; a listed file that is not a
 * regular file (FIFO, device, folder) is refused before reading. When `dir` is missing because a
 * save was interrupted between its renames, the newest complete `<dir>.old-*` (largest manifest
 * sequence) is read instead; nothing is renamed or deleted (recoverCheckpointFolder and the next
 * save do that).
 */
export function loadCheckpointFolder(dir: string, opts: LoadCheckpointOptions = {}): LoadedCheckpoint {
  const fn = 'loadCheckpointFolder';
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`${fn}: dir must be a non-empty string, got ${JSON.stringify(dir)}`);
  const abs = path.resolve(dir);
  let folder = abs;
  let recovered = false;
  if (!fs.existsSync(abs)) {
    const old = findRecoverable(abs);
    if (!old) throw new CheckpointError(dir, `does not exist`);
    folder = old;
    recovered = true;
  } else if (!fs.statSync(abs).isDirectory()) throw new CheckpointError(dir, `is not a folder`);

  const manifest = readManifest(folder);
  if (!manifest) throw new CheckpointError(folder, `is incomplete: ${MANIFEST_NAME} is missing (was the save interrupted?)`);
  const listed = Object.keys(manifest.files);
  for (const r of opts.require ?? [])
    if (!Object.hasOwn(manifest.files, r)) throw new CheckpointError(folder, `is missing required file '${r}' (has: ${listed.join(', ') || 'none'})`);
  const wanted = opts.files ?? listed;
  const verify = opts.verifyChecksums !== false;
  const out: [string, unknown][] = [];
  for (const name of wanted) {
    const info = manifest.files[name];
    if (!info || !Object.hasOwn(manifest.files, name)) throw new CheckpointError(folder, `has no file '${name}' (has: ${listed.join(', ') || 'none'})`);
    let buf: Buffer;
    try {
      // Type and size are checked before reading: a FIFO or /dev/zero fails at once, not after a hang.
      buf = readRegularFileSync(path.join(folder, name), { what: `'${name}'`, expectedBytes: info.bytes });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ESIZE') throw new CheckpointError(folder, `is corrupt: ${e.message.replace(/, expected (\d+)$/, ', the manifest says $1')}`);
      throw new CheckpointError(folder, `is corrupt: '${name}' is listed in the manifest but cannot be read (${e.message})`);
    }
    if (verify && createHash('sha256').update(buf).digest('hex') !== info.sha256)
      throw new CheckpointError(folder, `is corrupt: sha256 of '${name}' does not match the manifest`);
    out.push([name, parseFile(folder, name, buf)]);
  }
  return new LoadedCheckpoint(folder, manifest, Object.fromEntries(out), recovered);
}
