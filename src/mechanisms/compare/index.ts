/**
 * The compare mechanism: the same memory as write-protect would watch (fresh anonymous pages for
 * allocate, the target's pages for track), with a shadow copy instead of a userfaultfd, and the
 * pages whose bytes differ from it reported. Needs nothing from the kernel beyond mmap: runs under
 * seccomp profiles that block userfaultfd, in gVisor, and on kernels before 6.7.
 */
import { UnsupportedError } from '../../errors.js';
import { getPageSize } from '../../sys/platform.js';
import { anonymousMemory } from '../../memory/anonymous.js';
import { assertMapped } from '../../memory/mapped.js';
import { KIND, markedOwned, markMapped } from '../../ownership/claim.js';
import type { ClaimHook, Mechanism } from '../contract.js';
import { refuseShared } from '../shared-memory.js';
import { CompareTracker } from './tracker.js';

/** Compare needs anonymous memory and memcmp: Linux's libc, Windows' kernel32 and msvcrt. */
function unavailable(): string | null {
  return process.platform === 'linux' || process.platform === 'win32' ? null : `the compare mechanism does not run on ${process.platform}`;
}

export const compare: Mechanism = {
  name: 'compare',

  unavailable,
  trackUnavailable: unavailable,

  /** `length` bytes of fresh memory; it and its shadow start as zeros, so nothing differs. */
  allocate(length: number, claim: ClaimHook) {
    const why = unavailable();
    if (why !== null) throw new UnsupportedError(why);
    const mapping = anonymousMemory(length);
    try {
      const start = mapping.address;
      const end = start + length;
      claim(start, end, 'mapped');
      // The mark that tells this memory from memory mapped here later by someone else (markedOwned).
      markMapped(start, length);
      const owns = () => markedOwned(KIND.MAPPED, -1, start, end);
      return { memory: mapping, tracker: new CompareTracker(start, end, getPageSize(), false, owns) };
    } catch (e) {
      mapping.release();
      throw e;
    }
  },

  /**
   * The target's pages, baselined with their current content. Shared and file-backed memory is
   * refused as under write-protect (reading a file mapping past its end would be a SIGBUS).
   */
  track(start: number, end: number, target: object, claim: ClaimHook) {
    const why = unavailable();
    if (why !== null) throw new UnsupportedError(why);
    refuseShared(target, start, end, true);
    claim(start, end, 'none');
    // Still its memory while it is mapped: what JS does with the target itself (detach, transfer)
    // the front's sync sees first.
    const checked = { addr: BigInt(start), len: BigInt(end - start), b: Float64Array.of(start, end) };
    const owns = () => {
      try {
        assertMapped(checked.b, checked.addr, checked.len);
        return true;
      } catch {
        return false;
      }
    };
    return new CompareTracker(start, end, getPageSize(), true, owns);
  },
};
