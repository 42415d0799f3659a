/**
 * Detecting tracking lost behind the library's back. PAGEMAP_SCAN with PM_SCAN_CHECK_WPASYNC
 * fails with EPERM on a mapping that is not registered (mapped over, forked child, userfaultfd
 * closed), but it skips holes silently: memory that was unmapped or moved away would read as all
 * clean. msync(2) with no flags does no I/O and fails with ENOMEM when part of the range is not
 * mapped, so one call per get/reset closes that gap.
 */
import { LostError, SystemCallError } from '../errors.js';
import { lastError } from '../libc/errno.js';
import { libc } from '../libc/libc.js';

/** Throws `LostError` if any page of [start, end) is unmapped. */
export function assertMapped(start: number, end: number): void {
  if (libc().msync(start, end - start, 0) === 0) return;
  const err = lastError('msync');
  if (err.code === 'ENOMEM') {
    throw new LostError(
      `tracked memory [0x${start.toString(16)}, 0x${end.toString(16)}) is no longer mapped (unmapped or moved with mremap)`,
      { cause: err },
    );
  }
  throw err;
}

/** Errors of UFFDIO_WRITEPROTECT that mean our registration is gone rather than a bug. */
export function lostFromWriteProtect(err: unknown, start: number, end: number): unknown {
  // ENOENT: a mapping in range is not registered with this userfaultfd (mapped over, re-registered
  // elsewhere). EBADF/ENOTTY/EINVAL on the fd: it was closed, or its number now names another file.
  if (err instanceof SystemCallError && ['ENOENT', 'EBADF', 'ENOTTY'].includes(err.code)) {
    return new LostError(`the kernel no longer tracks [0x${start.toString(16)}, 0x${end.toString(16)}): UFFDIO_WRITEPROTECT failed with ${err.code}`, {
      cause: err,
    });
  }
  return err;
}
