/**
 * PAGEMAP_SCAN uapi (include/uapi/linux/fs.h, Linux 6.7+): `struct pm_scan_arg`, `struct
 * page_region`, the PAGE_IS_* categories and the PM_SCAN_* flags. test/00.abi.test.ts pins them.
 */
import { _IOWR } from '../libc/abi.js';

/** `'f'`, PROCFS_IOCTL_MAGIC. */
export const PROCFS_IOCTL_MAGIC = 0x66;

/** struct pm_scan_arg: 12 × __u64, no padding. Field indexes (× 8 = byte offset). */
export const PM_SCAN_ARG = {
  size: 0,
  flags: 1,
  start: 2,
  end: 3,
  walk_end: 4,
  vec: 5,
  vec_len: 6,
  max_pages: 7,
  category_inverted: 8,
  category_mask: 9,
  category_anyof_mask: 10,
  return_mask: 11,
} as const;
export const PM_SCAN_ARG_SIZE = 96;

/** struct page_region { __u64 start, end (exclusive), categories; } */
export const PAGE_REGION = { start: 0, end: 1, categories: 2 } as const;
export const PAGE_REGION_SIZE = 24;

export const PAGEMAP_SCAN = _IOWR(PROCFS_IOCTL_MAGIC, 16, PM_SCAN_ARG_SIZE);

/** Re-write-protect the pages that matched (and were returned, within `max_pages`). */
export const PM_SCAN_WP_MATCHING = 1 << 0;
/** Fail with EPERM if a VMA in range is not registered for async WP, instead of skipping it. */
export const PM_SCAN_CHECK_WPASYNC = 1 << 1;
export const PM_SCAN_FLAGS = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;

/** Page categories: the bits of `page_region.categories` and of the four masks. */
export const PAGE_IS = {
  /** The VMA is registered with an async-WP userfaultfd. */
  WPALLOWED: 1 << 0,
  /** The entry lacks the uffd-wp bit: written since it was last write-protected. */
  WRITTEN: 1 << 1,
  FILE: 1 << 2,
  PRESENT: 1 << 3,
  /** Any non-present swap-type entry, including uffd-wp PTE markers on never-touched pages. */
  SWAPPED: 1 << 4,
  PFNZERO: 1 << 5,
  HUGE: 1 << 6,
  /** Linux 6.8+. */
  SOFT_DIRTY: 1 << 7,
  /** Linux 6.16+ (MADV_GUARD_INSTALL). */
  GUARD: 1 << 8,
} as const;
export type PageCategory = keyof typeof PAGE_IS;

/** Categories every 6.7+ kernel accepts; newer bits are probed (an unknown bit is EINVAL). */
export const PM_SCAN_CATEGORIES_6_7 = 0x7f;
export const PM_SCAN_CATEGORIES_ALL = 0x1ff;
