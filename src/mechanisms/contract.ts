// src/mechanisms/contract.ts — the mechanism contract (spec the fronts and every mechanism share).
// Addresses are plain numbers (user addresses < 2^53). The hot path allocates nothing: the front owns one
// Query per WriteWatch and reuses it; addresses ride in a Float64Array (a number above 2^31 passed as an
// argument to a non-inlined function is boxed in a new HeapNumber).
import type { LostError } from '../errors.js';

/** Receives each written run [start, end) as offsets from Query.bounds[2] (the origin), ascending. */
export interface RegionSink {
  region(start: number, end: number): void;
}

/** One get/getInto/ranges/reset, owned by the front and reused. */
export interface Query {
  /** [0] start, [1] end: absolute, page-aligned, inside the tracker's range; [2] origin: a page at address a is reported as a - origin. */
  readonly bounds: Float64Array;
  /** Also re-arm exactly the pages reported (WRITE_WATCH_FLAG_RESET): atomic with reading them. */
  reset: boolean;
  /** At most this many pages (*lpdwCount); 0: no cap. */
  maxPages: number;
  /** Offsets go to into[count++] when set, else each run goes to sink.region(); both null: only count. */
  into: Float64Array | null;
  sink: RegionSink | null;
  /** Pages reported so far (the front sets it to 0). */
  count: number;
}

/** One tracked range of memory, as a mechanism watches it. */
export interface Tracker {
  /** Written (compare: changed) pages of q.bounds, ascending, into q.into or q.sink; with q.reset exactly those are re-armed.
   *  Throws LostError when the memory is no longer tracked; a throw has changed nothing. */
  scan(q: Query): void;
  /** Re-arms every page of q.bounds (ResetWriteWatch). */
  reset(q: Query): void;
  /** A growable target now reaches `end` (absolute, page-aligned): watch up to it. */
  grow(end: number): void;
  /** Whether the tracked memory is still this tracker's (asked before anything writes to or unmaps it). */
  owns(): boolean;
  /** Stops watching and frees what the mechanism holds (descriptors, shadows), never the memory. Idempotent. */
  close(): void;
}

/** Memory a mechanism mapped for allocate(): JS reaches it through view(); release() frees it safely for views still reachable. */
export interface Memory {
  readonly address: number;
  readonly length: number;
  view(offset: number, length: number): ArrayBuffer;
  release(owned: boolean): void;
}

export interface Mechanism {
  readonly name: 'write-protect' | 'compare';
  /** Null when it can run in this process, else why not (what 'auto' and probe() read). */
  unavailable(): string | null;
  /** `length` bytes (whole pages) of fresh memory, tracked from birth: nothing reads as written. */
  allocate(length: number): { memory: Memory; tracker: Tracker };
  /** Tracks [start, end) (absolute, page-aligned) of memory JS owns; `target` is the object passed to track(), for messages. */
  track(start: number, end: number, target: object): Tracker;
}
// src/mechanisms/index.ts is the one place that picks: per platform, the 'write-protect' mechanism is
// linux (uffd + pagemap) or kernel32 (VirtualAlloc MEM_WRITE_WATCH; track() unavailable: "Windows cannot add
// write watch to memory it did not reserve with it"); 'compare' is the shadow diff; 'auto' = write-protect
// when available for the operation, else compare.
