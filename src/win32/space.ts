/**
 * What the Windows rules (rules.ts) need of an address space, so that one implementation of them
 * serves the process's own memory (process/space.ts: mmap, mprotect and the write-protect
 * mechanism's trackers, shared by every thread) and a guest's memory (guest/space.ts: bookkeeping
 * inside a WebAssembly.Memory or buffer, watched by a WriteWatch). A kernel32-forwarding space on
 * Windows is a third implementation of the same interface, picked in process/index.ts.
 *
 *   rules.ts      argument checks, check order, NTSTATUS codes, results, the per-page flags below
 *       │
 *   Space         find / outside / reserve / apply / decommit / release / watch / locked
 *       │
 *   process/ (mmap + Tracker, a process-wide table)      guest/ (a WriteWatch over JS memory)
 *
 * Addresses are numbers (every user address is below 2^53), page-aligned where they are ranges.
 */
import type { Query } from '../mechanisms/contract.js';

/** The PAGE_* protection of a page (low bits); 0: reserved, not committed. */
export const PROTECTION = 0x7ff;
/**
 * The page was written and not reset when a VirtualProtect covered it: Windows keeps such a page
 * reported through a decommit and recommit (test_write_watch's last checks), so the library keeps
 * it too (STICKY at decommit) until a reset.
 */
export const LATCHED = 0x1000;
/** Reported as written whatever the tracker says: a latched page decommitted, a reset undone. */
export const STICKY = 0x2000;

/** One VirtualAlloc reservation: Windows' "allocation" (a VAD). */
export interface Region {
  readonly base: number;
  readonly size: number;
  readonly end: number;
  /** Reserved with MEM_WRITE_WATCH. */
  readonly watched: boolean;
  /** The protection VirtualAlloc reserved it with (MEMORY_BASIC_INFORMATION.AllocationProtect). */
  readonly allocationProtect: number;
  /** Per page: its PAGE_* protection (0: reserved only) | LATCHED | STICKY. */
  readonly pages: Uint16Array;
  /** How many pages carry LATCHED or STICKY: while 0, GetWriteWatch is one tracker scan. */
  flagged: number;
}

/** What VirtualQuery reports for an address outside every region of the space. */
export interface Outside {
  start: number;
  end: number;
  /** MEM_FREE, or MEM_COMMIT for memory the space did not allocate (the process's other mappings). */
  state: number;
  protect: number;
  type: number;
  allocationBase: number;
  allocationProtect: number;
}

/** The write-watch state of a watched region: the mechanism contract's Tracker has this shape. */
export interface Watch {
  /** The written pages of q.bounds (absolute) into q.into; with q.reset, exactly those re-armed. Throws LostError. */
  scan(q: Query): void;
  /** Re-arms every page of q.bounds. Throws LostError. */
  reset(q: Query): void;
  /** Re-arms every page of q.bounds after its contents were dropped (decommit). */
  rearm(q: Query): void;
}

export interface Space {
  readonly pageSize: number;
  /** SYSTEM_INFO.lpMinimumApplicationAddress / lpMaximumApplicationAddress (inclusive). */
  readonly minAddress: number;
  readonly maxAddress: number;
  readonly processors: number;
  /** The region holding all of [start, end) (end > start), or the byte at `start` when end === start. */
  find(start: number, end: number): Region | undefined;
  /** What lies at `address` (page-aligned), known to be outside every region. */
  outside(address: number): Outside;
  /**
   * A new region of `length` bytes at `at` (64 KiB-aligned) or wherever the space picks (64
   * KiB-aligned); `commit`: committed with `protect` at once. Its pages array is filled by the caller.
   * Returns an NTSTATUS on failure (STATUS_CONFLICTING_ADDRESSES, STATUS_NO_MEMORY, STATUS_NOT_SUPPORTED).
   */
  reserve(at: number | undefined, length: number, watched: boolean, protect: number, commit: boolean): Region | number;
  /** Gives [start, end) the protection `protect` (commit or VirtualProtect): 0 or an NTSTATUS. */
  apply(r: Region, start: number, end: number, protect: number): number;
  /** Drops the contents of [start, end): zero, inaccessible, re-armed (reads clean). 0 or an NTSTATUS. */
  decommit(r: Region, start: number, end: number): number;
  release(r: Region): void;
  /** The write-watch state of a watched region. */
  watch(r: Region): Watch;
  /** Runs `body` with the space's table locked against other threads. No user code may run inside. */
  locked<T>(body: () => T): T;
}
