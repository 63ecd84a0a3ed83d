// The closing "Skipped N: …" line of `npm test` takes each skipped test's reason from its name.
import { describe, expect, it } from 'vitest';
import { skipReason } from './skip-summary-reporter.js';

describe('skip summary reporter', () => {
  it('finds the reason in the test name or its describe block', () => {
    expect(skipReason('GEMM > CUDA > matches the CPU result (f32 and bf16) — skipped: no CUDA device (error 35)')).toBe('no CUDA device (error 35)');
    expect(skipReason('CUDA vs CPU (skipped: built without CUDA) > f32 B=2: forward, backward')).toBe('built without CUDA');
    expect(skipReason('x (f32 and bf16) — skipped: no driver (or an old one)')).toBe('no driver (or an old one)');
    expect(skipReason('a > b')).toBe('"a > b" (no reason in its name)');
  });
});
