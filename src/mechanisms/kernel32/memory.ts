/**
 * Memory the kernel32 mechanism reserved and committed with VirtualAlloc(MEM_WRITE_WATCH), and the
 * ArrayBuffers JS gets over it (koffi.view: external, no finalizer, so collecting one never frees
 * anything). The danger is the same as on Linux (src/memory/mapping.ts): memory touched after
 * VirtualFree(MEM_RELEASE) is an access violation that kills the process, from JS or from native
 * code (the thread pool filling a buffer for crypto.randomFill or fs.read), or, once the address is
 * reused, a write into someone else's memory.
 *
 * So release() detaches every view it handed out and frees at once only if no view object is still
 * reachable. Otherwise it decommits the range and commits it again (MEM_DECOMMIT then MEM_COMMIT:
 * the pages are fresh, zero, and cost nothing until touched), which drops the contents at once,
 * keeps the address range ours and takes any late native write; the range is released when the last
 * view object is garbage-collected, the moment no native operation can still hold the pointer
 * (Node keeps the buffer reachable from the request until its callback ran).
 */
import createDebug from 'debug';
import koffi from 'koffi';
import { MEM_COMMIT, MEM_DECOMMIT, MEM_RELEASE, PAGE_READWRITE } from '../../sys/kernel32/abi.js';
import { kernel32 } from '../../sys/kernel32/raw.js';
import { detach } from '../../memory/detach.js';
import type { Memory } from '../contract.js';

const debug = createDebug('writewatch:kernel32');

interface Views {
  refs: Set<WeakRef<ArrayBuffer>>;
  live: number;
  /** Release when `live` drops to 0 (set by release() while a view object is still reachable). */
  releaseWhenUnreachable: boolean;
  freed: boolean;
  address: number;
  length: number;
}

const collected = new FinalizationRegistry<{ views: Views; ref: WeakRef<ArrayBuffer> }>(({ views, ref }) => {
  views.refs.delete(ref);
  views.live--;
  if (views.live === 0 && views.releaseWhenUnreachable) free(views);
});

/** Released allocations still held (recommitted) for views that are reachable (tests read it). */
let held = 0;

export function heldAllocations(): number {
  return held;
}

function free(views: Views): void {
  if (views.freed) return;
  views.freed = true;
  if (views.releaseWhenUnreachable) held--;
  // dwSize must be 0 with MEM_RELEASE: the whole allocation goes.
  if (!kernel32().VirtualFree(views.address, 0, MEM_RELEASE)) {
    debug('VirtualFree(MEM_RELEASE) of 0x%s failed: %d', views.address.toString(16), kernel32().GetLastError());
  } else {
    debug('released 0x%s +0x%s', views.address.toString(16), views.length.toString(16));
  }
}

export class Kernel32Memory implements Memory {
  readonly address: number;
  readonly length: number;
  readonly #views: Views;
  #released = false;
  #owned: (() => boolean) | undefined;

  constructor(address: number, length: number) {
    this.address = address;
    this.length = length;
    this.#views = { refs: new Set(), live: 0, releaseWhenUnreachable: false, freed: false, address, length };
  }

  get released(): boolean {
    return this.#released;
  }

  /** An ArrayBuffer over [offset, offset + length); detached by release(). */
  view(offset: number, length: number): ArrayBuffer {
    if (this.#released) throw new Error('memory released');
    if (length === 0) return new ArrayBuffer(0); // koffi.view(p, 0) must never be asked to back nothing
    const ab = koffi.view(BigInt(this.address + offset), length);
    const ref = new WeakRef(ab);
    this.#views.refs.add(ref);
    this.#views.live++;
    collected.register(ab, { views: this.#views, ref }, ref);
    return ab;
  }

  setOwned(owned: () => boolean): void {
    this.#owned = owned;
  }

  /**
   * Detaches every view; frees now if none is reachable, else recommits fresh pages over the range
   * and frees once the last view object is collected. When the ownership check says the allocation
   * may no longer be ours (freed behind our back), nothing is freed or recommitted. Idempotent.
   */
  release(): void {
    if (this.#released) return;
    const owned = this.#owned?.() ?? true;
    this.#released = true;
    const views = this.#views;
    for (const ref of views.refs) {
      const ab = ref.deref();
      // A detached view stays registered: native code may still hold its old pointer.
      if (ab) detach(ab);
    }
    if (!owned) {
      views.freed = true;
      debug('0x%s is no longer ours: not releasing it', this.address.toString(16));
      return;
    }
    if (views.live === 0) {
      free(views);
      return;
    }
    // Stale pointers must neither fault nor reach memory allocated later for someone else.
    const k = kernel32();
    if (!k.VirtualFree(this.address, this.length, MEM_DECOMMIT) || k.VirtualAlloc(BigInt(this.address), this.length, MEM_COMMIT, PAGE_READWRITE) === null) {
      // Without fresh pages the old ones stay committed until then: safe, only dearer.
      debug('recommit of 0x%s failed (%d): keeping the memory', this.address.toString(16), k.GetLastError());
    }
    views.releaseWhenUnreachable = true;
    held++;
    debug('0x%s held until %d views are collected', this.address.toString(16), views.live);
  }
}
