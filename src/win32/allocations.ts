/**
 * The allocations VirtualAlloc made, by address: Windows' "views". Every Win32 call starts by
 * finding the one allocation that contains its whole (page-rounded) range; a range that runs into
 * a neighbour or a hole belongs to none, which is how a range spanning two allocations fails.
 */
import createDebug from 'debug';
import { SystemCallError } from '../errors.js';
import type { Mapping } from '../memory/mapping.js';
import type { Userfaultfd } from '../uffd/userfaultfd.js';
import { STATUS_NO_MEMORY } from './constants.js';

const debug = createDebug('writewatch:win32');

export class Allocation {
  /** Address of the first page (a number: user addresses are below 2^53). */
  readonly base: number;
  readonly size: number;
  readonly end: number;
  readonly mapping: Mapping;
  /**
   * The userfaultfd of a MEM_WRITE_WATCH allocation, or null. One per allocation rather than one
   * shared: closing it at MEM_RELEASE drops exactly this registration, and a failure (a registration
   * lost behind our back) stays confined to one allocation. An fd per watched allocation is cheap;
   * Windows programs watch a few large reservations (the .NET GC: its heap), not thousands.
   */
  readonly uffd: Userfaultfd | null;
  /** Per page: 0 when reserved only, else the PAGE_* protection it was committed or protected with. */
  readonly prot: Uint8Array;

  constructor(mapping: Mapping, uffd: Userfaultfd | null, pageSize: number) {
    this.mapping = mapping;
    this.base = mapping.address;
    this.size = mapping.length;
    this.end = this.base + this.size;
    this.uffd = uffd;
    this.prot = new Uint8Array(this.size / pageSize);
  }

  /**
   * mprotect [start, end); 0, or STATUS_NO_MEMORY when the kernel answers ENOMEM (the process hit
   * vm.max_map_count: every protection boundary splits a mapping), as Windows answers exhausted
   * resources (last error 8).
   */
  protect(start: number, end: number, prot: number): number {
    try {
      this.mapping.protect(start - this.base, end - start, prot);
      return 0;
    } catch (e) {
      if (e instanceof SystemCallError && e.code === 'ENOMEM') {
        debug('mprotect 0x%s: %s', start.toString(16), e.message);
        return STATUS_NO_MEMORY;
      }
      throw e;
    }
  }
}

/** Sorted by base; allocations never overlap (mmap guarantees it). */
const live: Allocation[] = [];

/** The allocation holding all of [start, end) (end > start), or of the byte at `start` when end === start. */
export function findAllocation(start: number, end: number): Allocation | undefined {
  let lo = 0;
  let hi = live.length - 1;
  // The last allocation whose base is <= start.
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (live[mid].base <= start) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (found < 0) return undefined;
  const a = live[found];
  return start < a.end && end <= a.end ? a : undefined;
}

export function addAllocation(a: Allocation): void {
  let i = live.length;
  while (i > 0 && live[i - 1].base > a.base) i--;
  live.splice(i, 0, a);
}

export function removeAllocation(a: Allocation): void {
  const i = live.indexOf(a);
  if (i >= 0) live.splice(i, 1);
}

/** How many allocations are live (tests check that release forgets them). */
export function allocationCount(): number {
  return live.length;
}
