// What the CLI's defaults point at: the shipped base model (found next to the package, not the current
// folder) and the device ('auto' = CUDA when usable, else the CPU; the choice is printed).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { resolveDevice, type Device } from '../device.js';
import { packageRoot } from '../native.js';

/** The name the config and the flags use for the base model that ships with the package. */
export const SHIPPED_BASE = 'models/base';

/**
 * The base checkpoint folder to use. `models/base` (the default) means the model shipped with the
 * package: a `models/base` in the current folder wins (a source checkout, or your own pretrained
 * base), else the package's own copy is used, wherever the CLI is run from.
 */
export function resolveBase(base: string): string {
  if (path.normalize(base) !== path.normalize(SHIPPED_BASE)) return base;
  if (existsSync(path.join(base, 'config.json'))) return base;
  const shipped = path.join(packageRoot, 'models', 'base');
  return existsSync(path.join(shipped, 'config.json')) ? shipped : base;
}

/** Resolves --device (default 'auto') and says on stderr which device was chosen and why. */
export function cliDevice(value: string | undefined, flag = '--device', log: (line: string) => void = (l) => process.stderr.write(l + '\n')): Device {
  const r = resolveDevice(value ?? 'auto', flag);
  log(`device: ${r.device}${r.reason === 'asked for' ? '' : ` (${r.reason})`}`);
  return r.device;
}
