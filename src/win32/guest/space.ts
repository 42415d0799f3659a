/**
 * A guest's address space as a Space (space.ts): VirtualAlloc bookkeeping inside a
 * WebAssembly.Memory, ArrayBuffer or SharedArrayBuffer, where guest address `base + i` is byte i
 * of the memory. Allocations are placed 64 KiB-aligned inside the memory, reserved and committed
 * in this table only (the memory itself cannot be protected from JS: protections are recorded and
 * reported, never enforced), zero-filled when reserved and when decommitted. MEM_WRITE_WATCH
 * allocations are watched by one WriteWatch tracking the whole memory (opened with the first of
 * them), so a guest GetWriteWatch costs what WriteWatch.getInto costs.
 */
import { getPageSize } from '../../sys/libc/libc.js';
import { WriteWatch, type WebAssemblyMemory } from '../../writewatch/index.js';
import { isWasmMemory, memoryBuffer } from '../../writewatch/intrinsics.js';
import type { Query } from '../../mechanisms/contract.js';
import { ALLOCATION_GRANULARITY, MEM_FREE, PAGE_NOACCESS, STATUS_CONFLICTING_ADDRESSES, STATUS_NO_MEMORY, STATUS_NOT_SUPPORTED } from '../constants.js';
import type { Outside, Region, Space, Watch } from '../space.js';

export type GuestMemory = WebAssemblyMemory | ArrayBuffer | SharedArrayBuffer;

class GuestRegion implements Region {
  readonly base: number;
  readonly size: number;
  readonly end: number;
  readonly watched: boolean;
  readonly allocationProtect: number;
  readonly pages: Uint16Array;
  flagged = 0;
  constructor(base: number, size: number, watched: boolean, protect: number, page: number) {
    this.base = base;
    this.size = size;
    this.end = base + size;
    this.watched = watched;
    this.allocationProtect = protect;
    this.pages = new Uint16Array(size / page);
  }
}

export class GuestSpace implements Space {
  readonly pageSize = getPageSize();
  readonly minAddress: number;
  readonly processors = 1;
  readonly #memory: GuestMemory;
  readonly #base: number;
  /** Sorted by base; never overlapping. */
  readonly #regions: GuestRegion[] = [];
  #ww: WriteWatch<ArrayBufferLike> | null = null;
  readonly #watch: Watch;

  constructor(memory: GuestMemory, base: number) {
    this.#memory = memory;
    this.#base = base;
    this.minAddress = base;
    const self = this;
    this.#watch = {
      scan: (q) => self.#scan(q),
      reset: (q) => self.#ww!.reset(q.bounds[0] - self.#base, q.bounds[1] - q.bounds[0]),
      rearm: (q) => self.#ww!.reset(q.bounds[0] - self.#base, q.bounds[1] - q.bounds[0]),
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
    return body();
  }

  find(start: number, end: number): Region | undefined {
    const list = this.#regions;
    let lo = 0;
    let hi = list.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid].base <= start) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    const a = list[found];
    return start < a.end && end <= a.end ? a : undefined;
  }

  outside(address: number): Outside {
    let end = this.maxAddress + 1;
    for (const r of this.#regions) if (r.base > address) {
      end = r.base;
      break;
    }
    return { start: address, end, state: MEM_FREE, protect: PAGE_NOACCESS, type: 0, allocationBase: 0, allocationProtect: 0 };
  }

  reserve(at: number | undefined, length: number, watched: boolean, protect: number, _commit: boolean): Region | number {
    const limit = this.maxAddress + 1;
    let start: number;
    if (at !== undefined) {
      if (at < this.minAddress || at + length > limit || this.#overlaps(at, at + length)) return STATUS_CONFLICTING_ADDRESSES;
      start = at;
    } else {
      const G = ALLOCATION_GRANULARITY;
      start = Math.ceil(this.minAddress / G) * G;
      for (const r of this.#regions) {
        if (start + length <= r.base) break;
        if (r.end > start) start = Math.ceil(r.end / G) * G;
      }
      if (start + length > limit) return STATUS_NO_MEMORY;
    }
    if (watched) {
      const status = this.#watchFrom();
      if (status) return status;
    }
    // Fresh pages read as zeros, as Windows gives them; a watched allocation then starts clean.
    new Uint8Array(this.buffer, start - this.#base, length).fill(0);
    if (watched) this.#ww!.reset(start - this.#base, length);
    const r = new GuestRegion(start, length, watched, protect, this.pageSize);
    const list = this.#regions;
    let i = list.length;
    while (i > 0 && list[i - 1].base > start) i--;
    list.splice(i, 0, r);
    return r;
  }

  apply(): number {
    return 0; // recorded by the rules in the region's pages; JS memory has no protections
  }

  decommit(r: Region, start: number, end: number): number {
    new Uint8Array(this.buffer, start - this.#base, end - start).fill(0);
    if (r.watched) this.#ww!.reset(start - this.#base, end - start);
    return 0;
  }

  release(r: Region): void {
    const i = this.#regions.indexOf(r as GuestRegion);
    if (i >= 0) this.#regions.splice(i, 1);
  }

  watch(): Watch {
    return this.#watch;
  }

  /** Stops watching (the WriteWatch closes); the memory is the caller's and stays as it is. */
  close(): void {
    this.#ww?.close();
    this.#ww = null;
    this.#regions.length = 0;
  }

  #overlaps(start: number, end: number): boolean {
    return this.#regions.some((r) => r.base < end && start < r.end);
  }

  /**
   * Opens the WriteWatch over the whole memory with the first watched allocation. A memory whose
   * first byte is not page-aligned cannot be watched page for page (a host page would straddle two
   * guest pages): STATUS_NOT_SUPPORTED, as Windows answers where write watch is unavailable.
   */
  #watchFrom(): number {
    if (this.#ww) return 0;
    const ww = WriteWatch.track(this.#memory as ArrayBuffer);
    if (Number(ww.address) % this.pageSize !== 0) {
      ww.close();
      return STATUS_NOT_SUPPORTED;
    }
    this.#ww = ww;
    return 0;
  }

  #scan(q: Query): void {
    const into = q.into!;
    const out = q.count === 0 ? into : into.subarray(q.count);
    const n = this.#ww!.getInto(out, {
      offset: q.bounds[0] - this.#base,
      length: q.bounds[1] - q.bounds[0],
      maxPages: q.maxPages > 0 ? q.maxPages : undefined,
      reset: q.reset,
    });
    for (let i = 0; i < n; i++) out[i] += this.#base;
    q.count += n;
  }
}
