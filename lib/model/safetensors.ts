// Safetensors reader/writer on plain typed arrays (no native addon needed), for checkpoints.
// Format (https://github.com/huggingface/safetensors): 8-byte little-endian u64 header length N, N bytes
// of UTF-8 JSON `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: {str: str} }`,
// then the raw little-endian tensor bytes; offsets are relative to the end of the header, and the
// tensors must tile the data exactly (sorted by offset, no gaps, no overlaps, no trailing bytes).
// Files come from anywhere, so parsing trusts nothing: every rule is checked and every violation is a
// SafetensorsError naming the file, the tensor and the problem. docs/formats.md has the details.
import * as os from 'node:os';
import { type AtomicWriteOptions, littleEndianBytes, readRegularFileSync, writeFileAtomicSync } from './atomic-file.js';

export type SafeDType = 'f32' | 'bf16' | 'i32' | 'u8';
export type SafeData = Float32Array | Uint16Array | Int32Array | Uint8Array;

/** One tensor: bf16 data is raw bit patterns in a Uint16Array (as `Tensor.data` gives them). */
export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  data: SafeData;
}

/** What a writer accepts: like SafeTensor, but bf16 may also be given as a Float32Array (rounded to nearest even). */
export interface SafeTensorInput {
  dtype: SafeDType;
  shape: readonly number[];
  data: SafeData;
}

export interface SafetensorsFile {
  tensors: Record<string, SafeTensor>;
  metadata: Record<string, string>;
}

export interface ParseOptions {
  /** Copy tensor bytes out of the buffer (default false: aligned tensors are zero-copy views of `buf`). */
  copy?: boolean;
}

/** A malformed or hostile safetensors file. `file` names the source (a path or '<buffer>'). */
export class SafetensorsError extends Error {
  readonly file: string;
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(`safetensors '${file}': ${message}`, options);
    this.name = 'SafetensorsError';
    this.file = file;
  }
}

/** The safetensors spec caps headers at 100 MB; anything larger is hostile or corrupt. */
export const MAX_HEADER_BYTES = 100_000_000;

const FILE_DTYPE: Record<SafeDType, string> = { f32: 'F32', bf16: 'BF16', i32: 'I32', u8: 'U8' };
const ELEMENT_BYTES: Record<SafeDType, number> = { f32: 4, bf16: 2, i32: 4, u8: 1 };
/** File dtypes we read, with their byte size and the dtype they load as (F16 widens losslessly to f32). */
const READ_DTYPES: Record<string, { size: number; as: SafeDType }> = {
  F32: { size: 4, as: 'f32' },
  BF16: { size: 2, as: 'bf16' },
  I32: { size: 4, as: 'i32' },
  U8: { size: 1, as: 'u8' },
  F16: { size: 2, as: 'f32' },
};
const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Element count of a validated shape, refusing products past 2^53 (they cannot be real tensors). */
function numelOf(shape: readonly number[], fail: (msg: string) => never): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) fail(`shape ${shapeStr(shape)} has more than 2^53 elements`);
  }
  return n;
}

/** IEEE half → float (exact: every f16 value is representable in f32). */
function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** f32 → bf16 bits, round to nearest even; NaN stays a (quiet) NaN. Same rule as the native cast. */
function f32ToBf16Bits(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const u = bits[i]!;
    if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) out[i] = ((u >>> 16) | 0x40) & 0xffff;
    else out[i] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

interface Entry {
  name: string;
  fileDtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses a safetensors file held in memory. Every structural rule is validated; violations throw a
 * SafetensorsError naming `source`. Aligned tensors are zero-copy views of `buf` unless `copy` is set.
 */
export function parseSafetensors(buf: Uint8Array, source = '<buffer>', opts: ParseOptions = {}): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new SafetensorsError(source, msg);
  };
  if (!(buf instanceof Uint8Array)) throw new TypeError(`parseSafetensors: buf must be a Uint8Array or Buffer, got ${buf === null ? 'null' : typeof buf}`);
  if (buf.length < 8) fail(`file is ${buf.length} bytes, too short for the 8-byte header length`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen64 = view.getBigUint64(0, true);
  if (headerLen64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLen64} is absurdly large (limit ${MAX_HEADER_BYTES} bytes)`);
  const headerLen = Number(headerLen64);
  if (8 + headerLen > buf.length) fail(`header length ${headerLen} runs past the end of the file (${buf.length} bytes)`);
  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf.subarray(8, dataStart));
  } catch (err) {
    return fail(`header is not valid UTF-8 (${(err as Error).message})`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return fail(`header is not valid JSON (${(err as Error).message})`);
  }
  const dup = duplicateKey(text);
  if (dup !== undefined) fail(`header has the key ${JSON.stringify(dup)} more than once in one object (JSON.parse would silently keep the last)`);
  if (!isPlainObject(header)) fail(`header must be a JSON object, got ${Array.isArray(header) ? 'an array' : header === null ? 'null' : typeof header}`);
  const hdr = header as Record<string, unknown>;

  const metadata: [string, string][] = [];
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(hdr)) {
    if (name === '__metadata__') {
      if (!isPlainObject(info)) fail(`__metadata__ must be an object of strings`);
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__['${k}'] must be a string, got ${v === null ? 'null' : typeof v}`);
        metadata.push([k, v as string]);
      }
      continue;
    }
    const t = (msg: string): never => fail(`tensor '${name}': ${msg}`);
    if (!isPlainObject(info)) t(`entry must be an object with dtype, shape and data_offsets`);
    const e = info as Record<string, unknown>;
    const dtype = e.dtype;
    if (typeof dtype !== 'string') t(`dtype must be a string, got ${typeof dtype}`);
    if (!Object.hasOwn(READ_DTYPES, dtype as string))
      t(`unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(READ_DTYPES).join(', ')})`);
    const shape = e.shape;
    if (!Array.isArray(shape)) t(`shape must be an array of non-negative integers`);
    (shape as unknown[]).forEach((d, i) => {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
        t(`shape[${i}] must be a non-negative integer, got ${JSON.stringify(d)}`);
    });
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2) t(`data_offsets must be an array [begin, end]`);
    const [begin, end] = off as unknown[];
    for (const [what, v] of [['begin', begin], ['end', end]] as const)
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) t(`data_offsets ${what} must be a non-negative integer, got ${JSON.stringify(v)}`);
    const b = begin as number;
    const en = end as number;
    if (en < b) t(`data_offsets [${b}, ${en}] end before begin`);
    if (en > dataLen) t(`data_offsets [${b}, ${en}] lie outside the data section (${dataLen} bytes)`);
    const numel = numelOf(shape as number[], t);
    const need = numel * READ_DTYPES[dtype as string]!.size;
    if (en - b !== need)
      t(`data_offsets [${b}, ${en}] span ${en - b} bytes but shape ${shapeStr(shape as number[])} of ${dtype} needs ${need}`);
    entries.push({ name, fileDtype: dtype as string, shape: (shape as number[]).slice(), begin: b, end: en });
  }

  // The tensors must tile [0, dataLen) exactly: sorted by offset, each starting where the last ended.
  const sorted = entries.slice().sort((x, y) => x.begin - y.begin || x.end - y.end);
  let cursor = 0;
  let prev: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < cursor) fail(`tensors '${prev!.name}' [${prev!.begin}, ${prev!.end}] and '${e.name}' [${e.begin}, ${e.end}] overlap`);
    if (e.begin > cursor)
      fail(`gap of ${e.begin - cursor} bytes before tensor '${e.name}' at offset ${cursor} (tensor data must be contiguous)`);
    cursor = e.end;
    prev = e;
  }
  if (cursor !== dataLen) fail(`${dataLen - cursor} trailing bytes after the last tensor (data section is ${dataLen} bytes, tensors cover ${cursor})`);

  const tensors: [string, SafeTensor][] = entries.map((e) => [e.name, { ...decodeData(buf, dataStart, e, opts.copy === true) }]);
  return { tensors: Object.fromEntries(tensors), metadata: Object.fromEntries(metadata) };
}

function decodeData(buf: Uint8Array, dataStart: number, e: Entry, copy: boolean): SafeTensor {
  const { size, as } = READ_DTYPES[e.fileDtype]!;
  const numel = (e.end - e.begin) / size;
  const abs = buf.byteOffset + dataStart + e.begin;
  const bytes = buf.subarray(dataStart + e.begin, dataStart + e.end);
  if (e.fileDtype === 'F16') {
    const dv = new DataView(buf.buffer, abs, e.end - e.begin);
    const out = new Float32Array(numel);
    for (let i = 0; i < numel; i++) out[i] = f16ToF32(dv.getUint16(2 * i, true));
    return { dtype: 'f32', shape: e.shape, data: out };
  }
  const Ctor = { f32: Float32Array, bf16: Uint16Array, i32: Int32Array, u8: Uint8Array }[as];
  if (LITTLE_ENDIAN_HOST && !copy && abs % size === 0) return { dtype: as, shape: e.shape, data: new Ctor(buf.buffer as ArrayBuffer, abs, numel) };
  const out = new Ctor(numel);
  if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer).set(bytes);
  else {
    const dv = new DataView(buf.buffer, abs, e.end - e.begin);
    for (let i = 0; i < numel; i++) {
      if (as === 'f32') out[i] = dv.getFloat32(4 * i, true);
      else if (as === 'i32') out[i] = dv.getInt32(4 * i, true);
      else if (as === 'bf16') out[i] = dv.getUint16(2 * i, true);
      else out[i] = dv.getUint8(i);
    }
  }
  return { dtype: as, shape: e.shape, data: out };
}

/**
 * The first key that appears twice in the same object of a valid JSON text, or undefined. One pass:
 * a stack holds the keys seen in each open object (arrays push null).
 */
function duplicateKey(text: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) stack.push(new Set());
    else if (c === 0x5b /* [ */) stack.push(null);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    else if (c === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top) {
        let k = j + 1;
        while (k < text.length && /\s/.test(text[k]!)) k++;
        if (text[k] === ':') {
          const key = JSON.parse(text.slice(i, j + 1)) as string;
          if (top.has(key)) return key;
          top.add(key);
        }
      }
      i = j;
    }
  }
  return undefined;
}

/** Reads and validates a safetensors file (synchronously; tensors are views of one private buffer). */
export function readSafetensors(file: string): SafetensorsFile {
  if (typeof file !== 'string' || file.length === 0) throw new TypeError(`readSafetensors: path must be a non-empty string, got ${JSON.stringify(file)}`);
  let buf: Buffer;
  try {
    buf = readRegularFileSync(file); // a FIFO or /dev/zero is refused before reading
  } catch (err) {
    throw new SafetensorsError(file, `cannot read file (${(err as Error).message})`, { cause: err });
  }
  return parseSafetensors(buf, file);
}

const DATA_CLASS: Record<SafeDType, string> = { f32: 'Float32Array', bf16: 'Uint16Array (bf16 bits) or Float32Array', i32: 'Int32Array', u8: 'Uint8Array' };

function checkInput(fn: string, name: string, t: unknown): { dtype: SafeDType; shape: number[]; data: SafeData } {
  const where = `${fn}: tensors['${name}']`;
  if (!isPlainObject(t)) throw new TypeError(`${where} must be an object { dtype, shape, data }`);
  const dtype = t.dtype;
  if (typeof dtype !== 'string' || !Object.hasOwn(FILE_DTYPE, dtype))
    throw new TypeError(`${where}.dtype must be one of 'f32', 'bf16', 'i32', 'u8', got ${JSON.stringify(dtype)}`);
  const dt = dtype as SafeDType;
  const shape = t.shape;
  if (!Array.isArray(shape)) throw new TypeError(`${where}.shape must be an array of non-negative integers`);
  shape.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      throw new RangeError(`${where}.shape[${i}] must be a non-negative integer, got ${JSON.stringify(d)}`);
  });
  let data = t.data;
  const ok =
    (dt === 'f32' && data instanceof Float32Array) ||
    (dt === 'bf16' && (data instanceof Uint16Array || data instanceof Float32Array)) ||
    (dt === 'i32' && data instanceof Int32Array) ||
    (dt === 'u8' && data instanceof Uint8Array);
  if (!ok) throw new TypeError(`${where}.data must be a ${DATA_CLASS[dt]} for dtype ${dt}, got ${data === null ? 'null' : (data as object)?.constructor?.name ?? typeof data}`);
  if (dt === 'bf16' && data instanceof Float32Array) data = f32ToBf16Bits(data);
  const numel = numelOf(shape as number[], (msg) => {
    throw new RangeError(`${where}: ${msg}`);
  });
  if ((data as SafeData).length !== numel)
    throw new RangeError(`${where}.data has ${(data as SafeData).length} elements but shape ${shapeStr(shape as number[])} needs ${numel}`);
  return { dtype: dt, shape: (shape as number[]).slice(), data: data as SafeData };
}

/**
 * Serialises tensors to safetensors bytes, returned as chunks (header, then each tensor's bytes) so
 * large checkpoints are never copied into one buffer. Tensors are laid out by element size
 * (4-byte dtypes first, then bf16, then u8; input order otherwise) and the header is space-padded to
 * 8 bytes, so every tensor is naturally aligned for zero-copy reading.
 */
export function serializeSafetensors(tensors: Record<string, SafeTensorInput>, metadata: Record<string, string> = {}, fn = 'serializeSafetensors'): Uint8Array[] {
  if (!isPlainObject(tensors)) throw new TypeError(`${fn}: tensors must be an object mapping names to { dtype, shape, data }`);
  if (!isPlainObject(metadata)) throw new TypeError(`${fn}: metadata must be an object of strings`);
  for (const [k, v] of Object.entries(metadata))
    if (typeof v !== 'string') throw new TypeError(`${fn}: metadata['${k}'] must be a string, got ${v === null ? 'null' : typeof v}`);
  const items = Object.entries(tensors).map(([name, t]) => {
    if (name.length === 0) throw new RangeError(`${fn}: tensor names must be non-empty`);
    if (name === '__metadata__') throw new RangeError(`${fn}: '__metadata__' is reserved and cannot name a tensor`);
    return { name, ...checkInput(fn, name, t) };
  });
  // Stable sort: Array.prototype.sort is stable, so equal sizes keep the caller's order.
  items.sort((a, b) => ELEMENT_BYTES[b.dtype] - ELEMENT_BYTES[a.dtype]);

  // Build the header text by hand so the key order is exactly ours (JS objects would hoist
  // integer-like names such as "10" to the front).
  const parts: string[] = [];
  if (Object.keys(metadata).length > 0) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const it of items) {
    const bytes = it.data.byteLength;
    parts.push(`${JSON.stringify(it.name)}:${JSON.stringify({ dtype: FILE_DTYPE[it.dtype], shape: it.shape, data_offsets: [offset, offset + bytes] })}`);
    offset += bytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8;
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return [head, ...items.map((it) => littleEndianBytes(it.data))];
}

/**
 * Writes tensors (+ optional string metadata) to `file` atomically: a crash mid-save leaves the
 * previous file intact. `opts.onStage` is the fault-injection hook of writeFileAtomicSync.
 */
export function writeSafetensors(file: string, tensors: Record<string, SafeTensorInput>, metadata: Record<string, string> = {}, opts: AtomicWriteOptions = {}): void {
  if (typeof file !== 'string' || file.length === 0) throw new TypeError(`writeSafetensors: path must be a non-empty string, got ${JSON.stringify(file)}`);
  writeFileAtomicSync(file, serializeSafetensors(tensors, metadata, 'writeSafetensors'), opts);
}

export interface TensorSpec {
  dtype: SafeDType;
  shape: readonly number[];
}

/**
 * Checks that a loaded file holds exactly the tensors a model config expects (names, dtypes, shapes).
 * Throws one SafetensorsError listing every missing, mismatched and (unless allowExtra) unexpected
 * tensor, so a wrong checkpoint is diagnosed in one go.
 */
export function checkTensorSpecs(file: SafetensorsFile, expected: Record<string, TensorSpec>, source = '<buffer>', opts: { allowExtra?: boolean } = {}): void {
  const problems: string[] = [];
  const have = new Map(Object.entries(file.tensors));
  for (const [name, spec] of Object.entries(expected)) {
    const t = have.get(name);
    if (!t) problems.push(`missing tensor '${name}' (${spec.dtype} ${shapeStr(spec.shape)})`);
    else if (t.dtype !== spec.dtype || t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i]))
      problems.push(`tensor '${name}' is ${t.dtype} ${shapeStr(t.shape)}, expected ${spec.dtype} ${shapeStr(spec.shape)}`);
  }
  if (!opts.allowExtra) for (const name of have.keys()) if (!Object.hasOwn(expected, name)) problems.push(`unexpected tensor '${name}'`);
  if (problems.length > 0) throw new SafetensorsError(source, problems.join('; '));
}
