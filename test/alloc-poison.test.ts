// Kernels that must overwrite their outputs, run where every fresh CPU buffer starts as NaN bytes
// (MTRL_POISON_ALLOC=1, read once per process, hence a child process): the fused-linear policy loss
// writes its weight gradient on the first chunk instead of zero-filling it first, and a fresh page
// from the OS would hide a part it forgot. Checked against the logits path in every chunking mode.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('outputs are fully written (allocations poisoned with NaN)', () => {
  it('fused-linear policy loss and matmul match the reference with poisoned buffers', () => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'test/child/poisoned-kernels.ts'], {
      cwd: process.cwd(),
      encoding: 'utf8',
      env: { ...process.env, MTRL_POISON_ALLOC: '1' },
    });
    expect(res.status, res.stderr).toBe(0);
    const diffs = JSON.parse(res.stdout.trim().split('\n').pop()!) as Record<string, number | null>;
    expect(Object.keys(diffs).length).toBe(10);
    // JSON turns a NaN / Infinity difference into null.
    for (const [name, diff] of Object.entries(diffs)) expect(diff, `${name}: max |diff| ${diff}`).not.toBeNull();
    for (const [name, diff] of Object.entries(diffs)) expect(diff!, `${name}: max |diff| ${diff}`).toBeLessThan(1e-5);
  });
});
