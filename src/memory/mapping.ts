/**
 * Anonymous memory the library maps itself, and the ArrayBuffers JS gets over it. The danger is
 * memory touched after munmap: from JS that is a SIGSEGV, not an exception; from native code
 * (Node's thread pool filling the buffer for crypto.randomFill, fs.read, zlib) it is a SIGSEGV or,
 * worse, a write into whatever is mapped at that address next.
 *
 * So release() detaches every view it handed out (JS stops reaching the memory), and unmaps at
 * once only if no view object is still reachable. Otherwise it maps a fresh zero-filled
 * MAP_NORESERVE placeholder over the range in one step (MAP_FIXED: the address is never free in
 * between), which frees the memory's pages at once, keeps the address range ours, and takes any
 * late native write; it is unmapped when the last view object is garbage-collected. That is the
 * moment no native operation can still hold the raw pointer: Node keeps the ArrayBuffer (or a
 * view of it) reachable from the request until its callback has run (randomFill's job.ondone,
 * fs.read's req.oncomplete), and a detached buffer is still the same object.
 *
 * Node 22+ adds a way to reach the memory through an ArrayBuffer the library never saw: a
 * full-length `view.transfer()` makes a new buffer over the same memory (V8 reuses an external
 * backing store; measured on 22.23, 24.22, 26.12) and detaches the view. Nothing tells the library
 * when that new buffer dies. So every view handed out is held (strongly) until the mapping is
 * released or its owner dropped, and then checked: a view that someone else detached was
 * transferred, and the range stays mapped (a placeholder, no memory) for the life of the process.
 * After a drop the views are the user's and could be transferred at any time, so on such a
 * runtime a dropped mapping also keeps its range as a placeholder once its views are collected.
 * In a worker that is ending, nothing of its isolate can touch the memory again: released
 * mappings are unmapped outright.
 */
import createDebug from 'debug';
import koffi from 'koffi';
import { constants } from 'node:buffer';
import { MAP_ANONYMOUS, MAP_FAILED, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_NORESERVE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../sys/libc/abi.js';
import { InvalidArgTypeError, OutOfRangeError, SystemCallError } from '../errors.js';
import { check, lastError } from '../sys/libc/errno.js';
import { libc } from '../sys/libc/libc.js';
import { atThreadExit } from '../sys/libc/thread-exit.js';
import { byteLengthOf, canTransfer, detach } from './detach.js';

/**
 * The largest ArrayBuffer this Node makes (buffer.constants.MAX_LENGTH): 2^32 on Node 20, 2^53 - 1
 * on 22, 24 and 26. Past it koffi.view aborts the process (FATAL ERROR in N-API), so no view and
 * no WriteWatch.allocate may be larger.
 */
export const MAX_VIEW_LENGTH = constants.MAX_LENGTH;
const MAX_LENGTH = MAX_VIEW_LENGTH;

/** How MAX_VIEW_LENGTH reads in a message: the value, its name and this Node's version. */
export function maxViewLengthText(): string {
  const v = MAX_LENGTH === 2 ** 32 ? '2 ** 32' : MAX_LENGTH === Number.MAX_SAFE_INTEGER ? '2 ** 53 - 1' : String(MAX_LENGTH);
  return `<= ${v} (buffer.constants.MAX_LENGTH, the largest ArrayBuffer on Node ${process.versions.node})`;
}

/**
 * allocate's byteLength: a positive integer whose page-rounded length fits one ArrayBuffer.
 * Returns that rounded length. Checked before anything is mapped, so the answer never depends on
 * how much memory the machine has (an mmap first would be ENOMEM on a small machine), and the
 * message names this Node's bound (2 ** 32 on Node 20, 2 ** 53 - 1 on 22+).
 */
export function checkAllocationLength(name: string, value: unknown, page: number): number {
  if (typeof value !== 'number') throw new InvalidArgTypeError(name, 'of type number', value);
  const length = Math.ceil(value / page) * page;
  if (!Number.isSafeInteger(value) || value < 1 || length > MAX_LENGTH) {
    throw new OutOfRangeError(name, `an integer >= 1 and ${maxViewLengthText()} once rounded up to whole pages`, value);
  }
  return length;
}

const debug = createDebug('writewatch:memory');

interface Views {
  refs: Set<WeakRef<ArrayBuffer>>;
  live: number;
  /** Unmap when `live` drops to 0 (set by release() while a view object is reachable, or by `autoRelease`). */
  unmapWhenUnreachable: boolean;
  unmapped: boolean;
  /** Released, and kept over its range for views that are still reachable (counted in `held`). */
  held: boolean;
  address: bigint;
  length: number;
  /** Asked before unmapping (now or after GC): false once the memory may be someone else's. */
  owned?: () => boolean;
  /**
   * Every view handed out, held until release() or orphan(), so that a transfer() is seen. Null
   * where the runtime has no transfer() (Node 20): no view can be moved, nothing needs holding.
   */
  handed: Set<ArrayBuffer> | null;
  /** An ArrayBuffer the library never saw may reach the memory: never unmap, keep a placeholder. */
  pin: boolean;
}

const collected = new FinalizationRegistry<{ views: Views; ref: WeakRef<ArrayBuffer> }>(({ views, ref }) => {
  views.refs.delete(ref);
  views.live--;
  if (views.live === 0 && views.unmapWhenUnreachable) unmap(views);
});

/** Released mappings still held over their range until their views are collected (tests read it). */
let held = 0;
/** Ranges kept as placeholders for good: a buffer the library never saw may reach them. */
let pinned = 0;
/** This worker is ending: its isolate runs no more JS and no finalizer, so nothing waits for GC. */
let exiting = false;
/** Released mappings waiting for their views to be collected (to unmap them if the thread ends first). */
const waiting = new Set<Views>();

// Registered before any claim can be taken (claims register theirs on first use): runs first.
atThreadExit(() => {
  exiting = true;
  for (const views of [...waiting]) unmap(views);
});

/** How many released mappings still hold their address range (placeholder or memory) for a view. */
export function heldMappings(): number {
  return held;
}

/** How many ranges are kept as placeholders for good because a view of them was (or may be) transferred. */
export function pinnedMappings(): number {
  return pinned;
}

/**
 * Ends the strong hold on the views handed out; a view detached by someone else was transferred:
 * its memory lives on in a buffer the library never saw.
 */
function letGo(views: Views): void {
  const handed = views.handed;
  views.handed = null;
  if (handed === null) return;
  for (const ab of handed) {
    if (byteLengthOf(ab) === 0) {
      views.pin = true;
      debug('a view of 0x%s was transferred away: keeping the range for good', views.address.toString(16));
    }
  }
}

/** Maps the zero-filled placeholder over the range (MAP_FIXED: never free in between); false when mmap refused. */
function placeholder(views: Views): boolean {
  const p = libc().mmap(views.address, views.length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  // Without a placeholder (ENOMEM: vm.max_map_count) the memory itself stays: safe, only dearer.
  if (p === MAP_FAILED) {
    debug('placeholder failed (%s): keeping the memory mapped', lastError('mmap').code);
    return false;
  }
  return true;
}

function unmap(views: Views): void {
  if (views.unmapped) return;
  views.unmapped = true;
  waiting.delete(views);
  if (views.held) {
    views.held = false;
    held--;
  }
  if (views.owned && !views.owned()) {
    debug('0x%s is no longer ours: not unmapping it', views.address.toString(16));
    return;
  }
  if (views.pin && !exiting) {
    // A transferred buffer may still write here: it must land in memory of ours, never fault.
    placeholder(views);
    pinned++;
    debug('0x%s +0x%s kept as a placeholder for good', views.address.toString(16), views.length.toString(16));
    return;
  }
  if (libc().munmap(views.address, views.length) < 0) debug('munmap failed: %s', lastError('munmap').code);
  else debug('unmapped 0x%s +0x%s', views.address.toString(16), views.length.toString(16));
}

export interface MapOptions {
  prot?: number;
  /** Do not reserve swap for the range (reserved-only memory, placeholders). */
  noReserve?: boolean;
  /** Unmap once every view was garbage-collected even without release() (owner dropped without close). */
  autoRelease?: boolean;
  /** Map exactly here (page-aligned) or fail with EEXIST if anything is mapped there (MAP_FIXED_NOREPLACE). */
  at?: bigint;
  /**
   * Asked before every unmap and placeholder: false when the memory may have been unmapped behind
   * our back and mapped again for someone else, who must not lose it (issue 9, case 1).
   */
  owned?: () => boolean;
}

export class Mapping {
  readonly address: number;
  readonly length: number;
  readonly #views: Views;
  #released = false;

  private constructor(address: bigint, length: number, autoRelease: boolean) {
    this.address = Number(address);
    this.length = length;
    this.#views = { refs: new Set(), live: 0, unmapWhenUnreachable: autoRelease, unmapped: false, held: false, address, length, handed: canTransfer ? new Set() : null, pin: false };
  }

  /** mmap(NULL, length, prot, MAP_PRIVATE | MAP_ANONYMOUS). Throws ENOMEM & co. as system errors. */
  static anonymous(length: number, options: MapOptions = {}): Mapping {
    const flags =
      MAP_PRIVATE | MAP_ANONYMOUS | (options.noReserve ? MAP_NORESERVE : 0) | (options.at !== undefined ? MAP_FIXED_NOREPLACE : 0);
    const p = libc().mmap(options.at ?? null, length, options.prot ?? PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p === MAP_FAILED || p === null) throw lastError('mmap', `${length} bytes`);
    if (options.at !== undefined && p !== options.at) {
      // Kernels before 4.17 ignore MAP_FIXED_NOREPLACE and treat the address as a hint.
      libc().munmap(p, length);
      throw new SystemCallError('mmap', 17 /* EEXIST */, `0x${options.at.toString(16)} is occupied`);
    }
    debug('mapped 0x%s +0x%s', p.toString(16), length.toString(16));
    const m = new Mapping(p, length, options.autoRelease ?? false);
    m.#views.owned = options.owned;
    return m;
  }

  /** Sets (or replaces) the ownership check of MapOptions.owned after mapping. */
  setOwned(owned: () => boolean): void {
    this.#views.owned = owned;
  }

  get released(): boolean {
    return this.#released;
  }

  /** An ArrayBuffer over [offset, offset + length) of the mapping; detached by release(). */
  view(offset = 0, length = this.length - offset): ArrayBuffer {
    if (this.#released) throw new Error('mapping released');
    if (length === 0) return new ArrayBuffer(0); // koffi.view must never see an empty range it cannot back
    if (length > MAX_LENGTH) throw new OutOfRangeError('length', maxViewLengthText(), length);
    const ab = koffi.view(BigInt(this.address + offset), length);
    const ref = new WeakRef(ab);
    this.#views.refs.add(ref);
    this.#views.handed?.add(ab);
    this.#views.live++;
    collected.register(ab, { views: this.#views, ref }, ref);
    return ab;
  }

  /**
   * Detaches every view handed out; unmaps now if none is reachable any more, else maps the
   * placeholder and unmaps once the last view object is collected. Idempotent.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    const views = this.#views;
    letGo(views); // before detaching: a view already detached now was transferred by someone else
    let undetached = 0;
    for (const ref of views.refs) {
      const ab = ref.deref();
      // A detached view stays registered: native code may still hold its old pointer.
      if (ab && !detach(ab)) undetached++;
    }
    if (views.live === 0 || exiting || (views.owned && !views.owned())) {
      unmap(views); // not ours any more: no placeholder either, unmap() leaves it alone
      return;
    }
    // Stale pointers must neither fault nor reach memory mapped later for someone else.
    placeholder(views);
    views.unmapWhenUnreachable = true;
    views.held = true;
    held++;
    waiting.add(views);
    debug('placeholder over 0x%s until %d views are collected (%d not detachable)', views.address.toString(16), views.live, undetached);
  }

  /**
   * The owner was garbage-collected without release(): its views are the user's now. Ends the
   * hold on them (checking for transfers), and on a runtime where they can still be transferred
   * keeps the range as a placeholder once they are collected rather than unmapping it.
   */
  orphan(): void {
    if (this.#released) return;
    const views = this.#views;
    letGo(views);
    if (canTransfer) views.pin = true;
    if (views.live === 0 && views.unmapWhenUnreachable) unmap(views);
  }

  /** mprotect a page-aligned sub-range. */
  protect(offset: number, length: number, prot: number): void {
    check(libc().mprotect(BigInt(this.address + offset), length, prot), 'mprotect');
  }

  /** madvise a page-aligned sub-range. */
  advise(offset: number, length: number, advice: number): void {
    check(libc().madvise(BigInt(this.address + offset), length, advice), 'madvise');
  }
}
