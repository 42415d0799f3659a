/**
 * Gate for tests that need userfaultfd WP_ASYNC + PAGEMAP_SCAN. Locally, a machine without them
 * skips those tests with the probe's reasons; under CI=true the gate itself fails, so a CI machine
 * that lost the features can never pass by skipping.
 */
import { describe, it } from 'vitest';
import { probe } from '../../src/probe.js';

export const kernel = probe();
export const CI = process.env.CI === 'true' || process.env.CI === '1';

/** `describe` for tests that need the kernel features. */
export function describeKernel(name: string, fn: () => void): void {
  if (kernel.supported) {
    describe(name, fn);
  } else if (CI) {
    describe(name, () => {
      it('needs userfaultfd WP_ASYNC and PAGEMAP_SCAN (CI=true: missing features fail, never skip)', () => {
        throw new Error(`kernel features missing: ${kernel.reasons.join('; ')}`);
      });
    });
  } else {
    describe.skip(`${name} (unsupported here: ${kernel.reasons.join('; ')})`, fn);
  }
}

export const PAGE = kernel.pageSize || 4096;
