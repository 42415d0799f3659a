/**
 * The allocations VirtualAlloc made, by address: Windows' "views". Every Win32 call starts by
 * finding the one allocation that contains its whole (page-rounded) range; a range that runs into
 * a neighbour or a hole belongs to none, which is how a range spanning two allocations fails.
 */
import createDebug from 'debug';
import { SystemCallError } from '../errors.js';
import type { Mapping } from '../memory/mapping.js';
import { atThreadExit } from '../sys/libc/thread-exit.js';
import { LIVE, STATE, claimRange, rangeState, releaseRange, supersede } from '../sys/process/registry.js';
import type { Userfaultfd } from '../sys/uffd/userfaultfd.js';
import { ownsRange } from '../writewatch/lost.js';
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
  /**
   * A MEM_WRITE_WATCH allocation's slot in the process-wide registry, -1 for others; its state
   * word turns LOST when a newcomer of this library, in any thread, maps or registers memory
   * overlapping it (ours was unmapped behind our back), and every call reads it first.
   */
  readonly #slot: number;
  readonly #state: Int32Array | null;
  readonly #stateIndex: number;
  /** Whether the memory is still ours to unmap, decided once at release. */
  #owned: boolean | undefined;

  /** Built once the memory is mapped (and, with `uffd`, registered): older trackers there have lost it. */
  constructor(mapping: Mapping, uffd: Userfaultfd | null, pageSize: number) {
    this.mapping = mapping;
    this.base = mapping.address;
    this.size = mapping.length;
    this.end = this.base + this.size;
    this.uffd = uffd;
    this.prot = new Uint8Array(this.size / pageSize);
    if (uffd) {
      this.#slot = claimRange(this.base, this.end);
      const { words, index } = rangeState(this.#slot);
      this.#state = words;
      this.#stateIndex = index;
    } else {
      supersede(this.base, this.end);
      this.#slot = -1;
      this.#state = null;
      this.#stateIndex = 0;
    }
    mapping.setOwned(() => (this.#owned ??= this.#decideOwned()));
  }

  /** A watched allocation whose memory another tracker of this library has since taken. */
  get lost(): boolean {
    return this.#state !== null && (Atomics.load(this.#state, this.#stateIndex) & STATE) !== LIVE;
  }

  #decideOwned(): boolean {
    if (!this.uffd) return true; // nothing tells; unwatched memory is documented as the caller's
    return !this.lost && ownsRange(this.uffd, this.base, this.end);
  }

  /**
   * MEM_RELEASE, or forgetting an allocation found lost: detaches every view, closes the
   * userfaultfd (which drops only its own registrations) and unmaps only memory still ours;
   * `owned` false when the caller knows it is not (mmap just gave its range to a newcomer).
   */
  dispose(owned?: boolean): void {
    if (owned !== undefined) this.#owned ??= owned;
    this.#owned ??= this.#decideOwned(); // before the fd goes: the check needs it
    if (!this.#owned) debug('0x%s is no longer ours: leaving it mapped', this.base.toString(16));
    try {
      this.uffd?.close();
    } catch (e) {
      debug('closing userfaultfd failed: %o', e);
    }
    this.mapping.release();
    if (this.#slot >= 0) releaseRange(this.#slot);
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
  if (a.uffd) atThreadExit(closeWatched);
}

/** A worker ending with allocations left: their userfaultfds go with it (the memory stays mapped). */
function closeWatched(): void {
  for (const a of live) a.uffd?.close();
}

export function removeAllocation(a: Allocation): void {
  const i = live.indexOf(a);
  if (i >= 0) live.splice(i, 1);
}

/** How many allocations are live (tests check that release forgets them). */
export function allocationCount(): number {
  return live.length;
}
