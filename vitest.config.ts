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
    // Console output of a test (progress bars, logs, measured errors) is shown only when it fails.
    silent: 'passed-only',
    // The default reporter lists every test slower than this under its file; on a shared 2-core
    // machine that is most of them at the default 300 ms.
    slowTestThreshold: 10_000,
    // The default reporter, plus one closing line that says why tests were skipped.
    reporters: ['default', './test/skip-summary-reporter.ts'],
  },
});
