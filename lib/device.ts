// Device discovery: which devices exist, whether CUDA can be used and why not.
import os from 'node:os';
import { native } from './native.js';

export type DType = 'f32' | 'bf16' | 'i32' | 'u8';
export type Device = 'cpu' | `cuda:${number}`;

export interface DeviceInfo {
  id: Device;
  name: string;
  kind: 'cpu' | 'cuda';
  totalMemory: number;
  freeMemory?: number;
  computeCapability?: string;
  multiprocessors?: number;
  threads?: number;
  simd?: string;
}

export interface CudaAvailability {
  available: boolean;
  /** Why CUDA cannot be used ("not compiled with CUDA", "no CUDA driver", "no CUDA device", ...). */
  reason: string;
  compiled: boolean;
  deviceCount: number;
}

/** Whether CUDA can be used. MTRL_DEVICE=cpu turns it off quietly. */
export function cudaAvailable(): CudaAvailability {
  if (process.env.MTRL_DEVICE === 'cpu') {
    const compiled = native().buildInfo().cuda;
    return { available: false, reason: 'disabled by MTRL_DEVICE=cpu', compiled, deviceCount: 0 };
  }
  const a = native().cudaAvailable();
  return { available: a.available, reason: a.reason, compiled: a.compiled, deviceCount: a.deviceCount };
}

/** Every usable device: the CPU first, then each CUDA device. */
export function devices(): DeviceInfo[] {
  const info = native().buildInfo();
  const cpus = os.cpus();
  const list: DeviceInfo[] = [
    {
      id: 'cpu',
      kind: 'cpu',
      name: cpus[0]?.model.trim() ?? 'cpu',
      totalMemory: os.totalmem(),
      freeMemory: os.freemem(),
      threads: info.threads,
      simd: info.simd,
    },
  ];
  if (cudaAvailable().available) {
    for (const d of native().cudaDevices()) {
      list.push({
        id: d.id as Device,
        kind: 'cuda',
        name: d.name,
        totalMemory: d.totalMemory,
        freeMemory: d.freeMemory,
        computeCapability: d.computeCapability,
        multiprocessors: d.multiprocessors,
      });
    }
  }
  return list;
}

/** The device work goes to when none is named: MTRL_DEVICE if set, else cuda:0 when usable, else cpu. */
export function defaultDevice(): Device {
  const env = process.env.MTRL_DEVICE;
  if (env) return parseDevice(env, 'MTRL_DEVICE');
  return cudaAvailable().available ? 'cuda:0' : 'cpu';
}

/** Validates a device string ('cpu', 'cuda', 'cuda:N'), naming the argument on error. */
export function parseDevice(value: unknown, arg = 'device'): Device {
  if (value === 'cpu') return 'cpu';
  if (value === 'cuda') return 'cuda:0';
  if (typeof value === 'string' && /^cuda:\d{1,3}$/.test(value)) return value as Device;
  throw new TypeError(`${arg} must be 'cpu', 'cuda' or 'cuda:N', got ${JSON.stringify(value)}`);
}

export interface ResolvedDevice {
  device: Device;
  /** Why this device: "auto: CUDA usable" / "auto: CUDA not usable (not compiled with CUDA)" / "asked for". */
  reason: string;
}

/**
 * Resolves a device request, including 'auto' (cuda:0 when CUDA is usable, else the CPU), and checks
 * that a named CUDA device can be used here. Errors name `arg` and say what to pass instead.
 */
export function resolveDevice(value: unknown, arg = 'device'): ResolvedDevice {
  if (value === undefined || value === 'auto') {
    const c = cudaAvailable();
    return c.available ? { device: 'cuda:0', reason: 'auto: CUDA is usable' } : { device: 'cpu', reason: `auto: CUDA not usable: ${c.reason.replace(/ \(.*$/s, '')}` };
  }
  if (!(value === 'cpu' || value === 'cuda' || (typeof value === 'string' && /^cuda:\d{1,3}$/.test(value))))
    throw new TypeError(`${arg} must be 'auto', 'cpu', 'cuda' or 'cuda:N', got ${JSON.stringify(value)}`);
  const device = parseDevice(value, arg);
  if (device !== 'cpu') {
    const c = cudaAvailable();
    if (!c.available) throw new RangeError(`${arg} ${String(value)}: CUDA is not usable here (${c.reason}); use ${arg} cpu or ${arg} auto`);
    const n = Number(device.slice(5));
    if (n >= c.deviceCount) throw new RangeError(`${arg} ${String(value)}: there ${c.deviceCount === 1 ? 'is 1 CUDA device' : `are ${c.deviceCount} CUDA devices`} (cuda:0${c.deviceCount > 1 ? `..cuda:${c.deviceCount - 1}` : ''})`);
  }
  return { device, reason: 'asked for' };
}

/** Information about the native build (SIMD level in use, threads, CUDA compiled in, build system). */
export function buildInfo(): ReturnType<ReturnType<typeof native>['buildInfo']> {
  return native().buildInfo();
}
