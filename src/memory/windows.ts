/**
 * Memory the library allocates itself on Windows (VirtualAlloc: kernel32's write-watched
 * allocations, compare's), and the ArrayBuffers JS gets over it, freed safely by views.ts:
 * VirtualFree(MEM_RELEASE) when no view is reachable, else decommit and recommit (fresh zero pages
 * that cost nothing until touched), which drops the contents at once, keeps the range ours and
 * takes any late native write, until the last view object is collected. Also the VirtualQuery
 * questions the layers above ask: is a range still allocated, which runs of it can be read.
 */
import createDebug from 'debug';
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
import { heldMemory, Views, type Freeing } from './views.js';
import type { Memory } from './memory.js';

const debug = createDebug('writewatch:kernel32');

/** Windows' way of freeing (views.ts): VirtualFree, or decommit and recommit (fresh zero pages) while a view may still reach it. */
const windows: Freeing = {
  free(address, length) {
    // dwSize must be 0 with MEM_RELEASE: the whole allocation goes.
    if (!kernel32().VirtualFree(address, 0, MEM_RELEASE)) debug('VirtualFree(MEM_RELEASE) of 0x%s failed: %d', address.toString(16), kernel32().GetLastError());
    else debug('released 0x%s +0x%s', address.toString(16), length.toString(16));
  },
  hold(address, length) {
    const k = kernel32();
    // Without fresh pages the old ones stay committed until then: safe, only dearer.
    if (!k.VirtualFree(address, length, MEM_DECOMMIT) || k.VirtualAlloc(BigInt(address), length, MEM_COMMIT, PAGE_READWRITE) === null) {
      debug('recommit of 0x%s failed (%d): keeping the memory', address.toString(16), k.GetLastError());
    }
  },
};

/** Released allocations still held (recommitted) for views that are reachable (tests read it). */
export const heldAllocations = heldMemory;

export class Kernel32Memory implements Memory {
  readonly address: number;
  readonly length: number;
  readonly #views: Views;

  /**
   * Over [address, address + length), allocated by the caller with VirtualAlloc. `autoRelease`:
   * freed once every view was garbage-collected even without release() (its owner dropped).
   */
  constructor(address: number, length: number, autoRelease = true) {
    this.address = address;
    this.length = length;
    this.#views = new Views(address, length, windows, autoRelease);
  }

  /** Committed read-write memory, like mmap(MAP_ANONYMOUS): zeros, physical pages on first touch. Throws ENOMEM. */
  static anonymous(length: number): Kernel32Memory {
    const p = kernel32().VirtualAlloc(null, length, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (p === null) throw new SystemCallError('VirtualAlloc', 12 /* ENOMEM */, `${length} bytes: ${win32ErrorName(kernel32().GetLastError())}`);
    return new Kernel32Memory(Number(p), length);
  }

  get released(): boolean {
    return this.#views.released;
  }

  setOwned(owned: () => boolean): void {
    this.#views.setOwned(owned);
  }

  /** An ArrayBuffer over [offset, offset + length); detached by release(). */
  view(offset: number, length: number): ArrayBuffer {
    return this.#views.view(offset, length);
  }

  /**
   * Detaches every view; frees now if none is reachable, else recommits fresh pages over the range
   * and frees once the last view object is collected; nothing at all when the ownership check says
   * the allocation may no longer be ours (freed behind our back). Idempotent.
   */
  release(): void {
    this.#views.release();
  }

  /** The owner was collected without release(): see Views.orphan(). */
  orphan(): void {
    this.#views.orphan();
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
