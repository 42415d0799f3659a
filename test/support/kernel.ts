/**
 * Gate for tests that need userfaultfd WP_ASYNC + PAGEMAP_SCAN. Locally, a machine without them
 * skips those tests with the probe's reasons; under CI=true the gate itself fails, so a CI machine
 * that lost the features can never pass by skipping.
 */
import { readFileSync } from 'node:fs';
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

/**
 * Entries in one page table (PMD_SIZE / PAGE_SIZE): 512 with 4 KiB pages, 2,048 with 16 KiB, 8,192
 * with 64 KiB. Taken from the kernel (transparent hugepages' hpage_pmd_size), or from the page size
 * (a table is one page of 8-byte entries) where THP is not built in; never from the library. Tests
 * that must drive a walk across several PAGEMAP_SCAN calls on every page size (the library's
 * vector holds one table's worth of regions) size their separate written pages from it.
 */
export const PTES_PER_TABLE = ((): number => {
  try {
    return Number(readFileSync('/sys/kernel/mm/transparent_hugepage/hpage_pmd_size', 'utf8')) / PAGE;
  } catch {
    return PAGE / 8;
  }
})();
