// Memory accounting: creating and disposing many tensors returns live bytes to where they started,
// and the GC finalizer frees tensors users forget to dispose.
import { describe, expect, it } from 'vitest';
import { Tensor, memoryStats } from '../lib/index.js';

const cpu = () => memoryStats().find((s) => s.device === 'cpu')!;

describe('memory', () => {
  it('10,000 create/dispose cycles leave live bytes unchanged', () => {
    const start = cpu();
    for (let i = 0; i < 10_000; i++) {
      const t = Tensor.randn([17, 31], { seed: i });
      const r = t.reshape([31, 17]);
      void (t.data as Float32Array)[0];
      r.dispose();
      t.dispose();
    }
    const end = cpu();
    expect(end.liveBytes).toBe(start.liveBytes);
    expect(end.liveTensors).toBe(start.liveTensors);
  });

  it('reports live tensors and bytes', () => {
    const start = cpu();
    const a = Tensor.zeros([256]);
    const b = Tensor.zeros([64], { dtype: 'bf16' });
    const mid = cpu();
    expect(mid.liveBytes - start.liveBytes).toBe(256 * 4 + 64 * 2);
    expect(mid.liveTensors - start.liveTensors).toBe(2);
    expect(mid.peakBytes).toBeGreaterThanOrEqual(mid.liveBytes);
    a.dispose();
    b.dispose();
    expect(cpu().liveBytes).toBe(start.liveBytes);
  });

  it('the finalizer frees forgotten tensors', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) {
      // Without --expose-gc we can still check that forgotten tensors do not prevent new allocations.
      for (let i = 0; i < 100; i++) Tensor.zeros([1 << 16]);
      expect(cpu().liveBytes).toBeGreaterThanOrEqual(0);
      return;
    }
    const start = cpu().liveBytes;
    for (let i = 0; i < 200; i++) Tensor.zeros([1 << 14]);
    for (let i = 0; i < 10; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(cpu().liveBytes - start).toBeLessThan(200 * (1 << 16));
  });
});
