// Bad input at the Tensor boundary: every case throws a JS error of the right type whose message
// names the argument and what was expected; nothing crashes the process.
import { describe, expect, it } from 'vitest';
import { Tensor, add, matmulReference, scale, native } from '../lib/index.js';

describe('Tensor.fromArray bad input', () => {
  it('wrong shape (element count mismatch)', () => {
    expect(() => Tensor.fromArray([1, 2, 3], [2, 2])).toThrow(RangeError);
    expect(() => Tensor.fromArray([1, 2, 3], [2, 2])).toThrow(/data has 3 elements but shape \(2, 2\) needs 4/);
  });
  it('negative or non-integer dims', () => {
    expect(() => Tensor.zeros([2, -1])).toThrow(RangeError);
    expect(() => Tensor.zeros([2, -1])).toThrow(/shape\[1\] must be a non-negative integer, got -1/);
    expect(() => Tensor.zeros([1.5])).toThrow(/shape\[0\] must be a non-negative integer, got 1.5/);
    expect(() => Tensor.zeros([NaN])).toThrow(RangeError);
    expect(() => Tensor.zeros(['3' as unknown as number])).toThrow(TypeError);
    expect(() => Tensor.zeros('3' as unknown as number[])).toThrow(/shape must be an array/);
  });
  it('non-typed-array data', () => {
    expect(() => Tensor.fromArray('abc' as unknown as number[], [3])).toThrow(TypeError);
    expect(() => Tensor.fromArray('abc' as unknown as number[], [3])).toThrow(/data must be a typed array or an array of numbers, got string/);
    expect(() => Tensor.fromArray(null as unknown as number[], [0])).toThrow(/got null/);
    expect(() => Tensor.fromArray([1, 'x' as unknown as number], [2])).toThrow(/data\[1\] must be a number, got string/);
  });
  it('wrong dtype', () => {
    expect(() => Tensor.zeros([2], { dtype: 'f64' as never })).toThrow(TypeError);
    expect(() => Tensor.zeros([2], { dtype: 'f64' as never })).toThrow(/dtype must be one of 'f32', 'bf16', 'i32', 'u8', got "f64"/);
    expect(() => Tensor.fromArray([1.5], [1], { dtype: 'i32' })).toThrow(/must be an integer for dtype i32/);
    expect(() => Tensor.fromArray([256], [1], { dtype: 'u8' })).toThrow(/must be in 0..255/);
    expect(() => Tensor.randn([2], { dtype: 'i32' })).toThrow(/dtype must be 'f32' or 'bf16'/);
  });
  it('wrong device', () => {
    expect(() => Tensor.zeros([2], { device: 'gpu' as never })).toThrow(TypeError);
    expect(() => Tensor.zeros([2], { device: 'gpu' as never })).toThrow(/device must be 'cpu', 'cuda' or 'cuda:N', got "gpu"/);
  });
  it('bad randn seed', () => {
    expect(() => Tensor.randn([2], { seed: -1 })).toThrow(RangeError);
    expect(() => Tensor.randn([2], { seed: 1.5 })).toThrow(/seed must be a non-negative integer/);
  });
  it('too many elements', () => {
    expect(() => Tensor.empty([2 ** 30, 2 ** 30])).toThrow(/too many elements|out of memory/);
  });
});

describe('ops bad input', () => {
  const a = Tensor.zeros([2, 3]);
  it('shape mismatch names both arguments', () => {
    expect(() => add(a, Tensor.zeros([3, 2]))).toThrow(RangeError);
    expect(() => add(a, Tensor.zeros([3, 2]))).toThrow(/add: b must have the shape of a \(2, 3\), got \(3, 2\)/);
  });
  it('dtype mismatch', () => {
    expect(() => add(a, Tensor.zeros([2, 3], { dtype: 'bf16' }))).toThrow(/a, b and out must share one dtype/);
    expect(() => add(Tensor.zeros([2], { dtype: 'i32' }), Tensor.zeros([2], { dtype: 'i32' }))).toThrow(/add: a must have dtype f32 or bf16, got i32/);
  });
  it('not a tensor', () => {
    expect(() => add(a, [1, 2] as never)).toThrow(TypeError);
    expect(() => add(a, [1, 2] as never)).toThrow(/add: b must be a Tensor, got object/);
    expect(() => native().add(a.handle, {} as never)).toThrow(/add: b must be a Tensor, got object/);
    expect(() => native().add(a.handle, 3 as never)).toThrow(/add: b must be a Tensor, got number 3/);
  });
  it('matmul inner dimensions', () => {
    expect(() => matmulReference(Tensor.zeros([2, 3]), Tensor.zeros([4, 5]))).toThrow(/inner dimensions differ/);
    expect(() => matmulReference(Tensor.zeros([3]), Tensor.zeros([3, 5]))).toThrow(/at least 2 dims/);
  });
  it('use after dispose throws, never crashes', () => {
    const t = Tensor.zeros([4]);
    const h = t.handle;
    t.dispose();
    expect(() => t.toArray()).toThrow(/disposed/);
    expect(() => t.data).toThrow(/disposed/);
    expect(() => add(t, t)).toThrow(/disposed/);
    expect(() => scale(t, 2)).toThrow(/disposed/);
    // the raw handle too
    expect(() => h.copyOut()).toThrow(/disposed/);
    expect(() => native().add(h, h)).toThrow(/add: a was disposed/);
  });
  it('cuda tensors fail with a reason when CUDA is unavailable', async () => {
    const { cudaAvailable } = await import('../lib/index.js');
    const c = cudaAvailable();
    if (c.available) return;
    expect(() => Tensor.zeros([2], { device: 'cuda:0' })).toThrow(/CUDA|cuda/);
    expect(() => Tensor.zeros([2]).to('cuda')).toThrow(/CUDA|cuda/);
  });
});
