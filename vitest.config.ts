import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Bounds against a hang, not measurements: they fit a machine 20x slower than this one (QEMU
    // TCG runs the suite 5-20x slower). No test passes or fails on how fast it ran.
    testTimeout: 900_000,
    hookTimeout: 900_000,
    // One file per core, at most 4: the concurrency tests run worker threads of their own, and more
    // files at once only add noise. A 1-vCPU machine runs the files one after another.
    maxWorkers: Math.max(1, Math.min(4, availableParallelism())),
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
