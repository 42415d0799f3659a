/**
 * The ArrayBuffers JS was handed over memory the library maps itself, and the one safe way to free
 * that memory, for every platform. The danger is memory touched after it was freed: from JS that
 * is a fault that kills the process, not an exception; from native code (Node's thread pool filling
 * the buffer for crypto.randomFill, fs.read, zlib) a fault or, worse, a write into whatever is mapped
 * at that address next.
 *
 * So release() detaches every view it handed out (JS stops reaching the memory), and frees at once
 * only if no view object is still reachable. Otherwise the platform drops the contents but keeps the
 * address range (`hold`: a MAP_FIXED placeholder on Linux, MEM_RESET on Windows), which
 * takes any late native write; the range is freed when the last view object is garbage-collected.
 * That is the moment no native operation can still hold the raw pointer: Node keeps the ArrayBuffer
 * (or a view of it) reachable from the request until its callback has run (randomFill's
 * job.ondone, fs.read's req.oncomplete), and a detached buffer is still the same object.
 *
 * Node 22+ adds a way to reach the memory through an ArrayBuffer the library never saw: a
 * full-length `view.transfer()` makes a new buffer over the same memory (V8 reuses an external
 * backing store; measured on 22.23, 24.22, 26.12) and detaches the view. Nothing tells the library
 * when that new buffer dies. So every view handed out is held (strongly) until the memory is
 * released or its owner dropped, and then checked: a view that someone else detached was
 * transferred, and the range stays held (no memory behind it) for the life of the process. After a
 * drop the views are the user's and could be transferred at any time, so on such a runtime a
 * dropped range is also kept held once its views are collected. In a worker that is ending,
 * nothing of its isolate can touch the memory again: released memory is freed outright.
 */
import createDebug from 'debug';
import koffi from 'koffi';
import { atThreadExit } from '../sys/libc/thread-exit.js';
import { byteLengthOf, canTransfer, detach } from './detach.js';

const debug = createDebug('writewatch:memory');

/** How a platform frees memory it mapped. */
export interface Freeing {
  /** munmap / VirtualFree(MEM_RELEASE). */
  free(address: number, length: number): void;
  /** Drops the contents and keeps the range, every page writable without a gap (a late native write may land there). */
  hold(address: number, length: number): void;
}

interface State {
  refs: Set<WeakRef<ArrayBuffer>>;
  live: number;
  /** Free when `live` drops to 0 (set by release() while a view object is reachable, or by `autoRelease`). */
  freeWhenUnreachable: boolean;
  freed: boolean;
  /** Released, and held over its range for views that are still reachable (counted in `held`). */
  held: boolean;
  address: number;
  length: number;
  platform: Freeing;
  /** Asked before freeing (now or after GC): false once the memory may be someone else's. */
  owned?: () => boolean;
  /**
   * Every view handed out, held until release() or orphan(), so that a transfer() is seen. Null
   * where the runtime has no transfer() (Node 20): no view can be moved, nothing needs holding.
   */
  handed: Set<ArrayBuffer> | null;
  /** An ArrayBuffer the library never saw may reach the memory: never free it, keep it held. */
  pin: boolean;
}

const collected = new FinalizationRegistry<{ state: State; ref: WeakRef<ArrayBuffer> }>(({ state, ref }) => {
  state.refs.delete(ref);
  state.live--;
  if (state.live === 0 && state.freeWhenUnreachable) free(state);
});

/** Released memory still held over its range until its views are collected (tests read it). */
let held = 0;
/** Ranges kept held for good: a buffer the library never saw may reach them. */
let pinned = 0;
/** This worker is ending: its isolate runs no more JS and no finalizer, so nothing waits for GC. */
let exiting = false;
/** Released memory waiting for its views to be collected (freed outright if the thread ends first). */
const waiting = new Set<State>();

// At load, before any claim exists (claims end at thread exit in a hook added after this one).
atThreadExit(() => {
  exiting = true;
  for (const s of [...waiting]) free(s);
});

/** How many released mappings or allocations still hold their address range for a view. */
export function heldMemory(): number {
  return held;
}

/** How many ranges are kept held for good because a view of them was (or may be) transferred. */
export function pinnedMemory(): number {
  return pinned;
}

function free(state: State): void {
  if (state.freed) return;
  state.freed = true;
  waiting.delete(state);
  if (state.held) {
    state.held = false;
    held--;
  }
  if (state.owned && !state.owned()) {
    debug('0x%s is no longer ours: not freeing it', state.address.toString(16));
    return;
  }
  if (state.pin && !exiting) {
    // A transferred buffer may still write here: it must land in memory of ours, never fault.
    state.platform.hold(state.address, state.length);
    pinned++;
    debug('0x%s +0x%s kept held for good', state.address.toString(16), state.length.toString(16));
    return;
  }
  state.platform.free(state.address, state.length);
}

/**
 * Ends the strong hold on the views handed out; a view detached by someone else was transferred:
 * its memory lives on in a buffer the library never saw.
 */
function letGo(state: State): void {
  const handed = state.handed;
  state.handed = null;
  if (handed === null) return;
  for (const ab of handed) {
    if (byteLengthOf(ab) === 0) {
      state.pin = true;
      debug('a view of 0x%s was transferred away: keeping the range for good', state.address.toString(16));
    }
  }
}

export class Views {
  readonly #state: State;
  #released = false;

  /** `autoRelease`: free once every view was garbage-collected even without release() (owner dropped). */
  constructor(address: number, length: number, platform: Freeing, autoRelease: boolean) {
    this.#state = {
      refs: new Set(),
      live: 0,
      freeWhenUnreachable: autoRelease,
      freed: false,
      held: false,
      address,
      length,
      platform,
      handed: canTransfer ? new Set() : null,
      pin: false,
    };
  }

  get released(): boolean {
    return this.#released;
  }

  setOwned(owned: (() => boolean) | undefined): void {
    this.#state.owned = owned;
  }

  /** An ArrayBuffer over [offset, offset + length); detached by release(). */
  view(offset: number, length: number): ArrayBuffer {
    if (this.#released) throw new Error('memory released');
    if (length === 0) return new ArrayBuffer(0); // koffi.view must never see an empty range it cannot back
    const s = this.#state;
    const ab = koffi.view(BigInt(s.address + offset), length);
    const ref = new WeakRef(ab);
    s.refs.add(ref);
    s.handed?.add(ab);
    s.live++;
    collected.register(ab, { state: s, ref }, ref);
    return ab;
  }

  /**
   * Detaches every view handed out; frees now if none is reachable any more (or the memory is no
   * longer ours: then nothing is freed nor held), else holds the range and frees it once the last
   * view object is collected. Idempotent.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    const s = this.#state;
    letGo(s); // before detaching: a view already detached now was transferred by someone else
    let undetached = 0;
    for (const ref of s.refs) {
      const ab = ref.deref();
      // A detached view stays registered: native code may still hold its old pointer.
      if (ab && !detach(ab)) undetached++;
    }
    if (s.live === 0 || exiting || (s.owned && !s.owned())) {
      free(s); // not ours any more: free() leaves it alone
      return;
    }
    s.platform.hold(s.address, s.length);
    s.freeWhenUnreachable = true;
    s.held = true;
    held++;
    waiting.add(s);
    debug('holding 0x%s until %d views are collected (%d not detachable)', s.address.toString(16), s.live, undetached);
  }

  /**
   * The owner was garbage-collected without release(): its views are the user's now. Ends the
   * hold on them (checking for transfers), and on a runtime where they can still be transferred
   * keeps the range held once they are collected rather than freeing it.
   */
  orphan(): void {
    if (this.#released) return;
    const s = this.#state;
    letGo(s);
    if (canTransfer) s.pin = true;
    if (s.live === 0 && s.freeWhenUnreachable) free(s);
  }
}
