/**
 * WriteWatch: memory whose written pages can be listed and reset, as Windows' VirtualAlloc with
 * MEM_WRITE_WATCH plus GetWriteWatch/ResetWriteWatch. A userfaultfd in async write-protect mode
 * records writes in the page tables; PAGEMAP_SCAN reads (and with reset, re-arms) them.
 */
import { types } from 'node:util';
import createDebug from 'debug';
import { allocateCompared, trackCompared } from '../mechanisms/compare/open.js';
import type { CompareTracker } from '../mechanisms/compare/tracker.js';
import { ClosedError, InvalidArgTypeError, LostError, UnsupportedError } from '../errors.js';
import { assertRegisteredAt, assertTrackedAt, ownsRange, pagemapReplaced } from './lost.js';
import { atThreadExit } from '../sys/libc/thread-exit.js';
import { LIVE, STATE, claimRange, rangeIsLive, rangeState, releaseRange } from '../sys/process/registry.js';
import { MADV_NOHUGEPAGE } from '../sys/libc/abi.js';
import { getPageSize } from '../sys/libc/libc.js';
import { checkAllocationLength, Mapping } from '../memory/mapping.js';
import { checkPagemapOwner, pagemapStillOurs, selfScanner } from '../sys/pagemap/self.js';
import type { ResetGuard, WrittenScanner } from '../sys/pagemap/written.js';
import { Userfaultfd } from '../sys/uffd/userfaultfd.js';
import { checkInteger, checkOptions, checkRange, type GetOptions, type Request } from './args.js';
import { checkMechanism, type Mechanism, type MechanismOptions } from './mechanism.js';
import { RangeSink, type ByteRange } from './sinks.js';
import { openTracked, type TrackOptions, type TrackTarget } from './track.js';

const debug = createDebug('writewatch:writewatch');

/**
 * The userfaultfds of this thread's open WriteWatches. When a worker exits without closing them,
 * its isolate is torn down without running FinalizationRegistry callbacks: the fds would leak and
 * the memory stay registered, so that no other thread could ever track it again (EBUSY). The
 * worker's 'exit' event closes them; a worker stopped by terminate() never emits it, and the next thread
 * that opens a descriptor closes them instead (process/registry.ts).
 */
const open = new Set<Userfaultfd>();

function adopt(uffd: Userfaultfd): void {
  open.add(uffd);
  atThreadExit(closeAll);
}

function closeAll(): void {
  for (const u of open) {
    try {
      u.close();
    } catch {
      /* already gone */
    }
  }
  open.clear();
}

/**
 * A WriteWatch's claim on its memory: its slot in the process-wide registry, and, for memory it
 * mapped itself, whether it still owns it — decided once, before the first unmap (close(), or the
 * garbage collector), since unmapping memory someone else now has would crash them.
 */
interface Claim {
  slot: number;
  /** Absent under 'compare': nothing is registered, and the registry alone says whether the memory is still ours. */
  uffd?: Userfaultfd;
  start: number;
  end: number;
  /** allocate(): the WriteWatch mapped the memory and must decide whether to unmap it. */
  mapped: boolean;
  owned?: boolean;
}

function decideOwned(c: Claim): boolean {
  return (c.owned ??= rangeIsLive(c.slot) && (c.uffd === undefined || ownsRange(c.uffd, c.start, c.end)));
}

/**
 * Closes the userfaultfd of a WriteWatch dropped without close(): the kernel then unregisters it.
 * Holds the claim, never the Watched: its buffer must stay collectable (the mapping is unmapped
 * when its last view is).
 */
const dropped = new FinalizationRegistry<Claim>((c) => {
  debug('WriteWatch collected without close(): closing its userfaultfd');
  if (c.mapped) decideOwned(c); // before the fd goes: its views' finalizer may unmap later
  if (c.uffd) {
    open.delete(c.uffd);
    try {
      c.uffd.close();
    } catch {
      /* already gone */
    }
  }
  releaseRange(c.slot);
});

/** What a WriteWatch watches: absolute page-aligned [start, end) inside a buffer starting at `base`. */
export interface Watched {
  /** The userfaultfd whose async write-protect records the writes; absent under 'compare'. */
  uffd?: Userfaultfd;
  /** Under 'compare': the shadow diff that answers get/getInto/ranges/reset instead of the kernel. */
  compare?: CompareTracker;
  buffer: ArrayBuffer | SharedArrayBuffer;
  base: number;
  byteLength: number;
  start: number;
  end: number;
  /** Memory the WriteWatch owns and unmaps on close (allocate); absent for memory JS owns (track). */
  mapping?: Mapping;
  /** The object passed to track(), held so that V8 cannot free its memory while it is tracked. */
  target?: object;
  /**
   * Run first by every call on a tracked target that can change: follows a grow (`buffer`,
   * `byteLength`) and throws LostError when V8 moved the memory or it was detached. Allocates
   * nothing while the target is unchanged.
   */
  sync?: (w: Watched) => void;
  /** Set by allocate() (which claims before registering) or by the constructor. */
  claim?: Claim;
}

/** allocate()'s options. */
export type AllocateOptions = MechanismOptions;

export class WriteWatch {
  #w: Watched | null;
  readonly #mechanism: Mechanism;
  readonly #page: number;
  readonly #address: bigint;
  /** The length last seen, for `byteLength` after close. */
  #byteLength: number;
  readonly #ranges = new RangeSink();
  /** getInto's checked options, reused: getInto allocates nothing. */
  readonly #request: Request = { offset: 0, length: 0, maxPages: 0, reset: false };
  /** The range assertTrackedAt last checked, with msync's arguments as bigints made once per range. */
  #checked = { start: 0, end: 0, addr: 0n, len: 0n };
  /**
   * This WriteWatch's state word in the process-wide registry: LIVE until a newcomer of this
   * library (any thread) registers or maps memory overlapping ours. Read first by every call.
   */
  readonly #state: Int32Array;
  readonly #stateIndex: number;

  protected constructor(w: Watched) {
    if (w.uffd || w.mapping) {
      // track(): the kernel just let our userfaultfd register the range, so whoever tracked it before has lost it.
      w.claim ??= { slot: claimRange(w.start, w.end), uffd: w.uffd, start: w.start, end: w.end, mapped: false };
      const { words, index } = rangeState(w.claim.slot);
      this.#state = words;
      this.#stateIndex = index;
    } else {
      // track() under 'compare' registers nothing and takes nothing from anyone: no claim.
      this.#state = UNCLAIMED;
      this.#stateIndex = 0;
    }
    this.#w = w;
    this.#page = getPageSize();
    this.#address = BigInt(w.base);
    this.#byteLength = w.byteLength;
    this.#mechanism = w.compare ? 'compare' : 'write-protect';
    if (w.claim) dropped.register(this, w.claim, this);
    if (w.uffd) adopt(w.uffd);
  }

  /**
   * Fresh anonymous memory, rounded up to whole pages and tracked from birth: nothing reads as
   * written until it is written. VirtualAlloc(MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH).
   * `mechanism`: see mechanism.ts ('auto' falls back to 'compare' on ERR_WRITEWATCH_UNSUPPORTED).
   */
  static allocate(byteLength: number, options?: AllocateOptions): WriteWatch {
    // Before mmap, so ENOMEM never pre-empts it; the bound is this Node's buffer.constants.MAX_LENGTH.
    const length = checkAllocationLength('byteLength', byteLength, getPageSize());
    const mechanism = checkMechanism(options);
    if (mechanism === 'compare') return WriteWatch.#allocateCompared(length);
    try {
      return WriteWatch.#allocateProtected(length);
    } catch (e) {
      if (mechanism === 'auto' && e instanceof UnsupportedError) return WriteWatch.#allocateCompared(length);
      throw e;
    }
  }

  /** allocate() under 'compare': mmap placed new memory here, so whatever tracked this address before lost it. */
  static #allocateCompared(length: number): WriteWatch {
    const w = allocateCompared(length);
    const c: Claim = (w.claim = { slot: claimRange(w.start, w.end), start: w.start, end: w.end, mapped: true });
    w.mapping!.setOwned(() => decideOwned(c));
    return new WriteWatch(w);
  }

  static #allocateProtected(length: number): WriteWatch {
    checkPagemapOwner();
    selfScanner(); // open /proc/self/pagemap now, so a sandbox that hides it fails here, not in get()
    const uffd = Userfaultfd.open();
    let mapping: Mapping | undefined;
    let claim: Claim | undefined;
    try {
      mapping = Mapping.anonymous(length, { autoRelease: true });
      const start = mapping.address;
      // mmap placed new memory here, so whatever tracked this address before lost it: mark those
      // trackers lost (in every thread) before this memory becomes registered and armed.
      const c: Claim = (claim = { slot: claimRange(start, start + length), uffd, start, end: start + length, mapped: true });
      mapping.setOwned(() => decideOwned(c));
      const w: Watched = { uffd, buffer: new ArrayBuffer(0), base: start, byteLength: length, start, end: start + length, mapping, claim };
      // A written transparent huge page would be reported (and re-armed) 512 pages at a time.
      mapping.advise(0, length, MADV_NOHUGEPAGE);
      uffd.register(start, length);
      // Registration alone leaves every page reading as written: arm the range so it starts clean.
      uffd.writeProtect(start, length);
      w.buffer = mapping.view(0, length);
      return new WriteWatch(w);
    } catch (e) {
      if (claim) claim.owned = true; // ours: mapped a moment ago
      uffd.close();
      mapping?.release();
      if (claim) releaseRange(claim.slot);
      throw e;
    }
  }

  /**
   * Tracks memory JS already owns: an ArrayBuffer, SharedArrayBuffer, WebAssembly.Memory or a
   * view of one. Only whole pages inside the target (inside the view, for a view) are tracked;
   * offsets are relative to byte 0 of the target's buffer. A WebAssembly.Memory or a resizable /
   * growable buffer stays tracked as it grows: its whole reservation is armed up front (see
   * track.ts), so grown pages read clean until written, whoever grows and writes them. close()
   * unregisters and never frees the target.
   */
  static track(target: TrackTarget, options?: TrackOptions & MechanismOptions): WriteWatch {
    const mechanism = checkMechanism(options);
    if (mechanism === 'compare') return new WriteWatch(trackCompared(target, options));
    try {
      return new WriteWatch(openTracked(target, options));
    } catch (e) {
      if (mechanism === 'auto' && e instanceof UnsupportedError) return new WriteWatch(trackCompared(target, options));
      throw e;
    }
  }

  /** Subclasses and `track` build from an already registered and armed range. */
  protected static fromWatched(w: Watched): WriteWatch {
    return new WriteWatch(w);
  }

  #live(): Watched {
    const w = this.#w;
    if (!w) throw new ClosedError();
    // A plain read: one word, written by other threads with Atomics.compareExchange; nothing else
    // of the registry is read here, so no ordering is needed, and a new call always reloads it.
    if ((this.#state[this.#stateIndex] & STATE) !== LIVE) throw superseded(w);
    if (w.sync !== undefined) {
      w.sync(w);
      this.#byteLength = w.byteLength;
    }
    return w;
  }

  /** An ArrayBuffer over the tracked memory. */
  get buffer(): ArrayBuffer {
    return this.#live().buffer as ArrayBuffer;
  }

  /** Address of byte 0 of `buffer`. */
  get address(): bigint {
    return this.#address;
  }

  /** The current length of `buffer` (a tracked growable target's grows); the last one seen after close. */
  get byteLength(): number {
    const w = this.#w;
    if (w?.sync !== undefined) return this.#live().byteLength;
    return this.#byteLength;
  }

  /** How written pages are found: 'write-protect' (written pages) or 'compare' (changed pages). */
  get mechanism(): Mechanism {
    return this.#mechanism;
  }

  /**
   * The bytes of `buffer` that are tracked, in buffer offsets: whole pages only, so for a tracked
   * plain buffer (not page-aligned) less than `byteLength`. A new object per call.
   */
  get tracked(): ByteRange {
    const w = this.#live();
    const end = Math.min(w.end, w.base + w.byteLength);
    return { offset: w.start - w.base, length: Math.max(0, end - w.start) };
  }

  /** The page size: GetWriteWatch's `*lpdwGranularity`. */
  get granularity(): number {
    return this.#page;
  }

  get closed(): boolean {
    return this.#w === null;
  }

  /**
   * Puts the absolute page range a request covers (every page it touches, clipped to what is
   * tracked) into the scanner's bounds, with byte 0 of the buffer as the origin of offsets; false
   * when no page is covered. Written into the scanner's Float64Array rather than returned: addresses
   * above 2^31 would be boxed in new HeapNumbers on every call.
   */
  #bounds(w: Watched, offset: number, length: number, scanner: WrittenScanner): boolean {
    if (length === 0) return false;
    const page = this.#page;
    let s = Math.floor((w.base + offset) / page) * page;
    let e = Math.ceil((w.base + offset + length) / page) * page;
    if (s < w.start) s = w.start;
    if (e > w.end) e = w.end;
    if (s >= e) return false;
    const b = scanner.bounds;
    b[0] = s;
    b[1] = e;
    b[2] = w.base;
    return true;
  }

  /** Throws LostError unless the bounds are still mapped and, before a reset, registered. */
  #assertTracked(b: Float64Array, modifies: boolean): void {
    let p = this.#checked;
    if (p.start !== b[0] || p.end !== b[1]) {
      p = this.#checked = { start: b[0], end: b[1], addr: BigInt(b[0]), len: BigInt(b[1] - b[0]) };
    }
    assertTrackedAt(b, p.addr, p.len, modifies);
  }

  /** get/getInto's resets are undone on failure instead of checked first (see ResetGuard). */
  #guard: ResetGuard | null = null;

  #resetGuard(w: Watched): ResetGuard {
    return (this.#guard ??= {
      check: assertRegisteredAt,
      undo: (b) => w.uffd!.writeProtect(b[3], b[4] - b[3], false), // #scan is write-protect only
    });
  }

  #scan(w: Watched, r: Request, sink: RangeSink | null): void {
    const scanner = selfScanner();
    if (!this.#bounds(w, r.offset, r.length, scanner)) return;
    const k = scanner.count;
    // Into an array, a reset is undone if the walk finds tracking lost: only holes are checked first.
    const guarded = sink === null && scanner.into !== null;
    let checked = false;
    scanner.guard = guarded ? this.#resetGuard(w) : null;
    try {
      this.#assertTracked(scanner.bounds, r.reset && !guarded);
      checked = true;
      scanner.scanBounds(r.reset, r.maxPages, sink);
      // "Nothing written" is also what a number dup2'ed to another process's pagemap answers.
      if ((sink !== null ? sink.out.length === 0 : scanner.count === k) && !pagemapStillOurs()) {
        scanner.guard = null;
        this.#scan(w, r, sink);
      }
    } catch (e) {
      scanner.guard = null;
      // A guarded scan that failed has undone its resets: it changed nothing and may run again.
      this.#retry(e, checked && !guarded, k, w, r, sink);
    } finally {
      scanner.guard = null;
    }
  }

  /**
   * A failed #scan: if our pagemap fd number was closed or now names another file, run the call
   * again on a fresh one when nothing was changed yet — the check that precedes a reset failed, or
   * the scan resets nothing, or it undid its resets (guarded). A reset scan that fails so unguarded
   * may already have re-armed pages (another thread replaced the fd just now): those are lost to
   * us, and the call says so.
   */
  #retry(e: unknown, checked: boolean, k: number, w: Watched, r: Request, sink: RangeSink | null): void {
    if (!pagemapReplaced(e)) throw e;
    if (checked && r.reset) throw new LostError('the /proc/self/pagemap descriptor was replaced during a reset', { cause: e });
    selfScanner().count = k;
    if (sink) sink.out.length = 0;
    this.#scan(w, r, sink);
  }

  /**
   * Byte offsets of the pages written since the last reset, ascending, one per page
   * (GetWriteWatch). With `reset`, the returned pages are reset in the same kernel walk.
   */
  get(opts?: GetOptions): number[] {
    const w = this.#live();
    const r = checkOptions(opts, w.byteLength);
    if (w.compare) return w.compare.get(r);
    // Offsets go to a Float64Array first, then into an array made at its final size: push() per
    // page cost ~40 ns (growing the array), doubling get()'s time over getInto's at 100 % written.
    let cap = Math.ceil(r.length / this.#page) + 1;
    if (r.maxPages > 0 && r.maxPages < cap) cap = r.maxPages;
    if (scratch.length < cap) scratch = new Float64Array(cap);
    const scanner = selfScanner();
    scanner.into = scratch;
    scanner.count = 0;
    let n: number;
    try {
      this.#scan(w, r, null);
      n = scanner.count;
    } finally {
      scanner.into = null;
    }
    const out: number[] = new Array(n);
    // Offsets below 2^31 go in as small integers (Smis): an array of them is filled in about half
    // the time of one of doubles (5.8 against 12 ns a page at 262,144 pages, measured).
    if (n > 0 && scratch[n - 1] < 2147483648) for (let i = 0; i < n; i++) out[i] = scratch[i] | 0;
    else for (let i = 0; i < n; i++) out[i] = scratch[i];
    return out;
  }

  /**
   * As get(), into `out` (its length is the cap unless `maxPages` is smaller); returns the count.
   * Entries past the count are left as they were. Allocates nothing.
   */
  getInto(out: Float64Array, opts?: GetOptions): number {
    const w = this.#live();
    if (!types.isFloat64Array(out)) throw new InvalidArgTypeError('out', 'an instance of Float64Array', out);
    const r = checkOptions(opts, w.byteLength, this.#request);
    if (out.length === 0) return 0;
    if (r.maxPages === 0 || r.maxPages > out.length) r.maxPages = out.length;
    if (w.compare) return w.compare.getInto(out, r);
    // The scanner writes the offsets itself (no call per region).
    const scanner = selfScanner();
    scanner.into = out;
    scanner.count = 0;
    try {
      this.#scan(w, r, null);
      return scanner.count;
    } finally {
      scanner.into = null;
    }
  }

  /** The written pages as `{ offset, length }` runs, adjacent pages coalesced. */
  ranges(opts?: GetOptions): ByteRange[] {
    const w = this.#live();
    const r = checkOptions(opts, w.byteLength);
    if (w.compare) return w.compare.ranges(r);
    const sink = this.#ranges;
    const out: ByteRange[] = [];
    sink.out = out;
    try {
      this.#scan(w, r, sink);
    } finally {
      sink.out = [];
    }
    return out;
  }

  /** ResetWriteWatch over [offset, offset + length) (default: everything), every page it touches. */
  reset(offset?: number, length?: number): void {
    const w = this.#live();
    const r = checkRange(offset, length, w.byteLength);
    if (w.compare) return w.compare.reset(r.offset, r.length);
    const scanner = selfScanner();
    if (!this.#bounds(w, r.offset, r.length, scanner)) return;
    try {
      this.#assertTracked(scanner.bounds, true);
    } catch (e) {
      if (!pagemapReplaced(e)) throw e;
      this.reset(offset, length); // nothing was reset yet: again, on a fresh pagemap fd
      return;
    }
    // PAGEMAP_SCAN WP_MATCHING re-protects only the pages written since the last reset, where
    // UFFDIO_WRITEPROTECT rewrites every PTE of the range (npm run bench, "ResetWriteWatch
    // implementations"). With a vector: the vec_len 0 form oopses kernels before the September 2025
    // fix on a partly covered THP, and tracked JS memory can be THP.
    scanner.scanBounds(true, 0, null);
  }

  /** Stops tracking and releases what the library owns. Idempotent; never throws for a lost registration. */
  close(): void {
    const w = this.#w;
    if (!w) return;
    this.#w = null;
    dropped.unregister(this);
    if (w.uffd) open.delete(w.uffd);
    // Before the fd goes (the check needs it): memory unmapped behind our back and mapped again
    // for someone else is detached from our views but neither unmapped nor covered.
    if (w.mapping && w.claim && !decideOwned(w.claim)) debug('close(): [0x%s, 0x%s) is no longer ours: leaving it mapped', w.start.toString(16), w.end.toString(16));
    if (w.uffd) {
      try {
        w.uffd.close(); // the kernel unregisters every range of this userfaultfd, and only those
      } catch (e) {
        debug('closing userfaultfd failed: %o', e);
      }
    }
    w.compare?.close();
    w.mapping?.release();
    if (w.claim) releaseRange(w.claim.slot);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The state word of a WriteWatch with no claim (track() under 'compare'): always LIVE. */
const UNCLAIMED = new Int32Array([LIVE]);

function superseded(w: Watched): LostError {
  const hex = (n: number) => `0x${n.toString(16)}`;
  return new LostError(
    `tracked memory [${hex(w.start)}, ${hex(w.end)}) is now tracked by another WriteWatch or allocation: ` +
      "this one's was unmapped, mapped over or its userfaultfd closed behind the library's back",
  );
}

/**
 * get()'s offsets before they become an array, shared by every WriteWatch of the thread: grown to
 * the largest answer a call could give, never shrunk (its pages cost memory only once written).
 */
let scratch = new Float64Array(0);
