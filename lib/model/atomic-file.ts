// Crash-safe file writes shared by the safetensors writer and the checkpoint-folder helpers.
// A file is written to a temporary sibling in the same folder (same filesystem, so rename is atomic),
// fsynced, renamed over the target, and the folder is fsynced so the rename itself is durable. At
// every moment the target path holds either the complete old file or the complete new one.
//
// `onStage` lets tests (and curious callers) run code at each step; throwing from it behaves like a
// crash at that point, except that the temporary file is cleaned up (a real crash leaves it behind,
// which is harmless: nothing ever reads `.<name>.tmp-*` files).
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type AtomicWriteStage = 'opened' | 'partial' | 'written' | 'synced' | 'renamed';

export interface AtomicWriteOptions {
  /** Called at each step of the write; throwing aborts the write there (tests simulate crashes). */
  onStage?: (stage: AtomicWriteStage, tempPath: string) => void;
  /** File mode for the new file (default 0o644, before umask). */
  mode?: number;
}

export interface WrittenFileInfo {
  bytes: number;
  sha256: string;
}

/** A random hex tag for temporary names: pid + random bytes, so concurrent processes never collide. */
export function randomTag(): string {
  return `${process.pid.toString(36)}${randomBytes(6).toString('hex')}`;
}

/** fsync a directory so that renames/creations inside it survive a power loss. Not supported on
 *  Windows (opening a directory fails there), where NTFS journals the rename itself. */
export function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!(process.platform === 'win32' || code === 'EISDIR' || code === 'EINVAL' || code === 'EPERM' || code === 'EBADF')) throw err;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

/** Bytes of a typed array in little-endian order (a view on little-endian hosts, a swapped copy otherwise). */
export function littleEndianBytes(data: ArrayBufferView & { BYTES_PER_ELEMENT?: number }): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const size = data.BYTES_PER_ELEMENT ?? 1;
  if (LITTLE_ENDIAN_HOST || size === 1) return bytes;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) for (let j = 0; j < size; j++) out[i + j] = bytes[i + size - 1 - j]!;
  return out;
}

/** Writes every chunk to an open fd, looping over short writes; returns the sha256 of the bytes. */
function writeChunks(fd: number, chunks: readonly Uint8Array[], onHalf: () => void): WrittenFileInfo {
  const total = chunks.reduce((s, c) => s + c.byteLength, 0);
  const half = Math.floor(total / 2);
  const hash = createHash('sha256');
  let written = 0;
  let halfSignalled = total < 2; // nothing meaningful to interrupt in a 0/1-byte file
  // Cap single writes: writeSync of multi-GiB buffers is refused on some platforms.
  const MAX_WRITE = 1 << 28;
  for (const chunk of chunks) {
    hash.update(chunk);
    let off = 0;
    while (off < chunk.byteLength) {
      let len = Math.min(chunk.byteLength - off, MAX_WRITE);
      // Stop exactly at the half-way byte once so a simulated crash leaves a genuinely torn file.
      if (!halfSignalled && written + len > half) len = Math.max(half - written, 0);
      if (len > 0) {
        const n = fs.writeSync(fd, chunk, off, len);
        off += n;
        written += n;
      }
      if (!halfSignalled && written >= half) {
        halfSignalled = true;
        onHalf();
      }
    }
  }
  return { bytes: written, sha256: hash.digest('hex') };
}

/**
 * Writes `chunks` (concatenated) to `target` atomically: temp file in the same folder, fsync, rename,
 * fsync of the folder. On any error the temp file is removed and `target` is untouched.
 */
export function writeFileAtomicSync(target: string, chunks: Uint8Array | readonly Uint8Array[], opts: AtomicWriteOptions = {}): WrittenFileInfo {
  const list = chunks instanceof Uint8Array ? [chunks] : chunks;
  const dir = path.dirname(path.resolve(target));
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${randomTag()}`);
  const stage = (s: AtomicWriteStage) => opts.onStage?.(s, tmp);
  let fd: number | undefined;
  let renamed = false;
  try {
    fd = fs.openSync(tmp, 'wx', opts.mode ?? 0o644);
    stage('opened');
    const info = writeChunks(fd, list, () => stage('partial'));
    stage('written');
    fs.fsyncSync(fd);
    stage('synced');
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
    renamed = true;
    fsyncDirSync(dir);
    stage('renamed');
    return info;
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing; the original error matters */
      }
    }
    if (!renamed) fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Writes a whole file into a folder that is not yet visible (no rename needed), fsyncing it. */
export function writeFileDurableSync(file: string, chunks: Uint8Array | readonly Uint8Array[], onHalf: () => void = () => {}): WrittenFileInfo {
  const list = chunks instanceof Uint8Array ? [chunks] : chunks;
  const fd = fs.openSync(file, 'wx', 0o644);
  try {
    const info = writeChunks(fd, list, onHalf);
    fs.fsyncSync(fd);
    return info;
  } finally {
    fs.closeSync(fd);
  }
}

export interface ReadRegularFileOptions {
  /** Refuse files larger than this many bytes (checked with fstat before reading). */
  maxBytes?: number;
  /** The exact size the file must have (e.g. from a checkpoint manifest), checked before reading. */
  expectedBytes?: number;
  /** How the file is named in errors (default: the path). */
  what?: string;
}

/**
 * Reads a whole file, refusing anything that is not a regular file before reading a byte: a FIFO
 * (which would block forever), a character device such as /dev/zero (endless), a socket or a folder.
 * The file is opened with O_NONBLOCK so that opening a FIFO cannot hang either; the type and size
 * are checked with fstat on the opened descriptor (no race with a rename between check and read),
 * and the read stops at the size fstat reported.
 */
export function readRegularFileSync(file: string, opts: ReadRegularFileOptions = {}): Buffer {
  const what = opts.what ?? `'${file}'`;
  const flags = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);
  const fd = fs.openSync(file, flags);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      const kind = st.isDirectory()
        ? 'a folder'
        : st.isFIFO()
          ? 'a FIFO (named pipe)'
          : st.isCharacterDevice()
            ? 'a character device'
            : st.isBlockDevice()
              ? 'a block device'
              : st.isSocket()
                ? 'a socket'
                : 'not a regular file';
      throw Object.assign(new Error(`${what} is ${kind}, expected a regular file`), { code: 'ENOTREG' });
    }
    if (opts.expectedBytes !== undefined && st.size !== opts.expectedBytes)
      throw Object.assign(new Error(`${what} is ${st.size} bytes, expected ${opts.expectedBytes}`), { code: 'ESIZE' });
    if (opts.maxBytes !== undefined && st.size > opts.maxBytes)
      throw Object.assign(new Error(`${what} is ${st.size} bytes, more than the limit of ${opts.maxBytes}`), { code: 'ESIZE' });
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    while (off < st.size) {
      const n = fs.readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    if (off !== st.size) throw Object.assign(new Error(`${what} shrank while being read (${off} of ${st.size} bytes)`), { code: 'ESIZE' });
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}
