/**
 * The mechanism contract: how a front (WriteWatch, writewatch/win32) asks "which pages of this
 * memory were written" without knowing how the answer is found. Each mechanism is a folder beside
 * this file and implements it; mechanisms/index.ts is the one place that picks one.
 *
 *   fronts        writewatch/ (WriteWatch)        win32/ (VirtualAlloc, GetWriteWatch …)
 *                         │  argument checks, liveness, result shaping, lifecycle
 *   contract      Mechanism.allocate / .track  →  Tracker.scan / .reset / .grow / .owns / .close
 *                         │
 *   mechanisms    write-protect/ (userfaultfd + PAGEMAP_SCAN)   compare/ (shadow diff)   kernel32/
 *   ownership     ownership/ (the process registry, claims, finalizers, thread-exit reaping)
 *   memory        memory/ (mappings, views, page rounding)
 *   system        sys/ (libc, uffd, pagemap, kernel32 bindings)
 *
 * Addresses are plain numbers (user addresses are below 2^53). The hot path allocates nothing: the
 * front owns one Query per tracker and reuses it, and addresses ride in a Float64Array, since a
 * number above 2^31 passed as an argument to a call that is not inlined is boxed in a new HeapNumber.
 */
import type { Memory } from '../memory/memory.js';
import type { RegionSink } from '../sys/pagemap/written.js';

export type { Memory };

/** Receives each run of pages [start, end) as offsets from the origin, ascending. */
export interface Sink extends RegionSink {
  /** Forgets every run received so far: a scan run again from the start after a retryable failure. */
  restart(): void;
}

/** What a tracker reports and how: `written` pages (write-protect, kernel32) or `changed` pages (compare). */
export type MechanismName = 'write-protect' | 'compare';

/** One get/getInto/ranges/reset, owned by the front and reused across calls. */
export interface Query {
  /**
   * [0] start, [1] end: absolute, page-aligned, inside the tracked range; [2] origin: a page at
   * address a is reported as a - origin. [3], [4]: the mechanism's scratch.
   */
  readonly bounds: Float64Array;
  /** Also re-arm exactly the pages reported (WRITE_WATCH_FLAG_RESET), atomically with reading them. */
  reset: boolean;
  /** At most this many pages (`*lpdwCount`); 0: no cap. */
  maxPages: number;
  /** Offsets go to `into[count++]` when set; else each run goes to `sink.region()`; both null: counted only. */
  into: Float64Array | null;
  sink: Sink | null;
  /** Pages reported so far; the front sets it to 0. */
  count: number;
}

/** One tracked range of memory, as a mechanism watches it. */
export interface Tracker {
  /**
   * The written (compare: changed) pages of `q.bounds`, ascending, into `q.into` or `q.sink`; with
   * `q.reset` exactly those are re-armed. Throws LostError when the memory is no longer tracked;
   * a throw has changed nothing.
   */
  scan(q: Query): void;
  /** Re-arms every page of `q.bounds` (ResetWriteWatch). Throws LostError as scan() does. */
  reset(q: Query): void;
  /**
   * Re-arms every page of `q.bounds` whatever the mechanism last saw of it: after the front dropped
   * their contents (MEM_DECOMMIT), so that they read clean and recommitting does not dirty them.
   */
  rearm(q: Query): void;
  /**
   * Makes every page of `q.bounds` read as written (changed) again: undoes a reset whose answer
   * could not be delivered (an out-parameter refused the store). Overstates, never loses.
   */
  unreset(q: Query): void;
  /** A growable target now reaches `end` (absolute, page-aligned): watch up to it. */
  grow(end: number): void;
  /** Whether the tracked memory is still this tracker's: asked before anything writes to or unmaps it. */
  owns(): boolean;
  /** Stops watching and frees what the mechanism holds (descriptors, shadows), never the memory. Idempotent. */
  close(): void;
}

/**
 * What proves that memory about to be tracked is no longer any older tracker's:
 * - 'mapped': mmap (or VirtualAlloc) just placed fresh memory there;
 * - 'registered': the kernel let this tracker's userfaultfd register it, which it refuses (EBUSY)
 *   while another userfaultfd holds it;
 * - 'none': nothing (the compare mechanism registers nothing).
 */
export type Proof = 'mapped' | 'registered' | 'none';

/**
 * Called by a mechanism as soon as it knows which memory it is about to track, before it arms it:
 * the ownership protocol (ownership/claim.ts) records the claim and marks older trackers of that
 * memory lost, or throws (ERR_INVALID_ARG_VALUE, cause EBUSY) when a live one still holds it.
 * `fdSlot`: the registry slot of the userfaultfd that will hold it, by which a thread other than
 * this one can ask the kernel whether it still does.
 */
export type ClaimHook = (start: number, end: number, proof: Proof, fdSlot?: number) => void;

export interface Mechanism {
  readonly name: MechanismName;
  /** Null when allocate() can run in this process, else why not (what 'auto' and probe() read). */
  unavailable(): string | null;
  /** As unavailable(), for track(): a mechanism may track fresh memory only (kernel32). */
  trackUnavailable(): string | null;
  /** `length` bytes (whole pages) of fresh memory, tracked from birth: nothing reads as written. */
  allocate(length: number, claim: ClaimHook): { memory: Memory; tracker: Tracker };
  /** Tracks [start, end) (absolute, page-aligned) of memory JS owns; `target` is what track() was given. */
  track(start: number, end: number, target: object, claim: ClaimHook): Tracker;
}

/** A fresh Query. */
export function newQuery(): Query {
  return { bounds: new Float64Array(5), reset: false, maxPages: 0, into: null, sink: null, count: 0 };
}
