/**
 * WriteWatch: memory whose written pages can be listed and reset, as Windows' VirtualAlloc with
 * MEM_WRITE_WATCH plus GetWriteWatch/ResetWriteWatch. This is a front: it checks arguments, keeps
 * the object live or closed, follows a growing target and shapes results. How written pages are
 * found is a mechanism's business (mechanisms/contract.ts), and who owns the memory the ownership
 * protocol's (ownership/claim.ts); nothing here knows userfaultfd, pagemap or shadows.
 *
 * Every method reads its arguments first (user code — getters, Proxy traps — runs only then), and
 * only afterwards checks that the object is live, so user code cannot close it, or track its memory
 * again elsewhere, in the middle of a call. After close() every call says so, whatever its arguments.
 */
import { types } from 'node:util';
import * as workerThreads from 'node:worker_threads';
import {
  allocateFailed,
  ClosedError,
  IllegalConstructorError,
  InvalidArgTypeError,
  InvalidThisError,
  InvalidArgValueError,
  LostError,
  UnsupportedError,
  UntrackedError,
} from '../errors.js';
import { newQuery, withMechanism, type ClaimHook, type Mechanism as MechanismImpl, type Memory, type Query, type Tracker } from '../mechanisms/index.js';
import { checkAllocationLength } from '../memory/mapping.js';
import { pageCeil, pageFloor } from '../memory/pages.js';
import { Claim, KIND } from '../ownership/claim.js';
import { getPageSize } from '../sys/platform.js';
import { LIVE, STATE } from '../sys/process/registry.js';
import { checkRequest, newRequest, readOpenOptions, readOptions, readRange, type GetOptions, type Request } from './args.js';
import { typedArrayBuffer, typedArrayLength } from './intrinsics.js';
import type { Mechanism, MechanismOptions } from './mechanism.js';
import { RangeSink, type ByteRange } from './sinks.js';
import { locate, type Located, type TrackOptions, type TrackTarget, type WebAssemblyMemory } from './target.js';

/** allocate()'s options. */
export type AllocateOptions = MechanismOptions;

/** The buffer type `.buffer` has for a target of type T. */
export type BufferOf<T> = T extends SharedArrayBuffer
  ? SharedArrayBuffer
  : T extends ArrayBuffer
    ? ArrayBuffer
    : T extends WebAssemblyMemory
      ? ArrayBuffer | SharedArrayBuffer
      : T extends { readonly buffer: infer B }
        ? B extends ArrayBuffer | SharedArrayBuffer
          ? B
          : ArrayBuffer | SharedArrayBuffer
        : ArrayBuffer | SharedArrayBuffer;

/** Only this module constructs WriteWatches: plain JS could otherwise forge one over any claim. */
const TOKEN: unique symbol = Symbol('WriteWatch');

/** What a live WriteWatch holds. */
interface State {
  tracker: Tracker;
  claim: Claim;
  loc: Located;
}

/**
 * Ends the claim of a WriteWatch dropped without close(): its tracker closes, and memory it
 * allocated is unmapped once its last view is collected (if still ours). Holds the claim, never
 * the WriteWatch; the claim keeps a tracked target reachable until then.
 */
const dropped = new FinalizationRegistry<Claim>((c) => c.drop());

/**
 * A WriteWatch cannot go to another thread (its tracker is this thread's): structured clone must
 * refuse it rather than deliver `{}`. Node 22.10+ says so itself; on older Nodes an own enumerable
 * property holding a Symbol makes the serializer throw the same DataCloneError.
 */
const markAsUncloneable = (workerThreads as { markAsUncloneable?: (o: object) => void }).markAsUncloneable;
const UNCLONEABLE = Symbol('a WriteWatch cannot be cloned or posted to another thread: post its .buffer (a SharedArrayBuffer) or its .address');

function uncloneable(o: object): void {
  if (markAsUncloneable) markAsUncloneable(o);
  else Object.defineProperty(o, 'uncloneable', { value: UNCLONEABLE, enumerable: true });
}

export class WriteWatch<B extends ArrayBuffer | SharedArrayBuffer = ArrayBuffer> {
  #s: State | null;
  readonly #mechanism: Mechanism;
  readonly #page: number;
  readonly #address: bigint;
  /** The length last seen, for `byteLength` after close. */
  #byteLength: number;
  /** The claim's registry word: LIVE until a newcomer (any thread) takes the memory. */
  readonly #words: Int32Array;
  readonly #index: number;
  readonly #query: Query = newQuery();
  readonly #request: Request = newRequest();
  readonly #ranges = new RangeSink();

  /** Not for users: WriteWatch.allocate() and WriteWatch.track() make WriteWatches. */
  private constructor(token: unknown, s?: State, mechanism?: Mechanism) {
    if (token !== TOKEN || s === undefined || mechanism === undefined) throw new IllegalConstructorError();
    this.#s = s;
    this.#mechanism = mechanism;
    this.#page = getPageSize();
    this.#address = BigInt(s.loc.base);
    this.#byteLength = s.loc.byteLength;
    this.#words = s.claim.words;
    this.#index = s.claim.index;
    dropped.register(this, s.claim, this);
    uncloneable(this);
  }

  /**
   * Fresh anonymous memory, rounded up to whole pages and tracked from birth: nothing reads as
   * written until it is written. VirtualAlloc(MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH).
   */
  static allocate(byteLength: number, options?: AllocateOptions): WriteWatch<ArrayBuffer> {
    // Before mmap, so ENOMEM never pre-empts it; the bound is this Node's buffer.constants.MAX_LENGTH.
    const length = checkAllocationLength('byteLength', byteLength, getPageSize());
    const o = readOpenOptions(options, false);
    try {
      return withMechanism(o.mechanism, (m) => WriteWatch.#open(m, undefined, (hook) => m.allocate(length, hook)));
    } catch (e) {
      throw allocateFailed(e, length); // ENOMEM from mmap: says what commits memory and what to use instead
    }
  }

  /**
   * Tracks memory JS already owns: an ArrayBuffer, SharedArrayBuffer, WebAssembly.Memory or a
   * view of one. Every page holding a byte of the target is tracked (see target.ts); offsets are
   * relative to byte 0 of the target's buffer. A WebAssembly.Memory or a resizable / growable
   * buffer stays tracked as it grows. close() stops tracking and never frees the target.
   */
  static track<T extends TrackTarget>(target: T, options?: TrackOptions & MechanismOptions): WriteWatch<BufferOf<T>> {
    const o = readOpenOptions(options, true);
    return withMechanism(o.mechanism, (m) => {
      const why = m.trackUnavailable();
      if (why !== null) throw new UnsupportedError(why);
      // Write-protect arms the whole reservation a growable target can grow into; compare follows it.
      const reserve = m.name === 'write-protect';
      const loc = locate(target, { maxByteLength: o.maxByteLength }, reserve);
      try {
        return WriteWatch.#open(m, target, (hook) => ({ tracker: m.track(loc.start, loc.end, target, hook) }), loc);
      } catch (e) {
        // A partial first or last page another tracker holds (two small buffers sharing a page):
        // track the pages wholly inside; calls covering the bytes left out say so (ERR_WRITEWATCH_UNTRACKED).
        if (!isAlreadyTracked(e)) throw e;
        const inner = locate(target, { maxByteLength: o.maxByteLength }, reserve, true);
        if (inner.start === loc.start && inner.end === loc.end) throw e;
        return WriteWatch.#open(m, target, (hook) => ({ tracker: m.track(inner.start, inner.end, target, hook) }), inner);
      }
    }) as WriteWatch<BufferOf<T>>;
  }

  /**
   * Opens a tracker with `m` under a claim. The mechanism calls the hook once it knows the range;
   * a failure after it ends the claim (nothing of it stays registered).
   */
  static #open(
    m: MechanismImpl,
    target: object | undefined,
    open: (hook: ClaimHook) => { tracker: Tracker; memory?: Memory },
    loc?: Located,
  ): WriteWatch<never> {
    let claim: Claim | null = null;
    const hook: ClaimHook = (start, end, proof, fdSlot) => {
      const kind = KIND.WATCH | (fdSlot !== undefined ? KIND.UFFD : 0) | (proof === 'mapped' ? KIND.MAPPED : 0);
      claim = Claim.take(start, end, { kind, aux: fdSlot, proof, target });
    };
    let opened: { tracker: Tracker; memory?: Memory } | undefined;
    try {
      opened = open(hook);
      const c = claim as Claim | null;
      if (c === null) throw new Error(`the ${m.name} mechanism opened a tracker without claiming its memory`);
      c.tracker = opened.tracker;
      if (opened.memory) c.hold(opened.memory);
      const mem = opened.memory;
      const l: Located = loc ?? {
        buffer: mem!.view(0, mem!.length),
        base: mem!.address,
        byteLength: mem!.length,
        start: mem!.address,
        end: mem!.address + mem!.length,
        clipStart: 0,
        clipEnd: mem!.length,
      };
      return new WriteWatch(TOKEN, { tracker: opened.tracker, claim: c, loc: l }, m.name) as WriteWatch<never>;
    } catch (e) {
      const c = claim as Claim | null;
      if (c !== null) c.close();
      else opened?.tracker.close();
      throw e;
    }
  }

  /** Node's ERR_INVALID_THIS for a method or getter called on something that is not a WriteWatch. */
  static #check(self: unknown): void {
    if (typeof self !== 'object' || self === null || !(#s in self)) throw new InvalidThisError('WriteWatch');
  }

  /** The live state, after the call's user code ran: throws when closed or taken over; follows growth. */
  #live(): State {
    const s = this.#s;
    if (s === null) throw new ClosedError();
    // A plain read: one word, written by other threads with Atomics.compareExchange; nothing else
    // of the registry is read here, so no ordering is needed, and a new call always reloads it.
    if ((this.#words[this.#index] & STATE) !== LIVE) throw superseded(s.loc);
    const l = s.loc;
    if (l.sync !== undefined) {
      const end = l.sync(l);
      if (end > 0) {
        s.tracker.grow(end);
        l.end = end;
      }
      this.#byteLength = l.byteLength;
    }
    return s;
  }

  /** An ArrayBuffer over the tracked memory (for track(), the target's own buffer). */
  get buffer(): B {
    WriteWatch.#check(this);
    return this.#live().loc.buffer as B;
  }

  /** Address of byte 0 of `buffer`. */
  get address(): bigint {
    WriteWatch.#check(this);
    return this.#address;
  }

  /** The current length of `buffer` (a tracked growable target's grows); the last one seen after close. */
  get byteLength(): number {
    WriteWatch.#check(this);
    if (this.#s?.loc.sync !== undefined) return this.#live().loc.byteLength;
    return this.#byteLength;
  }

  /** How written pages are found: 'write-protect' (written pages) or 'compare' (changed pages). */
  get mechanism(): Mechanism {
    WriteWatch.#check(this);
    return this.#mechanism;
  }

  /** The bytes of the target that are tracked, in buffer offsets. A new object per call. */
  get tracked(): ByteRange {
    WriteWatch.#check(this);
    const l = this.#live().loc;
    const lo = Math.max(l.start - l.base, l.clipStart);
    const hi = Math.min(l.end - l.base, l.clipEnd < 0 ? l.byteLength : l.clipEnd);
    return { offset: lo, length: Math.max(0, hi - lo) };
  }

  /** The page size: GetWriteWatch's `*lpdwGranularity`. */
  get granularity(): number {
    WriteWatch.#check(this);
    return this.#page;
  }

  get closed(): boolean {
    WriteWatch.#check(this);
    return this.#s === null;
  }

  /**
   * Checks the (checked) request against the tracked bytes, then puts the pages it
   * covers (every page it touches, clipped to what is tracked) into the query; false when no page
   * is covered. Throws UntrackedError when the range covers bytes of the target that are not tracked.
   */
  #bounds(l: Located, r: Request, q: Query): boolean {
    if (r.length === 0) return false;
    const clipEnd = l.clipEnd < 0 ? l.byteLength : l.clipEnd;
    const lo = Math.max(r.offset, l.clipStart);
    const hi = Math.min(r.offset + r.length, clipEnd);
    if (lo < hi && (l.base + lo < l.start || l.base + hi > l.end)) throw untracked(l, lo, hi, clipEnd);
    const page = this.#page;
    let s = pageFloor(l.base + r.offset, page);
    let e = pageCeil(l.base + r.offset + r.length, page);
    if (s < l.start) s = l.start;
    if (e > l.end) e = l.end;
    if (s >= e) return false;
    const b = q.bounds;
    b[0] = s;
    b[1] = e;
    b[2] = l.base;
    q.reset = r.reset;
    q.maxPages = r.maxPages;
    q.count = 0;
    return true;
  }

  /**
   * Byte offsets of the pages written since the last reset, ascending, one per page
   * (GetWriteWatch). With `reset`, the returned pages are reset in the same walk.
   */
  get(opts?: GetOptions): number[] {
    WriteWatch.#check(this);
    const r = readOptions(opts, this.#request);
    const s = this.#live();
    const q = this.#query;
    if (!this.#bounds(s.loc, checkRequest(r, s.loc.byteLength), q)) return [];
    // Offsets go to a Float64Array first, then into an array made at its final size: push() per
    // page cost ~40 ns (growing the array), doubling get()'s time over getInto's at 100 % written.
    let cap = (q.bounds[1] - q.bounds[0]) / this.#page;
    if (r.maxPages > 0 && r.maxPages < cap) cap = r.maxPages;
    if (scratch.length < cap) scratch = new Float64Array(cap);
    q.into = scratch;
    q.sink = null;
    try {
      s.tracker.scan(q);
    } finally {
      q.into = null;
    }
    const n = q.count;
    if (n > 0 && scratch[0] < s.loc.clipStart) scratch[0] = s.loc.clipStart;
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
    WriteWatch.#check(this);
    const r = readOptions(opts, this.#request);
    const s = this.#live();
    if (!types.isFloat64Array(out)) throw new InvalidArgTypeError('out', 'an instance of Float64Array', out);
    // After the options' user code, through the engine's getter: a subclass's `length` cannot lie.
    const length = typedArrayLength(out);
    checkRequest(r, s.loc.byteLength);
    if (length === 0) {
      if (isDetachedView(out)) throw new InvalidArgValueError('out', out, 'is detached: pass a Float64Array over live memory');
      // Room for no page: as *lpdwCount == 0 is ERROR_INVALID_PARAMETER (0 would read as "nothing written").
      throw new InvalidArgValueError('out', out, 'has no room for a page (length 0): pass a Float64Array of length >= 1');
    }
    if (r.maxPages === 0 || r.maxPages > length) r.maxPages = length;
    const q = this.#query;
    if (!this.#bounds(s.loc, r, q)) return 0;
    q.into = out;
    q.sink = null;
    try {
      s.tracker.scan(q);
    } finally {
      q.into = null;
    }
    const n = q.count;
    if (n > 0 && out[0] < s.loc.clipStart) out[0] = s.loc.clipStart;
    return n;
  }

  /** The written pages as `{ offset, length }` runs, adjacent pages coalesced, clipped to the target. */
  ranges(opts?: GetOptions): ByteRange[] {
    WriteWatch.#check(this);
    const r = readOptions(opts, this.#request);
    const s = this.#live();
    const q = this.#query;
    if (!this.#bounds(s.loc, checkRequest(r, s.loc.byteLength), q)) return [];
    const sink = this.#ranges;
    const out: ByteRange[] = [];
    sink.out = out;
    sink.lo = s.loc.clipStart;
    sink.hi = s.loc.clipEnd < 0 ? s.loc.byteLength : s.loc.clipEnd;
    q.sink = sink;
    try {
      s.tracker.scan(q);
    } finally {
      q.sink = null;
      sink.out = [];
    }
    return out;
  }

  /** ResetWriteWatch over [offset, offset + length) (default: everything), every page it touches. */
  reset(offset?: number, length?: number): void {
    WriteWatch.#check(this);
    const r = readRange(offset, length, this.#request);
    const s = this.#live();
    const q = this.#query;
    if (!this.#bounds(s.loc, checkRequest(r, s.loc.byteLength), q)) return;
    s.tracker.reset(q);
  }

  /** Stops tracking and releases what the library owns. Idempotent; never throws for a lost registration. */
  close(): void {
    WriteWatch.#check(this);
    const s = this.#s;
    if (s === null) return;
    this.#s = null;
    dropped.unregister(this);
    s.claim.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function isAlreadyTracked(e: unknown): boolean {
  return e instanceof InvalidArgValueError && (e as { cause?: { code?: string } }).cause?.code === 'EBUSY';
}

function isDetachedView(v: Float64Array): boolean {
  const b = typedArrayBuffer(v);
  if (types.isSharedArrayBuffer(b)) return false;
  try {
    new Uint8Array(b, 0, 0);
    return false;
  } catch {
    return true;
  }
}

function superseded(l: Located): LostError {
  const hex = (n: number) => `0x${n.toString(16)}`;
  return new LostError(
    `tracked memory [${hex(l.start)}, ${hex(l.end)}) is now tracked by another WriteWatch or allocation: ` +
      "this one's was unmapped, mapped over or its userfaultfd closed behind the library's back",
  );
}

function untracked(l: Located, lo: number, hi: number, clipEnd: number): UntrackedError {
  const tlo = Math.max(l.start - l.base, l.clipStart);
  const thi = Math.min(l.end - l.base, clipEnd);
  return new UntrackedError(
    `bytes [${lo}, ${hi}) of the target include bytes that are not tracked: only [${tlo}, ${thi}) is (ww.tracked), ` +
      'because another tracker held the page the rest shares with it when this one was made. Ask for a range inside ' +
      'ww.tracked, or close the other tracker and track this target again',
  );
}

/**
 * get()'s offsets before they become an array, shared by every WriteWatch of the thread: grown to
 * the largest answer a call could give, never shrunk (its pages cost memory only once written).
 */
let scratch = new Float64Array(0);
