/**
 * The write-protect mechanism on Linux: a userfaultfd in asynchronous write-protect mode
 * (UFFD_FEATURE_WP_ASYNC + WP_UNPOPULATED) records writes in the page tables, PAGEMAP_SCAN reads
 * (and with reset, re-arms) them. Exactly the written pages, at the kernel's speed.
 */
import createDebug from 'debug';
import { SystemCallError, UnsupportedError } from '../../errors.js';
import { anyHasVmFlag } from '../../sys/proc/maps.js';
import { MADV_NOHUGEPAGE } from '../../sys/libc/abi.js';
import { Mapping } from '../../memory/mapping.js';
import { checkPagemapOwner, selfScanner } from '../../sys/pagemap/self.js';
import { Userfaultfd } from '../../sys/uffd/userfaultfd.js';
import { alreadyTracked } from '../../ownership/claim.js';
import type { ClaimHook, Mechanism } from '../contract.js';
import { refuseShared } from '../shared-memory.js';
import { WriteProtectTracker } from './tracker.js';

const debug = createDebug('writewatch:uffd');

/** Opens what every write-protect tracker needs: the pagemap (a sandbox that hides it fails here, not in get()) and a userfaultfd. */
function open(): Userfaultfd {
  checkPagemapOwner();
  selfScanner();
  return Userfaultfd.open();
}

export const writeProtect: Mechanism = {
  name: 'write-protect',

  unavailable(): string | null {
    return null; // probe() runs the real sequence; allocate()/track() throw ERR_WRITEWATCH_UNSUPPORTED with the reason
  },

  trackUnavailable(): string | null {
    return null;
  },

  allocate(length: number, claim: ClaimHook) {
    const uffd = open();
    let mapping: Mapping | undefined;
    try {
      mapping = Mapping.anonymous(length, { autoRelease: true });
      const start = mapping.address;
      // mmap placed new memory here, so whatever tracked this address before lost it: mark those
      // trackers lost (in every thread) before this memory becomes registered and armed.
      claim(start, start + length, 'mapped', uffd.slot);
      // A written transparent huge page would be reported (and re-armed) 512 pages at a time.
      mapping.advise(0, length, MADV_NOHUGEPAGE);
      uffd.register(start, length);
      // Registration alone leaves every page reading as written: arm the range so it starts clean.
      uffd.writeProtect(start, length);
      return { memory: mapping, tracker: new WriteProtectTracker(uffd, start, start + length) };
    } catch (e) {
      uffd.close();
      mapping?.release(); // ours: mapped a moment ago (its ownership check is not set yet)
      throw e;
    }
  },

  track(start: number, end: number, target: object, claim: ClaimHook) {
    const uffd = open(); // first: without procfs or userfaultfd this is ERR_WRITEWATCH_UNSUPPORTED ('auto' moves on)
    try {
      refuseHugetlb(start, end); // first: MAP_HUGETLB memory also reads as a file (/anon_hugepage)
      refuseShared(target, start, end);
      try {
        uffd.register(start, end - start);
      } catch (e) {
        if (e instanceof SystemCallError && e.code === 'EBUSY') throw alreadyTracked(target, e);
        throw e;
      }
      // The kernel let us register it: whoever tracked it before has lost it (the claim refuses
      // memory a compare tracker still holds, which the kernel cannot know).
      claim(start, end, 'registered', uffd.slot);
      // Registration alone leaves every page reading as written: arm it all, reserved pages included.
      uffd.writeProtect(start, end - start);
    } catch (e) {
      uffd.close();
      throw e;
    }
    debug('tracking 0x%s..0x%s', start.toString(16), end.toString(16));
    return new WriteProtectTracker(uffd, start, end);
  },
};

/**
 * Hugetlb memory (MAP_HUGETLB, a hugetlbfs file) is refused: every kernel before 7.2 has bugs that
 * make its answers wrong or hang the process (docs/platforms.md, "Known kernel bugs"): 1 GiB pages
 * are never write-protected again (written forever, the reset scan makes no progress), a
 * WP_MATCHING scan reaching an unpopulated part of a hugetlb range deadlocks unkillably, and a
 * write racing a reset can lose its dirty bit. Backported fixes cannot be told from the version, so
 * it is refused everywhere, before anything is registered. (Compare refuses it too, as the file
 * mapping its maps line shows; this check comes first so that the reason given is the real one.)
 */
function refuseHugetlb(start: number, end: number): void {
  let huge: boolean;
  try {
    huge = anyHasVmFlag(start, end, 'ht');
  } catch (e) {
    debug('smaps unreadable (%o): cannot tell hugetlb memory, tracking it as ordinary memory', e);
    return;
  }
  if (huge) {
    throw new UnsupportedError(
      'the target is hugetlb memory (MAP_HUGETLB or hugetlbfs): userfaultfd write-protect of hugetlb pages is wrong or ' +
        'hangs on Linux before 7.2 (1 GiB pages never re-protected, a deadlock on unpopulated ranges, lost dirty bits); ' +
        'back it with ordinary pages (no MAP_HUGETLB, no hugetlbfs file) or use WriteWatch.allocate()',
    );
  }
}
