// Tensor: a typed TypeScript class over a native handle. Contiguous row-major, one dtype
// (f32, bf16, i32, u8), one device (cpu or cuda:N). CPU tensors give a zero-copy typed-array view
// (`data`); toArray() copies on every device. dispose() frees memory at once; a finalizer frees
// what users forget.
import { type DType, type Device, parseDevice } from './device.js';
import { native, type NativeTensorHandle } from './native.js';

export type { DType, Device } from './device.js';

export type TypedData = Float32Array | Uint16Array | Int32Array | Uint8Array;

export interface TensorOptions {
  dtype?: DType;
  device?: Device | 'cuda';
}

const DTYPES: readonly DType[] = ['f32', 'bf16', 'i32', 'u8'];

function checkDType(dtype: unknown, fn: string): DType {
  if (typeof dtype === 'string' && (DTYPES as readonly string[]).includes(dtype)) return dtype as DType;
  throw new TypeError(`${fn}: dtype must be one of 'f32', 'bf16', 'i32', 'u8', got ${JSON.stringify(dtype)}`);
}

function checkShape(shape: unknown, fn: string): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${fn}: shape must be an array of non-negative integers, got ${typeof shape}`);
  shape.forEach((d, i) => {
    if (typeof d !== 'number') throw new TypeError(`${fn}: shape[${i}] must be a non-negative integer, got ${typeof d}`);
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`${fn}: shape[${i}] must be a non-negative integer, got ${d}`);
  });
  return shape as number[];
}

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function shapeStr(shape: readonly number[]): string {
  return `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
}

/** Converts user data to the typed array the native side copies from for a dtype. */
function toTypedData(data: unknown, dtype: DType, fn: string): ArrayBufferView {
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) {
    const ok =
      (dtype === 'f32' && data instanceof Float32Array) ||
      (dtype === 'bf16' && (data instanceof Float32Array || data instanceof Uint16Array)) ||
      (dtype === 'i32' && data instanceof Int32Array) ||
      (dtype === 'u8' && (data instanceof Uint8Array || data instanceof Uint8ClampedArray));
    if (ok) return data;
    // Another typed array: convert through numbers (checked below like a plain array).
    data = Array.from(data as unknown as ArrayLike<number>);
  }
  if (!Array.isArray(data)) {
    throw new TypeError(`${fn}: data must be a typed array or an array of numbers, got ${data === null ? 'null' : typeof data}`);
  }
  const arr = data as unknown[];
  for (let i = 0; i < arr.length; i++) {
    const x = arr[i];
    if (typeof x !== 'number') throw new TypeError(`${fn}: data[${i}] must be a number, got ${typeof x}`);
    if ((dtype === 'i32' || dtype === 'u8') && !Number.isInteger(x))
      throw new RangeError(`${fn}: data[${i}] must be an integer for dtype ${dtype}, got ${x}`);
    if (dtype === 'u8' && (x < 0 || x > 255)) throw new RangeError(`${fn}: data[${i}] must be in 0..255 for dtype u8, got ${x}`);
    if (dtype === 'i32' && (x < -2147483648 || x > 2147483647))
      throw new RangeError(`${fn}: data[${i}] does not fit in i32: ${x}`);
  }
  const nums = arr as number[];
  switch (dtype) {
    case 'f32':
    case 'bf16':
      return Float32Array.from(nums);
    case 'i32':
      return Int32Array.from(nums);
    case 'u8':
      return Uint8Array.from(nums);
  }
}

export class Tensor {
  #handle: NativeTensorHandle | null;
  readonly #shape: readonly number[];
  readonly #dtype: DType;
  readonly #device: Device;

  private constructor(handle: NativeTensorHandle) {
    this.#handle = handle;
    this.#shape = Object.freeze(handle.shape());
    this.#dtype = handle.dtype() as DType;
    this.#device = handle.device() as Device;
  }

  /** Wraps a handle returned by a native entry point (for kernel wrappers, not for users). */
  static fromHandle(handle: NativeTensorHandle): Tensor {
    return new Tensor(handle);
  }

  /** Copies `data` (a typed array or numbers) into a new tensor of `shape`. */
  static fromArray(data: ArrayLike<number> | TypedData, shape: readonly number[], opts: TensorOptions = {}): Tensor {
    const fn = 'Tensor.fromArray';
    const dtype = checkDType(opts.dtype ?? (data instanceof Int32Array ? 'i32' : data instanceof Uint8Array ? 'u8' : 'f32'), fn);
    const s = checkShape(shape, fn);
    const device = parseDevice(opts.device ?? 'cpu', `${fn}: device`);
    const typed = toTypedData(data, dtype, fn);
    const len = (typed as unknown as ArrayLike<number>).length;
    if (len !== numelOf(s))
      throw new RangeError(`${fn}: data has ${len} elements but shape ${shapeStr(s)} needs ${numelOf(s)}`);
    return new Tensor(native().fromTypedArray(typed, s, dtype, device));
  }

  /** A tensor whose contents are unspecified (fastest to create; fill it before reading). */
  static empty(shape: readonly number[], opts: TensorOptions = {}): Tensor {
    const fn = 'Tensor.empty';
    const dtype = checkDType(opts.dtype ?? 'f32', fn);
    const device = parseDevice(opts.device ?? 'cpu', `${fn}: device`);
    return new Tensor(native().empty(checkShape(shape, fn), dtype, device));
  }

  static zeros(shape: readonly number[], opts: TensorOptions = {}): Tensor {
    return Tensor.full(shape, 0, opts);
  }

  static full(shape: readonly number[], value: number, opts: TensorOptions = {}): Tensor {
    if (typeof value !== 'number') throw new TypeError(`Tensor.full: value must be a number, got ${typeof value}`);
    const t = Tensor.empty(shape, opts);
    native().fill(t.handle, value);
    return t;
  }

  /**
   * Normal random numbers from a seeded counter-based generator (Philox4x32-10): the same seed
   * gives the same numbers on CPU and CUDA, whatever the thread count.
   */
  static randn(
    shape: readonly number[],
    opts: TensorOptions & { seed?: number; mean?: number; std?: number } = {},
  ): Tensor {
    const seed = opts.seed ?? 0;
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`Tensor.randn: seed must be a non-negative integer, got ${String(seed)}`);
    const dtype = checkDType(opts.dtype ?? 'f32', 'Tensor.randn');
    if (dtype !== 'f32' && dtype !== 'bf16') throw new TypeError(`Tensor.randn: dtype must be 'f32' or 'bf16', got '${dtype}'`);
    const t = Tensor.empty(shape, { ...opts, dtype });
    native().randn(t.handle, seed, opts.mean ?? 0, opts.std ?? 1);
    return t;
  }

  /** The native handle (throws if disposed). For kernel wrappers. */
  get handle(): NativeTensorHandle {
    if (!this.#handle) throw new Error('Tensor was disposed; a tensor cannot be used after dispose()');
    return this.#handle;
  }

  get shape(): readonly number[] {
    return this.#shape;
  }
  get dtype(): DType {
    return this.#dtype;
  }
  get device(): Device {
    return this.#device;
  }
  get ndim(): number {
    return this.#shape.length;
  }
  get numel(): number {
    return numelOf(this.#shape);
  }
  get nbytes(): number {
    return this.numel * (this.#dtype === 'bf16' ? 2 : this.#dtype === 'u8' ? 1 : 4);
  }
  get disposed(): boolean {
    return this.#handle === null;
  }

  /**
   * Zero-copy view of a CPU tensor: Float32Array (f32), Uint16Array (bf16 raw bits), Int32Array
   * (i32) or Uint8Array (u8). Writes go straight to the tensor. Detached by dispose().
   */
  get data(): TypedData {
    const ab = this.handle.view();
    switch (this.#dtype) {
      case 'f32':
        return new Float32Array(ab);
      case 'bf16':
        return new Uint16Array(ab);
      case 'i32':
        return new Int32Array(ab);
      case 'u8':
        return new Uint8Array(ab);
    }
  }

  /** A copy of the elements: Float32Array for f32 and bf16 (widened), Int32Array, Uint8Array. */
  toArray(): Float32Array | Int32Array | Uint8Array {
    const ab = this.handle.copyOut();
    if (this.#dtype === 'i32') return new Int32Array(ab);
    if (this.#dtype === 'u8') return new Uint8Array(ab);
    return new Float32Array(ab);
  }

  /** Nested-array-free convenience for tests and small tensors. */
  toList(): number[] {
    return Array.from(this.toArray());
  }

  /** This tensor on `device` (itself when already there). */
  to(device: Device | 'cuda'): Tensor {
    const d = parseDevice(device, 'Tensor.to: device');
    if (d === this.#device) return this;
    return new Tensor(native().toDevice(this.handle, d));
  }

  /** A new tensor sharing this one's storage with another shape; one dim may be -1. */
  reshape(shape: readonly number[]): Tensor {
    if (!Array.isArray(shape)) throw new TypeError('Tensor.reshape: shape must be an array of integers');
    const inferred = shape.filter((d) => d === -1).length;
    if (inferred > 1) throw new RangeError('Tensor.reshape: at most one dimension may be -1');
    let s = shape as number[];
    if (inferred === 1) {
      const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      if (known === 0 || this.numel % known !== 0)
        throw new RangeError(`Tensor.reshape: cannot view ${shapeStr(this.#shape)} as ${shapeStr(shape)}`);
      s = shape.map((d) => (d === -1 ? this.numel / known : d));
    }
    return new Tensor(native().reshape(this.handle, checkShape(s, 'Tensor.reshape')));
  }

  /** A copy with another dtype (f32 <-> bf16 rounds to nearest even). */
  cast(dtype: DType): Tensor {
    return new Tensor(native().cast(this.handle, checkDType(dtype, 'Tensor.cast')));
  }

  /** A deep copy on the same device. */
  clone(): Tensor {
    const t = Tensor.empty(this.#shape, { dtype: this.#dtype, device: this.#device });
    native().copy(this.handle, t.handle);
    return t;
  }

  /** Copies `src` (any device, same dtype and element count) into this tensor. */
  copyFrom(src: Tensor): this {
    native().copy(src.handle, this.handle);
    return this;
  }

  fill(value: number): this {
    if (typeof value !== 'number') throw new TypeError(`Tensor.fill: value must be a number, got ${typeof value}`);
    native().fill(this.handle, value);
    return this;
  }

  /** True when both tensors view the same storage (e.g. after reshape). */
  sharesStorageWith(other: Tensor): boolean {
    if (!(other instanceof Tensor))
      throw new TypeError(`Tensor.sharesStorageWith: other must be a Tensor, got ${other === null ? 'null' : typeof other === 'object' ? (other as object).constructor?.name ?? 'object' : typeof other}`);
    return this.handle.sameStorage(other.handle);
  }

  /** Frees the memory now (tensors sharing the storage keep it alive). Safe to call twice. */
  dispose(): void {
    if (this.#handle) {
      this.#handle.dispose();
      this.#handle = null;
    }
  }

  /** `using t = Tensor.zeros(...)` support. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor(${this.#dtype}, ${shapeStr(this.#shape)}, ${this.#device}${this.disposed ? ', disposed' : ''})`;
  }
}

export interface MemoryStats {
  device: string;
  liveTensors: number;
  liveBytes: number;
  peakBytes: number;
}

/** Live tensors (storages) and bytes per device, with the peak since start. */
export function memoryStats(): MemoryStats[] {
  return native().memoryStats();
}
