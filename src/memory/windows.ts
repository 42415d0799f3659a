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
import { SystemCallError } from '../errors.js';
import {
  MEMORY_BASIC_INFORMATION,
  MEMORY_BASIC_INFORMATION_SIZE,
  MEM_COMMIT,
  MEM_DECOMMIT,
  MEM_FREE,
  MEM_RELEASE,
  MEM_RESERVE,
  PAGE_READWRITE,
  win32ErrorName,
} from '../sys/kernel32/abi.js';
import { kernel32 } from '../sys/kernel32/raw.js';
import { detach } from './detach.js';
import type { Memory } from './memory.js';

const debug = createDebug('writewatch:kernel32');

interface Views {
  refs: Set<WeakRef<ArrayBuffer>>;
  live: number;
  /** Release when `live` drops to 0 (set by release() while a view object is reachable, or by `autoRelease`). */
  releaseWhenUnreachable: boolean;
  /** Released, and held (recommitted) for views that are still reachable (counted in `held`). */
  held: boolean;
  freed: boolean;
  owned?: () => boolean;
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
  if (views.held) {
    views.held = false;
    held--;
  }
  if (views.owned && !views.owned()) {
    debug('0x%s is no longer ours: not releasing it', views.address.toString(16));
    return;
  }
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

  /**
   * Over [address, address + length), allocated by the caller with VirtualAlloc. `autoRelease`:
   * freed once every view was garbage-collected even without release() (its owner dropped).
   */
  constructor(address: number, length: number, autoRelease = true) {
    this.address = address;
    this.length = length;
    this.#views = { refs: new Set(), live: 0, releaseWhenUnreachable: autoRelease, held: false, freed: false, address, length };
  }

  /** Committed read-write memory, like mmap(MAP_ANONYMOUS): zeros, physical pages on first touch. Throws ENOMEM. */
  static anonymous(length: number): Kernel32Memory {
    const p = kernel32().VirtualAlloc(null, length, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (p === null) throw new SystemCallError('VirtualAlloc', 12 /* ENOMEM */, `${length} bytes: ${win32ErrorName(kernel32().GetLastError())}`);
    return new Kernel32Memory(Number(p), length);
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
    this.#views.owned = owned;
  }

  /**
   * Detaches every view; frees now if none is reachable, else recommits fresh pages over the range
   * and frees once the last view object is collected. When the ownership check says the allocation
   * may no longer be ours (freed behind our back), nothing is freed or recommitted. Idempotent.
   */
  release(): void {
    if (this.#released) return;
    const owned = this.#views.owned?.() ?? true;
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
    views.held = true;
    held++;
    debug('0x%s held until %d views are collected', this.address.toString(16), views.live);
  }
}

const mbi = new DataView(new ArrayBuffer(MEMORY_BASIC_INFORMATION_SIZE));

/**
 * Whether every page of [start, end) is allocated — reserved or committed, not free (VirtualQuery
 * region by region): what msync answers on Linux ("mapped", PROT_NONE included) before anything
 * acts on memory that may be gone. `allocationBase`: also require every page committed and in the
 * allocation made there (the ownership check of memory the library allocated: one freed behind its
 * back and allocated again elsewhere has another base, or none).
 */
export function committed(start: number, end: number, allocationBase?: number): boolean {
  const k = kernel32();
  for (let a = start; a < end; ) {
    if (k.VirtualQuery(a, mbi, MEMORY_BASIC_INFORMATION_SIZE) === 0) return false;
    const state = mbi.getUint32(MEMORY_BASIC_INFORMATION.State, true);
    if (state === MEM_FREE || (allocationBase !== undefined && state !== MEM_COMMIT)) return false;
    if (allocationBase !== undefined && Number(mbi.getBigUint64(MEMORY_BASIC_INFORMATION.AllocationBase, true)) !== allocationBase) return false;
    a = Number(mbi.getBigUint64(MEMORY_BASIC_INFORMATION.BaseAddress, true)) + Number(mbi.getBigUint64(MEMORY_BASIC_INFORMATION.RegionSize, true));
  }
  return true;
}

/** A page protection a read does not fault on: readable, not PAGE_NOACCESS, not PAGE_GUARD. */
function readable(protect: number): boolean {
  const READABLE = 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80; // READONLY, READWRITE, WRITECOPY, EXECUTE_READ/READWRITE/WRITECOPY
  return (protect & READABLE) !== 0 && (protect & 0x100) === 0; // PAGE_GUARD
}

/**
 * The committed, readable runs of [start, end) as [start, end) pairs appended to `out.out` from index `n`,
 * shifted by -shift; returns the new count: on Windows, what may hold anything but zeros (reserved
 * pages, and committed ones V8 keeps PAGE_NOACCESS until a buffer grows into them, read as nothing,
 * and reading them faults).
 */
export function committedRuns(start: number, end: number, shift: number, out: { out: Float64Array }, n: number): number {
  const k = kernel32();
  for (let a = start; a < end; ) {
    if (k.VirtualQuery(a, mbi, MEMORY_BASIC_INFORMATION_SIZE) === 0) break;
    const base = Number(mbi.getBigUint64(MEMORY_BASIC_INFORMATION.BaseAddress, true));
    const next = base + Number(mbi.getBigUint64(MEMORY_BASIC_INFORMATION.RegionSize, true));
    if (mbi.getUint32(MEMORY_BASIC_INFORMATION.State, true) === MEM_COMMIT && readable(mbi.getUint32(MEMORY_BASIC_INFORMATION.Protect, true))) {
      const s = Math.max(a, start);
      const e = Math.min(next, end);
      if (n + 2 > out.out.length) {
        const b = new Float64Array(Math.max(n + 2, out.out.length * 2));
        b.set(out.out);
        out.out = b;
      }
      if (n > 0 && out.out[n - 1] === s - shift) out.out[n - 1] = e - shift;
      else {
        out.out[n++] = s - shift;
        out.out[n++] = e - shift;
      }
    }
    a = next;
  }
  return n;
}
