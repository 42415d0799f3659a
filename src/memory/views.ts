/**
 * The ArrayBuffers JS was handed over memory the library maps itself, and the one safe way to free
 * that memory, for every platform. The danger is memory touched after it was freed: from JS that
 * is a fault that kills the process, not an exception; from native code (Node's thread pool filling
 * the buffer for crypto.randomFill, fs.read, zlib) a fault or, worse, a write into whatever is mapped
 * at that address next.
 *
 * So release() detaches every view it handed out (JS stops reaching the memory), and frees at once
 * only if no view object is still reachable. Otherwise the platform drops the contents but keeps the
 * address range (`hold`: a MAP_FIXED placeholder on Linux, decommit and recommit on Windows), which
 * takes any late native write; the range is freed when the last view object is garbage-collected.
 * That is the moment no native operation can still hold the raw pointer: Node keeps the ArrayBuffer
 * (or a view of it) reachable from the request until its callback has run (randomFill's
 * job.ondone, fs.read's req.oncomplete), and a detached buffer is still the same object.
 */
import createDebug from 'debug';
import koffi from 'koffi';
import { detach } from './detach.js';

const debug = createDebug('writewatch:memory');

/** How a platform frees memory it mapped. */
export interface Freeing {
  /** munmap / VirtualFree(MEM_RELEASE). */
  free(address: number, length: number): void;
  /** Drops the contents and keeps the range (zero pages that a late write may land on). */
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
}

const collected = new FinalizationRegistry<{ state: State; ref: WeakRef<ArrayBuffer> }>(({ state, ref }) => {
  state.refs.delete(ref);
  state.live--;
  if (state.live === 0 && state.freeWhenUnreachable) free(state);
});

/** Released memory still held over its range until its views are collected (tests read it). */
let held = 0;

/** How many released mappings or allocations still hold their address range for a view. */
export function heldMemory(): number {
  return held;
}

function free(state: State): void {
  if (state.freed) return;
  state.freed = true;
  if (state.held) {
    state.held = false;
    held--;
  }
  if (state.owned && !state.owned()) {
    debug('0x%s is no longer ours: not freeing it', state.address.toString(16));
    return;
  }
  state.platform.free(state.address, state.length);
}

export class Views {
  readonly #state: State;
  #released = false;

  /** `autoRelease`: free once every view was garbage-collected even without release() (owner dropped). */
  constructor(address: number, length: number, platform: Freeing, autoRelease: boolean) {
    this.#state = { refs: new Set(), live: 0, freeWhenUnreachable: autoRelease, freed: false, held: false, address, length, platform };
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
    let undetached = 0;
    for (const ref of s.refs) {
      const ab = ref.deref();
      // A detached view stays registered: native code may still hold its old pointer.
      if (ab && !detach(ab)) undetached++;
    }
    if (s.live === 0 || (s.owned && !s.owned())) {
      free(s); // not ours any more: free() leaves it alone
      return;
    }
    s.platform.hold(s.address, s.length);
    s.freeWhenUnreachable = true;
    s.held = true;
    held++;
    debug('holding 0x%s until %d views are collected (%d not detachable)', s.address.toString(16), s.live, undetached);
  }
}
