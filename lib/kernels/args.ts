// Argument checks shared by the typed facades over the addon (lib/kernels/*, lib/ops.ts): every error
// is a TypeError that names the function and the argument, before anything reaches native code.
import type { NativeTensorHandle } from '../addon.js';
import { Tensor } from '../tensor.js';

/** How a wrong value reads in an error: 'null', 'array' or its typeof. */
export function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** `v` as a Tensor, or a TypeError `fn: arg must be a Tensor, got …`. */
export function tensorArg(v: unknown, fn: string, arg: string): Tensor {
  if (!(v instanceof Tensor)) throw new TypeError(`${fn}: ${arg} must be a Tensor, got ${v === null ? 'null' : typeof v}`);
  return v;
}

/** The native handle of tensor argument `arg`. */
export function handleOf(v: unknown, fn: string, arg: string): NativeTensorHandle {
  return tensorArg(v, fn, arg).handle;
}

/** The handle of an optional tensor argument (undefined when absent). */
export function optionalHandle(v: unknown, fn: string, arg: string): NativeTensorHandle | undefined {
  return v === undefined || v === null ? undefined : handleOf(v, fn, arg);
}

/** An options object ({} when undefined); with `known`, any other key is a TypeError listing the known ones. */
export function optionsArg<T extends object = Record<string, unknown>>(opts: unknown, fn: string, known?: ReadonlySet<string>): T {
  if (opts === undefined) return {} as T;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw new TypeError(`${fn}: options must be an object, got ${kindOf(opts)}`);
  if (known) for (const k of Object.keys(opts)) if (!known.has(k)) throw new TypeError(`${fn}: unknown option '${k}' (known: ${[...known].join(', ')})`);
  return opts as T;
}
