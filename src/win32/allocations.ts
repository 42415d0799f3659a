/**
 * The allocations VirtualAlloc made, by address: Windows' "views". Every Win32 call starts by
 * finding the one allocation that contains its whole (page-rounded) range; a range that runs into
 * a neighbour or a hole belongs to none, which is how a range spanning two allocations fails.
 */
import createDebug from 'debug';
import { SystemCallError } from '../errors.js';
import type { Tracker } from '../mechanisms/index.js';
import type { Mapping } from '../memory/mapping.js';
import type { Claim } from '../ownership/claim.js';
import { STATUS_NO_MEMORY } from './constants.js';

const debug = createDebug('writewatch:win32');

export class Allocation {
  /** Address of the first page (a number: user addresses are below 2^53). */
  readonly base: number;
  readonly size: number;
  readonly end: number;
  readonly mapping: Mapping;
  /**
   * The tracker of a MEM_WRITE_WATCH allocation (the write-protect mechanism: one userfaultfd per
   * allocation, so that MEM_RELEASE drops exactly this registration and a registration lost behind
   * our back stays confined to one allocation), or null.
   */
  readonly tracker: Tracker | null;
  /** Per page: 0 when reserved only, else the PAGE_* protection it was committed or protected with. */
  readonly prot: Uint8Array;
  /**
   * Its claim under the ownership protocol: its registry word turns LOST when a newcomer of this
   * library, in any thread, maps or registers memory overlapping it (ours was unmapped behind our
   * back); MEM_RELEASE ends it, unmapping only memory still ours.
   */
  readonly #claim: Claim;

  /** Built once the memory is mapped, claimed and (with a tracker) registered and armed. */
  constructor(mapping: Mapping, tracker: Tracker | null, claim: Claim, pageSize: number) {
    this.mapping = mapping;
    this.base = mapping.address;
    this.size = mapping.length;
    this.end = this.base + this.size;
    this.tracker = tracker;
    this.prot = new Uint8Array(this.size / pageSize);
    this.#claim = claim;
    claim.tracker = tracker;
    claim.hold(mapping);
  }

  /** A watched allocation whose memory another tracker of this library has since taken. */
  get lost(): boolean {
    return this.tracker !== null && !this.#claim.live;
  }

  /**
   * MEM_RELEASE, or forgetting an allocation found lost: detaches every view, closes the tracker
   * (which drops only its own registration) and unmaps only memory still ours; `owned` false when
   * the caller knows it is not (mmap just gave its range to a newcomer).
   */
  dispose(owned?: boolean): void {
    this.#claim.close(owned);
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
  if (!(start < a.end && end <= a.end)) return undefined;
  if (a.lost) {
    // Its memory was unmapped behind our back and is someone else's now: every call answers as
    // for memory VirtualAlloc never gave (87), and the entry goes without unmapping anything.
    debug('0x%s was superseded: forgetting it', a.base.toString(16));
    removeAllocation(a);
    a.dispose();
    return undefined;
  }
  return a;
}

/** Adds a fresh allocation; entries it overlaps were unmapped behind our back (mmap reused their range). */
export function addAllocation(a: Allocation): void {
  for (let j = live.length - 1; j >= 0; j--) {
    const old = live[j];
    if (old.base < a.end && a.base < old.end) {
      debug('0x%s overlaps stale 0x%s: forgetting the stale one', a.base.toString(16), old.base.toString(16));
      live.splice(j, 1);
      old.dispose(false);
    }
  }
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
