/**
 * Detecting tracking lost behind the library's back, before any call acts on it. Two checks run
 * before every get/reset, each closing a gap the scan itself leaves:
 *
 * - memory unmapped or moved away (munmap, mremap): PAGEMAP_SCAN skips holes silently, so the pages
 *   would read as clean. msync(2) with no flags does no I/O and fails with ENOMEM on any hole.
 * - memory no longer registered (mapped over with MAP_FIXED, moved and back, its userfaultfd
 *   closed): PAGEMAP_SCAN with PM_SCAN_CHECK_WPASYNC fails with EPERM, but only when its walk
 *   reaches that mapping — after it has re-protected (reset) the pages of the mappings before it,
 *   and UFFDIO_WRITEPROTECT likewise works mapping by mapping before failing with ENOENT. A failed
 *   call must change nothing, so the registration is checked first, by a scan that walks no page:
 *   with category_mask = category_inverted = PAGE_IS_WPALLOWED, every registered mapping is "not
 *   interesting" and skipped in pagemap_scan_test_walk(), which fails with EPERM on the others.
 *   get/getInto skip that check (it cost 1-30 µs a call, measured, the most after a burst of writes)
 *   and undo instead: their scan writes every page it resets into an array, so on EPERM they
 *   un-write-protect exactly those pages and the ones the failed ioctl reported (WrittenScanner's
 *   ResetGuard); the check runs only when the walk stops before the end of the range, before any
 *   page reaches the caller's array.
 *
 * Not checked per call: a forked child. Its inherited fds would act on the parent's memory, but a
 * fork()ed child of Node never runs JS again: V8 maps its heap VM_DONTCOPY ("dc" in smaps), so the
 * child faults on its first bytecode (measured, Node 20). allocate() still re-opens pagemap on a
 * pid change (pagemap/self.ts); a getpid per call would add ~250 ns to a ~1.7 µs get.
 */
import { LostError, SystemCallError } from '../../errors.js';
import { lastError } from '../../sys/libc/errno.js';
import { assertMapped } from '../../memory/mapped.js';
import { registrationCheck } from '../../sys/pagemap/registered.js';
import { verifyPagemap } from '../../sys/pagemap/self.js';

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Throws `LostError` unless every page of [b[0], b[1]) is still mapped and, when `modifies`,
 * registered with this process's async write-protect userfaultfd. Modifies nothing. `modifies`
 * false (a get without reset) skips the registration check: such a scan fails whole with EPERM by
 * itself. msync's `addr` and `len` come as bigints the caller made once per range: a number above
 * 2^31 handed to koffi (or to a call that is not inlined) is boxed in a new HeapNumber every time.
 */
export function assertTrackedAt(b: Float64Array, addr: number | bigint, len: number | bigint, modifies: boolean): void {
  assertMapped(b, addr, len);
  // A scan that resets nothing fails whole with EPERM by itself; the check (~1 µs) is for the others.
  if (!modifies) return;
  assertRegistered(b, 0);
}

/**
 * The registration half of assertTrackedAt() over [b[3], b[4]): the check a resetting scan that
 * undoes its resets on failure (WrittenScanner.guard) makes when its walk stops early.
 */
export function assertRegisteredAt(b: Float64Array): void {
  assertRegistered(b, 3);
}

/** The registration check over [b[i], b[i + 1]). */
function assertRegistered(b: Float64Array, i: number): void {
  if (registrationCheck(b, i) < 0) {
    const err = lastError('ioctl', 'PAGEMAP_SCAN');
    if (err.code === 'EPERM') {
      throw new LostError(
        `the kernel no longer tracks [${hex(b[i])}, ${hex(b[i + 1])}): part of it is not registered for async ` +
          'write-protect (mapped over with MAP_FIXED, moved with mremap, its userfaultfd closed, or this is a ' +
          'forked child, which inherits memory but not its tracking)',
        { cause: err },
      );
    }
    throw err;
  }
}

/** Errors of UFFDIO_WRITEPROTECT that mean our registration is gone rather than a bug. */
export function lostFromWriteProtect(err: unknown, start: number, end: number): unknown {
  // ENOENT: a mapping in range is not registered with this userfaultfd (mapped over, re-registered
  // elsewhere). EBADF/ENOTTY/EINVAL on the fd: it was closed, or its number now names another file.
  if (err instanceof SystemCallError && ['ENOENT', 'EBADF', 'ENOTTY'].includes(err.code)) {
    return new LostError(`the kernel no longer tracks [${hex(start)}, ${hex(end)}): UFFDIO_WRITEPROTECT failed with ${err.code}`, {
      cause: err,
    });
  }
  return err;
}

/**
 * Whether a failed pagemap call failed because our pagemap fd number no longer names our pagemap
 * (closed behind our back: EBADF; another file put there: ENOTTY, EINVAL): then it is forgotten and
 * the next call opens a fresh one, and the caller may run a call that changed nothing again.
 */
export function pagemapReplaced(err: unknown): boolean {
  return err instanceof SystemCallError && (err.code === 'EBADF' || err.code === 'ENOTTY' || err.code === 'EINVAL') && !verifyPagemap();
}
