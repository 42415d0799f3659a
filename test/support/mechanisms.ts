/**
 * The WriteWatch contract tests run once per mechanism. 'write-protect' needs the kernel features
 * (gated as describeKernel: skipped locally without them, a failure under CI=true); 'compare'
 * needs none and runs everywhere, including kernels before 6.7 and sandboxes without userfaultfd.
 */
import { describe } from 'vitest';
import { describeKernel } from './kernel.js';

export const MECHANISMS = ['write-protect', 'compare'] as const;
export type TestMechanism = (typeof MECHANISMS)[number];

/**
 * `describe(name [mechanism], () => fn(mechanism))` for each mechanism, each with its own gate.
 * `tracks`: the suite tracks memory JS owns, which Windows' write-protect cannot (only memory it
 * reserved with MEM_WRITE_WATCH): there it runs under compare alone, and test/22.windows.test.ts
 * checks that write-protect refuses track() with ERR_WRITEWATCH_UNSUPPORTED.
 */
export function describeEachMechanism(name: string, fn: (mechanism: TestMechanism) => void, options: { tracks?: boolean } = {}): void {
  for (const m of MECHANISMS) {
    if (m === 'write-protect') {
      if (options.tracks && process.platform === 'win32') continue;
      describeKernel(`${name} [write-protect]`, () => fn(m));
    } else describe(`${name} [compare]`, () => fn(m));
  }
}
