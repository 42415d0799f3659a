/**
 * The WriteWatch contract tests run once per mechanism. 'write-protect' needs the kernel features
 * (gated as describeKernel: skipped locally without them, a failure under CI=true); 'compare'
 * needs none and runs everywhere, including kernels before 6.7 and sandboxes without userfaultfd.
 */
import { describe } from 'vitest';
import { describeKernel } from './kernel.js';

export const MECHANISMS = ['write-protect', 'compare'] as const;
export type TestMechanism = (typeof MECHANISMS)[number];

/** `describe(name [mechanism], () => fn(mechanism))` for each mechanism, each with its own gate. */
export function describeEachMechanism(name: string, fn: (mechanism: TestMechanism) => void): void {
  for (const m of MECHANISMS) {
    if (m === 'write-protect') describeKernel(`${name} [write-protect]`, () => fn(m));
    else describe(`${name} [compare]`, () => fn(m));
  }
}
