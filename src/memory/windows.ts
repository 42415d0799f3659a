/**
 * Memory the library allocates itself on Windows (VirtualAlloc: kernel32's write-watched
 * allocations, compare's), and the ArrayBuffers JS gets over it, freed safely by views.ts:
 * VirtualFree(MEM_RELEASE) when no view is reachable, else MEM_RESET (the contents are no longer of
 * interest; the pages stay committed and take any late native write) until the last view object is
 * collected. Also the VirtualQuery questions the layers above ask: is a range still allocated,
 * which runs of it can be read.
 */
import createDebug from 'debug';
import { SystemCallError } from '../errors.js';
import {
  MEMORY_BASIC_INFORMATION,
  MEMORY_BASIC_INFORMATION_SIZE,
  MEM_COMMIT,
  MEM_FREE,
  MEM_RELEASE,
  MEM_RESERVE,
  MEM_RESET,
  PAGE_NOACCESS,
  PAGE_READWRITE,
  win32ErrorName,
} from '../sys/kernel32/abi.js';
import { kernel32 } from '../sys/kernel32/raw.js';
import { heldMemory, Views, type Freeing } from './views.js';
import type { Memory } from './memory.js';

const debug = createDebug('writewatch:kernel32');

/** Windows' way of freeing (views.ts): VirtualFree, or MEM_RESET while a view may still reach it. */
const windows: Freeing = {
  free(address, length) {
    // dwSize must be 0 with MEM_RELEASE: the whole allocation goes.
    if (!kernel32().VirtualFree(address, 0, MEM_RELEASE)) debug('VirtualFree(MEM_RELEASE) of 0x%s failed: %d', address.toString(16), kernel32().GetLastError());
    else debug('released 0x%s +0x%s', address.toString(16), length.toString(16));
  },
  hold(address, length) {
    discardContents(address, address + length);
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
   * Detaches every view; frees now if none is reachable, else discards the contents (MEM_RESET)
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

/** What VirtualQuery says of one region (the fields the library reads). */
export interface Region {
  /** Where the region starts (may be below the address asked about) and ends. */
  base: number;
  end: number;
  state: number;
  protect: number;
  allocationBase: number;
}
const region: Region = { base: 0, end: 0, state: 0, protect: 0, allocationBase: 0 };

/**
 * VirtualQuery(address), decoded into one shared object rewritten by the next call; null when it
 * fails (an address past user space).
 */
export function queryRegion(address: number): Readonly<Region> | null {
  if (kernel32().VirtualQuery(address, mbi, MEMORY_BASIC_INFORMATION_SIZE) === 0) return null;
  region.base = Number(mbi.getBigUint64(MEMORY_BASIC_INFORMATION.BaseAddress, true));
  region.end = region.base + Number(mbi.getBigUint64(MEMORY_BASIC_INFORMATION.RegionSize, true));
  region.state = mbi.getUint32(MEMORY_BASIC_INFORMATION.State, true);
  region.protect = mbi.getUint32(MEMORY_BASIC_INFORMATION.Protect, true);
  region.allocationBase = Number(mbi.getBigUint64(MEMORY_BASIC_INFORMATION.AllocationBase, true));
  return region;
}

/**
 * Calls `visit` with each VirtualQuery region overlapping [start, end), in order (queryRegion's
 * shared object); stops early when `visit` returns false or VirtualQuery fails, then returns false.
 */
function eachRegion(start: number, end: number, visit: (r: Readonly<Region>) => boolean): boolean {
  for (let a = start; a < end; ) {
    const r = queryRegion(a);
    if (r === null || !visit(r)) return false;
    a = r.end;
  }
  return true;
}

/**
 * Whether every page of [start, end) is allocated — reserved or committed, not free (VirtualQuery
 * region by region): what msync answers on Linux ("mapped", PROT_NONE included) before anything
 * acts on memory that may be gone. `allocationBase`: also require every page committed and in the
 * allocation made there (the ownership check of memory the library allocated: one freed behind its
 * back and allocated again elsewhere has another base, or none).
 */
export function committed(start: number, end: number, allocationBase?: number): boolean {
  if (allocationBase === undefined) return eachRegion(start, end, (r) => r.state !== MEM_FREE);
  return eachRegion(start, end, (r) => r.state === MEM_COMMIT && r.allocationBase === allocationBase);
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
  eachRegion(start, end, (r) => {
    if (r.state !== MEM_COMMIT || !readable(r.protect)) return true;
    const s = Math.max(r.base, start);
    const e = Math.min(r.end, end);
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
    return true;
  });
  return n;
}

/**
 * MEM_RESET over every committed run of [start, end): the contents are no longer of interest
 * (Windows may drop them or keep them; Wine's madvise(MADV_DONTNEED) drops them: zeros), while the
 * pages stay committed with their protection. What holding a released allocation for a reachable
 * view does (views.ts, win32/kernel32/regions.ts), because native code may still be writing there:
 * Node's thread pool filling the buffer for crypto.randomFill. Decommitting and committing again
 * (what this did before) leaves a window between the two calls in which such a write is an access
 * violation that kills the process: CI under Wine hit it, randomFill racing MEM_RELEASE, and the
 * old code died in every run of test/21.kernel32.mechanism's writer thread. If MEM_RESET fails, the contents
 * stay: safe, only dearer. Keeps the thread's last error.
 */
export function discardContents(start: number, end: number): void {
  const k = kernel32();
  const saved = k.GetLastError();
  eachRegion(start, end, (r) => {
    if (r.state !== MEM_COMMIT) return true;
    const s = Math.max(r.base, start);
    const e = Math.min(r.end, end);
    // flProtect is ignored with MEM_RESET but must be valid (VirtualAlloc's documentation).
    if (k.VirtualAlloc(BigInt(s), e - s, MEM_RESET, PAGE_NOACCESS) === null) debug('MEM_RESET of 0x%s +0x%s failed (%d): keeping the contents', s.toString(16), (e - s).toString(16), k.GetLastError());
    return true;
  });
  k.SetLastError(saved);
}
