/**
 * "Is every mapping of [start, end) registered with some userfaultfd in async write-protect mode?",
 * asked of the kernel without walking a page: a PAGEMAP_SCAN with
 * category_mask = category_inverted = PAGE_IS_WPALLOWED makes every registered mapping "not
 * interesting" (skipped in pagemap_scan_test_walk()), and PM_SCAN_CHECK_WPASYNC fails with EPERM on
 * any other. No vector, no WP_MATCHING: nothing is output, nothing modified. About 1 µs.
 */
import { lastError } from '../libc/errno.js';
import { libc } from '../libc/libc.js';
import { put64, u64Struct } from '../libc/u64.js';
import { PAGE_IS, PAGEMAP_SCAN, PM_SCAN_ARG, PM_SCAN_ARG_SIZE, PM_SCAN_CHECK_WPASYNC } from './abi.js';
import { selfPagemapFd } from './self.js';

/** The check's pm_scan_arg: preallocated, only start/end change per call. */
let check: { u64: BigUint64Array; u32: Uint32Array } | undefined;

function arg(b: Float64Array, i: number): BigUint64Array {
  if (!check) {
    const c = u64Struct(PM_SCAN_ARG_SIZE / 8);
    c.u64[PM_SCAN_ARG.size] = BigInt(PM_SCAN_ARG_SIZE);
    c.u64[PM_SCAN_ARG.flags] = BigInt(PM_SCAN_CHECK_WPASYNC);
    c.u64[PM_SCAN_ARG.category_mask] = BigInt(PAGE_IS.WPALLOWED);
    c.u64[PM_SCAN_ARG.category_inverted] = BigInt(PAGE_IS.WPALLOWED);
    check = c;
  }
  put64(check.u32, PM_SCAN_ARG.start, b[i]);
  put64(check.u32, PM_SCAN_ARG.end, b[i + 1]);
  return check.u64;
}

/**
 * Runs the check over [b[i], b[i + 1]) (in a Float64Array: the per-call path allocates nothing): -1
 * with errno left for the caller (EPERM: some mapping is not registered), else 0. The caller reads
 * errno at once.
 */
export function registrationCheck(b: Float64Array, i: number): number {
  return libc().ioctl(selfPagemapFd(), PAGEMAP_SCAN, arg(b, i)) < 0 ? -1 : 0;
}

const pair = new Float64Array(2);

/** True when every mapping of [start, end) is registered with some async write-protect userfaultfd. */
export function registeredAnywhere(start: number, end: number): boolean {
  let fd: number;
  try {
    fd = selfPagemapFd();
  } catch {
    return false; // no pagemap here: nothing can be registered for async write-protect either
  }
  pair[0] = start;
  pair[1] = end;
  if (libc().ioctl(fd, PAGEMAP_SCAN, arg(pair, 0)) >= 0) return true;
  const err = lastError('ioctl', 'PAGEMAP_SCAN');
  if (err.code === 'EPERM') return false;
  throw err;
}
