import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Native kernels use OpenMP across both cores; running test files in parallel only
    // oversubscribes them and makes timings of the suite noisier, not shorter.
    fileParallelism: false,
    pool: 'forks',
  },
});
