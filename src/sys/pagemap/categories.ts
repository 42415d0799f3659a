/**
 * Which PAGE_IS_* bits this kernel accepts. Any mask bit outside the kernel's
 * PM_SCAN_CATEGORIES is EINVAL (6.7 knows 0x7f, 6.8 adds SOFT_DIRTY, 6.16 adds GUARD, 7.3 adds
 * ACCESSED), so callers probe once and use only what is accepted, as CRIU's `check_pagemap()` does.
 * The probe goes past the bits this library names: a kernel newer than us answers with its own
 * set, and the accepted mask says so instead of stopping at our last bit.
 */
import { lastError } from '../libc/errno.js';
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

/**
 * Bits probed: every bit a mask argument may carry (the query checks masks against 0xffff).
 * Bits above ours cost one zero-length ioctl each, once per process.
 */
export const PM_SCAN_CATEGORIES_PROBED = 0xffff;

let accepted: number | undefined;

/**
 * Whether `fd` answers PAGEMAP_SCAN. EINVAL (not a pagemap fd) and ENOTTY (Linux < 6.7) mean no;
 * any other errno (ESRCH: the target exited, EBADF) is thrown: it says nothing about the kernel.
 */
export function answersPagemapScan(fd: number): boolean {
  if (scanAccepts(fd, 0)) return true;
  const err = lastError('ioctl', 'PAGEMAP_SCAN');
  if (err.code === 'EINVAL' || err.code === 'ENOTTY') return false;
  throw err;
}

/**
 * Category bits this kernel accepts (newer bits make older kernels fail with EINVAL), or 0 when
 * `fd` does not answer PAGEMAP_SCAN. The bits are a property of the kernel: probed bit by bit once
 * per process, while `fd` itself is checked on every call.
 */
export function acceptedCategories(fd: number): number {
  if (!answersPagemapScan(fd)) return 0;
  if (accepted !== undefined) return accepted;
  let mask = 0;
  for (let bit = 1; bit <= PM_SCAN_CATEGORIES_PROBED; bit <<= 1) if (scanAccepts(fd, bit)) mask |= bit;
  accepted = mask;
  return mask;
}

const NAMES = Object.keys(PAGE_IS) as PageCategory[];

/**
 * Names of kernel bits past `PAGE_IS` (which the ABI test pins to what this library uses):
 * PAGE_IS_ACCESSED is bit 9 on Linux 7.3. Bits nobody named yet read `BIT<n>`.
 */
const NEWER: Record<number, string> = { 9: 'ACCESSED' };

/** `0x28` → `['PRESENT', 'PFNZERO']`, `0x200` → `['ACCESSED']`, `0x400` → `['BIT10']`, for messages and JSON. */
export function categoryNames(bits: number): string[] {
  const out: string[] = NAMES.filter((n) => (bits & PAGE_IS[n]) !== 0);
  for (let bit = 0; bit < 32; bit++) {
    if ((bits & (1 << bit)) === 0 || (PM_SCAN_CATEGORIES_ALL & (1 << bit)) !== 0) continue;
    out.push(NEWER[bit] ?? `BIT${bit}`);
  }
  return out;
}
