/**
 * A guest's address space as a Space (space.ts): VirtualAlloc bookkeeping inside a
 * WebAssembly.Memory, ArrayBuffer or SharedArrayBuffer, where guest address `base + i` is byte i
 * of the memory. Allocations are placed 64 KiB-aligned inside the memory, reserved and committed
 * in the space's table only (the memory itself cannot be protected from JS: protections are
 * recorded and reported, never enforced), zero-filled when reserved and when decommitted.
 *
 * The table is native memory (table.ts), so that every thread's AddressSpace over one shared
 * memory sees the same allocations. MEM_WRITE_WATCH allocations are watched by one WriteWatch
 * tracking the whole memory, opened by the first thread that needs it; every thread then reads the
 * written pages through a Tracker over that registration's userfaultfd (a dup the table keeps, so
 * the WriteWatch's thread may close or end), as process allocations do: a guest GetWriteWatch is
 * the same kernel scan a WriteWatch.getInto is.
 */
import koffi from 'koffi';
import { types } from 'node:util';
import { LostError } from '../../errors.js';
import type { Query, Tracker } from '../../mechanisms/contract.js';
import { addressOf, getPageSize } from '../../sys/platform.js';
import { KIND, liveWatches, rangeState, recordedFd } from '../../sys/process/registry.js';
import { WriteWatch, type WebAssemblyMemory } from '../../writewatch/index.js';
import { isGrowable, isWasmMemory, maxByteLengthOf, memoryBuffer } from '../../writewatch/intrinsics.js';
import { ALLOCATION_GRANULARITY, MEM_FREE, PAGE_NOACCESS, STATUS_CONFLICTING_ADDRESSES, STATUS_NO_MEMORY, STATUS_NOT_SUPPORTED } from '../constants.js';
import { adoptTracker, shareTracker, unshareTracker } from '../../mechanisms/index.js';
import { getTable, lock, unlock } from '../process/table.js';
import type { Outside, Region, Space, Watch } from '../space.js';
import { attach, detachTable, FREE, H, LIVE, R, REGIONS, regionIndex, type GuestTable } from './table.js';

export type GuestMemory = WebAssemblyMemory | ArrayBuffer | SharedArrayBuffer;

/** wasm32's reach: 65536 pages of 64 KiB. */
const WASM32_REACH = 2 ** 32;

const koffiView = (a: number, n: number) => koffi.view(BigInt(a), n) as ArrayBuffer;

/** This thread's object for one region slot, valid while the slot's generation is `gen`. */
class GuestRegion implements Region {
  readonly k: number;
  readonly gen: number;
  readonly offset: number;
  readonly base: number;
  readonly size: number;
  readonly end: number;
  readonly watched: boolean;
  readonly allocationProtect: number;
  readonly pages: Uint16Array;
  readonly #t: GuestTable;
  readonly #i: number;

  constructor(t: GuestTable, k: number, spaceBase: number, page: number) {
    const i = regionIndex(k);
    this.#t = t;
    this.#i = i;
    this.k = k;
    this.gen = t.i32[i + R.GEN];
    this.offset = t.f64[(i >> 1) + R.OFFSET];
    this.size = t.f64[(i >> 1) + R.SIZE];
    this.base = spaceBase + this.offset;
    this.end = this.base + this.size;
    this.watched = t.i32[i + R.WATCHED] !== 0;
    this.allocationProtect = t.i32[i + R.ALLOC_PROTECT];
    this.pages = t.pages.subarray(this.offset / page, (this.offset + this.size) / page);
  }

  get current(): boolean {
    return Atomics.load(this.#t.i32, this.#i + R.STATE) === LIVE && this.#t.i32[this.#i + R.GEN] === this.gen;
  }

  get flagged(): number {
    return this.#t.i32[this.#i + R.FLAGGED];
  }

  set flagged(n: number) {
    this.#t.i32[this.#i + R.FLAGGED] = n;
  }
}

export class GuestSpace implements Space {
  readonly pageSize = getPageSize();
  readonly minAddress: number;
  readonly processors = 1;
  readonly #memory: GuestMemory;
  readonly #base: number;
  /** The address of the memory's byte 0. */
  readonly #key: number;
  readonly #t: GuestTable;
  readonly #mine = new Map<number, GuestRegion>();
  /** The WriteWatch this thread opened over the memory, if it was the first to watch it. */
  #ww: WriteWatch<ArrayBufferLike> | null = null;
  #tracker: Tracker | null = null;
  #trackerFd = -1;
  readonly #watch: Watch;

  constructor(memory: GuestMemory, base: number) {
    this.#memory = memory;
    this.#base = base;
    this.minAddress = base;
    const buffer = this.buffer;
    const shared = types.isSharedArrayBuffer(buffer);
    this.#key = Number(addressOf(buffer));
    const reach = isWasmMemory(memory) ? WASM32_REACH : isGrowable(buffer, shared) ? maxByteLengthOf(buffer, shared) : buffer.byteLength;
    const pt = getTable();
    lock(pt);
    try {
      this.#t = attach(this.#key, Math.max(reach, buffer.byteLength), this.pageSize, shared, koffiView);
    } finally {
      unlock(pt);
    }
    const origin = this.#key - base; // a host page at address a is guest address a - origin
    const host = (q: Query, f: (t: Tracker) => void) => {
      const b = q.bounds;
      const g0 = b[0];
      const g1 = b[1];
      const g2 = b[2];
      b[0] = g0 + origin;
      b[1] = g1 + origin;
      b[2] = origin;
      try {
        f(this.#adopted());
      } finally {
        b[0] = g0;
        b[1] = g1;
        b[2] = g2;
      }
    };
    this.#watch = {
      scan: (q) => host(q, (t) => t.scan(q)),
      reset: (q) => host(q, (t) => t.reset(q)),
      rearm: (q) => host(q, (t) => t.rearm(q)),
    };
  }

  /** The memory's current buffer (a WebAssembly.Memory's changes when it grows). */
  get buffer(): ArrayBufferLike {
    const m = this.#memory;
    return isWasmMemory(m) ? memoryBuffer(m) : (m as ArrayBufferLike);
  }

  /** The last guest address: the memory's end (it follows growth). */
  get maxAddress(): number {
    return this.#base + this.buffer.byteLength - 1;
  }

  locked<T>(body: () => T): T {
    const pt = getTable();
    lock(pt);
    try {
      return body();
    } finally {
      unlock(pt);
    }
  }

  #region(k: number): GuestRegion {
    let r = this.#mine.get(k);
    if (!r || !r.current) {
      r = new GuestRegion(this.#t, k, this.#base, this.pageSize);
      this.#mine.set(k, r);
    }
    return r;
  }

  /** Calls `fn` with each live region slot's index, guest start and end. */
  #each(fn: (k: number, start: number, end: number) => boolean | void): void {
    const t = this.#t;
    for (let k = 0, high = Atomics.load(t.i32, H.HIGH); k < high; k++) {
      const i = regionIndex(k);
      if (Atomics.load(t.i32, i + R.STATE) !== LIVE) continue;
      const start = this.#base + t.f64[(i >> 1) + R.OFFSET];
      if (fn(k, start, start + t.f64[(i >> 1) + R.SIZE]) === true) return;
    }
  }

  find(start: number, end: number): Region | undefined {
    let found: Region | undefined;
    this.#each((k, s, e) => {
      if (!(s <= start && start < e)) return false;
      if (end <= e) found = this.#region(k);
      return true;
    });
    return found;
  }

  outside(address: number): Outside {
    let end = this.maxAddress + 1;
    this.#each((_k, s) => {
      if (s > address && s < end) end = s;
    });
    return { start: address, end, state: MEM_FREE, protect: PAGE_NOACCESS, type: 0, allocationBase: 0, allocationProtect: 0 };
  }

  reserve(at: number | undefined, length: number, watched: boolean, protect: number, _commit: boolean): Region | number {
    const limit = this.maxAddress + 1;
    const taken: [number, number][] = [];
    this.#each((_k, s, e) => void taken.push([s, e]));
    taken.sort((x, y) => x[0] - y[0]);
    let start: number;
    if (at !== undefined) {
      if (at < this.minAddress || at + length > limit || taken.some(([s, e]) => s < at + length && at < e)) return STATUS_CONFLICTING_ADDRESSES;
      start = at;
    } else {
      const G = ALLOCATION_GRANULARITY;
      start = Math.ceil(this.minAddress / G) * G;
      for (const [s, e] of taken) {
        if (start + length <= s) break;
        if (e > start) start = Math.ceil(e / G) * G;
      }
      if (start + length > limit) return STATUS_NO_MEMORY;
    }
    if (watched) {
      const status = this.#watchFrom();
      if (status) return status;
    }
    const t = this.#t;
    let k = -1;
    for (let j = 0, high = Atomics.load(t.i32, H.HIGH); j < high; j++) {
      if (Atomics.load(t.i32, regionIndex(j) + R.STATE) === FREE) {
        k = j;
        break;
      }
    }
    if (k < 0) {
      if (Atomics.load(t.i32, H.HIGH) >= REGIONS) return STATUS_NO_MEMORY;
      k = Atomics.add(t.i32, H.HIGH, 1);
    }
    const offset = start - this.#base;
    // Fresh pages read as zeros, as Windows gives them; a watched allocation then starts clean.
    new Uint8Array(this.buffer, offset, length).fill(0);
    t.pages.fill(0, offset / this.pageSize, (offset + length) / this.pageSize);
    const i = regionIndex(k);
    t.i32[i + R.GEN]++;
    t.f64[(i >> 1) + R.OFFSET] = offset;
    t.f64[(i >> 1) + R.SIZE] = length;
    t.i32[i + R.WATCHED] = watched ? 1 : 0;
    t.i32[i + R.ALLOC_PROTECT] = protect;
    t.i32[i + R.FLAGGED] = 0;
    Atomics.store(t.i32, i + R.STATE, LIVE);
    const r = this.#region(k);
    if (watched) this.#rearm(start, start + length);
    return r;
  }

  apply(): number {
    return 0; // recorded by the rules in the region's pages; JS memory has no protections
  }

  decommit(r: Region, start: number, end: number): number {
    new Uint8Array(this.buffer, start - this.#base, end - start).fill(0);
    if (r.watched) this.#rearm(start, end);
    return 0;
  }

  release(r: Region): void {
    const g = r as GuestRegion;
    if (!g.current) return;
    Atomics.store(this.#t.i32, regionIndex(g.k) + R.STATE, FREE);
    this.#mine.delete(g.k);
  }

  watch(): Watch {
    return this.#watch;
  }

  /** Stops watching and lets go of the table (the last space over it frees it); the memory stays the caller's. */
  close(): void {
    this.locked(() => {
      this.#ww?.close();
      this.#ww = null;
      const uffd = this.#t.i32[H.UFFD];
      if (detachTable(this.#t) && uffd >= 0) unshareTracker(uffd);
      this.#mine.clear();
    });
  }

  #rearm(start: number, end: number): void {
    const q = { bounds: new Float64Array([start, end, 0, 0, 0]) } as Query;
    try {
      this.#watch.rearm(q);
    } catch (e) {
      if (!(e instanceof LostError)) throw e; // GetWriteWatch answers 87 from now on
    }
  }

  /** This thread's Tracker over the memory's registration (the table's userfaultfd dup). */
  #adopted(): Tracker {
    const fd = this.#t.i32[H.UFFD];
    if (this.#tracker === null || this.#trackerFd !== fd) {
      this.#tracker = adoptTracker(fd, this.#t.f64[H.REG_START], this.#t.f64[H.REG_END]);
      this.#trackerFd = fd;
    }
    return this.#tracker;
  }

  /**
   * With the first watched allocation of the memory, in any thread: one WriteWatch over all of it,
   * whose registration the table then holds by a dup of its userfaultfd. A memory whose first byte
   * is not page-aligned cannot be watched page for page (a host page would straddle two guest
   * pages): STATUS_NOT_SUPPORTED, as Windows answers where write watch is unavailable.
   */
  #watchFrom(): number {
    const t = this.#t;
    if (t.i32[H.UFFD] >= 0) return 0;
    if (this.#key % this.pageSize !== 0) return STATUS_NOT_SUPPORTED;
    const ww = WriteWatch.track(this.#memory as ArrayBuffer);
    const reg = liveWatches(this.#key, this.#key + 1).find((o) => o.kind & KIND.UFFD);
    const fd = reg ? recordedFd(registryAux(reg.slot)) : -1;
    if (!reg || fd < 0) {
      ww.close();
      return STATUS_NOT_SUPPORTED;
    }
    t.i32[H.UFFD] = shareTracker(registryAux(reg.slot));
    t.f64[H.REG_START] = reg.start;
    t.f64[H.REG_END] = reg.end;
    this.#ww = ww;
    return 0;
  }
}

/**
 * The registry's aux word (word 7) of a range slot: for a KIND.UFFD watch, the descriptor-table slot
 * of its userfaultfd (registry.ts documents the layout; liveWatches() does not return it yet).
 */
function registryAux(slot: number): number {
  const { words, index } = rangeState(slot);
  return words[index + 7];
}
