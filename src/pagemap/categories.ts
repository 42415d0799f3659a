/**
 * Which PAGE_IS_* bits this kernel accepts. Any mask bit outside the kernel's
 * PM_SCAN_CATEGORIES is EINVAL (6.7 knows 0x7f, 6.8 adds SOFT_DIRTY, 6.16 adds GUARD), so callers
 * probe once and use only what is accepted, as CRIU's `check_pagemap()` does.
 */
import { libc } from '../libc/libc.js';
import { u64Struct } from '../libc/u64.js';
import { PAGE_IS, PAGEMAP_SCAN, PM_SCAN_ARG, PM_SCAN_ARG_SIZE, PM_SCAN_CATEGORIES_ALL, type PageCategory } from './abi.js';

/**
 * A zero-length PAGEMAP_SCAN (start == end == 0, no vec) with `mask` as category_mask: it walks
 * nothing and changes nothing, so it only tests the argument checks.
 */
export function scanAccepts(fd: number, mask: number): boolean {
  const { u64 } = u64Struct(PM_SCAN_ARG_SIZE / 8);
  u64[PM_SCAN_ARG.size] = BigInt(PM_SCAN_ARG_SIZE);
  u64[PM_SCAN_ARG.category_mask] = BigInt(mask);
  u64[PM_SCAN_ARG.return_mask] = BigInt(PAGE_IS.WRITTEN);
  return libc().ioctl(fd, PAGEMAP_SCAN, u64) === 0;
}

let accepted: number | undefined;

/**
 * Category bits this kernel accepts (newer bits make older kernels fail with EINVAL). Probed bit
 * by bit on `fd`; the answer is a property of the kernel, so it is probed once per process.
 */
export function acceptedCategories(fd: number): number {
  if (accepted !== undefined) return accepted;
  let mask = 0;
  for (let bit = 1; bit <= PM_SCAN_CATEGORIES_ALL; bit <<= 1) if (scanAccepts(fd, bit)) mask |= bit;
  // Only a full answer is cached: 0 means the fd does not do PAGEMAP_SCAN at all (not a kernel fact).
  if (mask !== 0) accepted = mask;
  return mask;
}

const NAMES = Object.keys(PAGE_IS) as PageCategory[];

/** `0x28` → `['PRESENT', 'PFNZERO']`, for messages and JSON. */
export function categoryNames(bits: number): PageCategory[] {
  return NAMES.filter((n) => (bits & PAGE_IS[n]) !== 0);
}
