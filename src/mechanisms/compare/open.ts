/**
 * Opening a WriteWatch under the compare mechanism: the same memory as write-protect would watch
 * (fresh anonymous pages for allocate, the target's whole pages for track), with a shadow instead
 * of a userfaultfd. Needs nothing from the kernel beyond mmap: runs under seccomp profiles that
 * block userfaultfd, in gVisor, and on kernels before 6.7.
 */
import { MADV_NOHUGEPAGE } from '../../sys/libc/abi.js';
import { getPageSize } from '../../sys/libc/libc.js';
import { Mapping } from '../../memory/mapping.js';
import { locateTracked, refuseShared, type TrackOptions } from '../../writewatch/track.js';
import type { Watched } from '../../writewatch/write-watch.js';
import { CompareTracker } from './tracker.js';

/** `length` bytes (whole pages) of fresh memory; it and its shadow start as zeros, so nothing differs. */
export function allocateCompared(length: number): Watched {
  const mapping = Mapping.anonymous(length, { autoRelease: true });
  try {
    // As under write-protect, so that RSS grows page by page with the writes.
    mapping.advise(0, length, MADV_NOHUGEPAGE);
    const start = mapping.address;
    const w: Watched = { buffer: mapping.view(0, length), base: start, byteLength: length, start, end: start + length, mapping };
    w.compare = new CompareTracker(w, getPageSize(), false);
    return w;
  } catch (e) {
    mapping.release();
    throw e;
  }
}

/**
 * The target's whole pages, baselined with their current content. Shared and file-backed memory
 * is refused as under write-protect (reading a file mapping past its end would be a SIGBUS).
 */
export function trackCompared(target: unknown, options?: TrackOptions): Watched {
  const w = locateTracked(target, options, false);
  refuseShared(target, w.start, w.end, true);
  w.compare = new CompareTracker(w, getPageSize(), true);
  return w;
}
