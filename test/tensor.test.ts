// Tensor core: round-trips for every dtype, views, reshape, devices, memory accounting.
import { describe, expect, it } from 'vitest';
import { Tensor, memoryStats, cudaAvailable, devices, add, mul, scale, sub, matmulReference, buildInfo } from '../lib/index.js';

function cpuStats() {
  return memoryStats().find((s) => s.device === 'cpu')!;
}

describe('Tensor round-trips', () => {
  it('f32 from Float32Array and from numbers', () => {
    const data = Float32Array.from({ length: 24 }, (_, i) => i * 0.5 - 3);
    const t = Tensor.fromArray(data, [2, 3, 4]);
    expect(t.shape).toEqual([2, 3, 4]);
    expect(t.dtype).toBe('f32');
    expect(t.device).toBe('cpu');
    expect(t.numel).toBe(24);
    expect(Array.from(t.toArray())).toEqual(Array.from(data));
    const u = Tensor.fromArray([1, 2.5, -3], [3]);
    expect(Array.from(u.toArray())).toEqual([1, 2.5, -3]);
  });

  it('bf16 rounds to nearest even and widens back', () => {
    const t = Tensor.fromArray([1, 1.00390625, 1.01171875, -2.5, 3.14159], [5], { dtype: 'bf16' });
    expect(t.dtype).toBe('bf16');
    const back = Array.from(t.toArray());
    expect(back.slice(0, 4)).toEqual([1, 1, 1.015625, -2.5]);
    expect(Math.abs(back[4]! - 3.14159)).toBeLessThan(0.02);
    expect(t.data).toBeInstanceOf(Uint16Array);
    expect((t.data as Uint16Array)[0]).toBe(0x3f80);
    const raw = Tensor.fromArray(new Uint16Array([0x3f80, 0xc020]), [2], { dtype: 'bf16' });
    expect(Array.from(raw.toArray())).toEqual([1, -2.5]);
  });

  it('i32 and u8', () => {
    const i = Tensor.fromArray(new Int32Array([-5, 0, 2147483647]), [3]);
    expect(i.dtype).toBe('i32');
    expect(Array.from(i.toArray())).toEqual([-5, 0, 2147483647]);
    const u = Tensor.fromArray([0, 128, 255], [3], { dtype: 'u8' });
    expect(Array.from(u.toArray())).toEqual([0, 128, 255]);
    expect(u.toArray()).toBeInstanceOf(Uint8Array);
  });

  it('empty shapes and scalars', () => {
    const z = Tensor.zeros([0, 4]);
    expect(z.numel).toBe(0);
    expect(z.toArray().length).toBe(0);
    const s = Tensor.full([], 7);
    expect(s.numel).toBe(1);
    expect(Array.from(s.toArray())).toEqual([7]);
  });

  it('zeros, full, fill for every dtype', () => {
    for (const dtype of ['f32', 'bf16', 'i32', 'u8'] as const) {
      const t = Tensor.full([3, 5], 3, { dtype });
      expect(Array.from(t.toArray())).toEqual(new Array(15).fill(3));
      t.fill(1);
      expect(Array.from(t.toArray())).toEqual(new Array(15).fill(1));
      expect(Array.from(Tensor.zeros([4], { dtype }).toArray())).toEqual([0, 0, 0, 0]);
    }
  });

  it('data is a zero-copy view: writes show up in toArray', () => {
    const t = Tensor.zeros([4]);
    const v = t.data as Float32Array;
    v[2] = 42;
    expect(Array.from(t.toArray())).toEqual([0, 0, 42, 0]);
    expect((t.data as Float32Array).buffer).toBe(v.buffer);
  });

  it('dispose detaches the view and frees memory', () => {
    const before = cpuStats().liveBytes;
    const t = Tensor.zeros([1024]);
    const v = t.data as Float32Array;
    expect(cpuStats().liveBytes).toBe(before + 4096);
    t.dispose();
    expect(v.length).toBe(0); // detached
    expect(cpuStats().liveBytes).toBe(before);
    expect(t.disposed).toBe(true);
    t.dispose(); // twice is fine
  });

  it('reshape shares storage and infers -1', () => {
    const t = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
    const r = t.reshape([3, -1]);
    expect(r.shape).toEqual([3, 2]);
    expect(r.sharesStorageWith(t)).toBe(true);
    expect(() => r.sharesStorageWith(null as never)).toThrow(/Tensor\.sharesStorageWith: other must be a Tensor, got null/);
    expect(() => r.sharesStorageWith({} as never)).toThrow(/other must be a Tensor, got Object/);
    (t.data as Float32Array)[0] = 9;
    expect(r.toArray()[0]).toBe(9);
    t.dispose();
    expect(Array.from(r.toArray())).toEqual([9, 2, 3, 4, 5, 6]); // storage lives while r does
    expect(() => r.reshape([4, 2])).toThrow(RangeError);
  });

  it('to(cpu) is identity, clone is deep, cast converts', () => {
    const t = Tensor.fromArray([1.5, -2.25], [2]);
    expect(t.to('cpu')).toBe(t);
    const c = t.clone();
    (c.data as Float32Array)[0] = 0;
    expect(t.toArray()[0]).toBe(1.5);
    expect(Array.from(t.cast('i32').toArray())).toEqual([1, -2]);
    expect(t.cast('bf16').dtype).toBe('bf16');
  });

  it('randn is seeded and standard normal', () => {
    const a = Tensor.randn([100001], { seed: 123 }).toArray();
    const b = Tensor.randn([100001], { seed: 123 }).toArray();
    const c = Tensor.randn([100001], { seed: 124 }).toArray();
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    let s = 0;
    let s2 = 0;
    for (const x of a) {
      s += x;
      s2 += x * x;
    }
    const mean = s / a.length;
    const variance = s2 / a.length - mean * mean;
    expect(Math.abs(mean)).toBeLessThan(0.015);
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
  });
});

describe('elementwise ops and reference matmul', () => {
  it('add/sub/mul/scale match JS arithmetic', () => {
    const n = 1000;
    const a = Tensor.randn([n], { seed: 1 });
    const b = Tensor.randn([n], { seed: 2 });
    const A = a.toArray();
    const B = b.toArray();
    const s = add(a, b).toArray();
    const d = sub(a, b).toArray();
    const m = mul(a, b).toArray();
    const sc = scale(a, 2, 1).toArray();
    for (let i = 0; i < n; i++) {
      expect(s[i]).toBe(Math.fround(A[i]! + B[i]!));
      expect(d[i]).toBe(Math.fround(A[i]! - B[i]!));
      expect(m[i]).toBe(Math.fround(A[i]! * B[i]!));
      expect(Math.abs(sc[i]! - (2 * A[i]! + 1))).toBeLessThan(1e-6);
    }
    const out = Tensor.zeros([n]);
    expect(add(a, b, out)).toBe(out);
  });

  it('matmulReference matches a float64 reference with transposes and batches', () => {
    const [bt, m, k, n] = [3, 5, 7, 4];
    const a = Tensor.randn([bt, m, k], { seed: 3 });
    const b = Tensor.randn([bt, k, n], { seed: 4 });
    const A = a.toArray();
    const B = b.toArray();
    const out = matmulReference(a, b).toArray();
    let maxErr = 0;
    for (let x = 0; x < bt; x++)
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let q = 0; q < k; q++) acc += A[x * m * k + i * k + q]! * B[x * k * n + q * n + j]!;
          maxErr = Math.max(maxErr, Math.abs(acc - out[x * m * n + i * n + j]!));
        }
    expect(maxErr, `max abs error ${maxErr}`).toBeLessThan(1e-5);
    const bT = Tensor.fromArray(Array.from({ length: n * k }, (_, i) => i % 3), [n, k]);
    const r = matmulReference(Tensor.full([m, k], 1), bT, { transB: true }).toArray();
    expect(r[0]).toBe(Array.from({ length: k }, (_, i) => i % 3).reduce((p, q) => p + q, 0));
  });
});

describe('devices', () => {
  it('lists the cpu and explains CUDA availability', () => {
    const list = devices();
    expect(list[0]!.id).toBe('cpu');
    expect(list[0]!.totalMemory).toBeGreaterThan(0);
    const c = cudaAvailable();
    if (!c.available) expect(c.reason.length).toBeGreaterThan(5);
    expect(['scalar', 'avx2', 'avx512']).toContain(buildInfo().simd);
  });
});
