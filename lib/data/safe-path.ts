// Keeps dataset reads inside the dataset folder. A path from a dataset file is refused when it is
// absolute, uses backslashes, climbs out with "..", or resolves (through symlinks, via realpath)
// to anything outside the folder. Checks happen before any file is opened.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DatasetError } from './jsonl.js';

/** True when `p` is strictly inside `root` (both absolute, already normalised). */
export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

/**
 * Resolves `rel` (from a dataset file in `baseDir`) to a real path inside `rootReal`, or throws a
 * DatasetError: E_IMAGE_PATH for a path that escapes, E_IMAGE_MISSING for one that does not exist.
 * `rootReal` must itself be a realpath.
 */
export async function resolveInside(rootReal: string, baseDir: string, rel: string, file: string, line: number, what = 'image'): Promise<string> {
  const fail = (code: 'E_IMAGE_PATH' | 'E_IMAGE_MISSING', msg: string, cause?: unknown): never => {
    throw new DatasetError(code, file, line, msg, cause ? { cause } : undefined);
  };
  if (rel.includes('\0')) fail('E_IMAGE_PATH', `${what} path ${JSON.stringify(rel)} contains a NUL byte`);
  if (path.posix.isAbsolute(rel) || path.win32.isAbsolute(rel) || /^[a-zA-Z]:/.test(rel))
    fail('E_IMAGE_PATH', `${what} path ${JSON.stringify(rel)} is absolute; paths must be relative to the dataset file`);
  if (rel.includes('\\')) fail('E_IMAGE_PATH', `${what} path ${JSON.stringify(rel)} contains a backslash; use forward slashes`);
  const resolved = path.resolve(baseDir, rel);
  if (!isInside(rootReal, resolved)) fail('E_IMAGE_PATH', `${what} path ${JSON.stringify(rel)} escapes the dataset folder ${rootReal}`);
  let real: string;
  try {
    real = await fs.realpath(resolved);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail('E_IMAGE_MISSING', `${what} ${JSON.stringify(rel)} not found${code && code !== 'ENOENT' ? ` (${code})` : ''}`, err);
  }
  // A symlink inside the folder may point anywhere: judge where it lands, not where it sits.
  if (!isInside(rootReal, real)) fail('E_IMAGE_PATH', `${what} path ${JSON.stringify(rel)} is a link to ${real}, outside the dataset folder ${rootReal}`);
  const st = await fs.stat(real);
  if (!st.isFile()) fail('E_IMAGE_MISSING', `${what} ${JSON.stringify(rel)} is not a regular file`);
  return real;
}
