/**
 * The process's own memory as a Space (space.ts) on Linux: VirtualAlloc is mmap, protections are
 * mprotect, a MEM_WRITE_WATCH allocation is registered with the write-protect mechanism (through the
 * contract) and watched by a Tracker, and the allocation table is the process's (table.ts), so every
 * thread sees every allocation. Reservations are 64 KiB-aligned: mapped over a window one
 * granularity larger, then trimmed (never a moment with the range unmapped, so no other thread's
 * mmap can take it in between).
 *
 * Per thread: a JS object per record (its per-page array is a view of native memory in the
 * record), checked against the record's generation at every find, and its Tracker adopted from the
 * record's userfaultfd (adopt.ts).
 */
import { availableParallelism } from 'node:os';
import createDebug from 'debug';
import { SystemCallError, UnsupportedError, isResourceError } from '../../errors.js';
import { MADV_DONTNEED, MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_FAILED, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_NORESERVE, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE } from '../../sys/libc/abi.js';
import { lastError } from '../../sys/libc/errno.js';
import { libc } from '../../sys/libc/libc.js';
import { getPageSize } from '../../sys/platform.js';
import { readMaps } from '../../sys/proc/maps.js';
import { rangeState, recordedFd, releaseRange } from '../../sys/process/registry.js';
import koffi from 'koffi';
import { LostError } from '../../errors.js';
import { mechanismNamed, newQuery, type Tracker } from '../../mechanisms/index.js';
import { Claim, KIND } from '../../ownership/claim.js';
import {
  ALLOCATION_GRANULARITY,
  MEM_COMMIT,
  MEM_FREE,
  MEM_MAPPED,
  MEM_PRIVATE,
  PAGE_EXECUTE_READ,
  PAGE_EXECUTE_READWRITE,
  PAGE_NOACCESS,
  PAGE_READONLY,
  PAGE_READWRITE,
  PAGE_EXECUTE,
  STATUS_CONFLICTING_ADDRESSES,
  STATUS_NO_MEMORY,
  STATUS_NOT_SUPPORTED,
} from '../constants.js';
import { unixProt } from '../protection.js';
import type { Outside, Region, Space, Watch } from '../space.js';
import { adoptTracker, shareTracker, unshareTracker } from '../../mechanisms/index.js';
import { F, FREE, HELD, LIVE, WATCHED, getTable, highWater, lock, recordIndex, setState, takeRecord, unlock, type Table } from './table.js';
import { POISONED, forgetViews } from './views.js';

const debug = createDebug('writewatch:win32');

/** This thread's object for one record, valid while the record's generation is `gen`. */
class SharedRegion implements Region {
  readonly k: number;
  readonly gen: number;
  readonly base: number;
  readonly size: number;
  readonly end: number;
  readonly watched: boolean;
  readonly allocationProtect: number;
  readonly pages: Uint16Array;
  readonly #t: Table;
  readonly #i: number;
  readonly #claimWords: Int32Array;
  readonly #claimIndex: number;
  readonly #claimWord: number;
  #tracker: Tracker | null = null;

  constructor(t: Table, k: number) {
    const i = recordIndex(k);
    this.#t = t;
    this.#i = i;
    this.k = k;
    this.gen = t.i32[i + F.GEN];
    this.base = t.f64[(i >> 1) + F.BASE];
    this.size = t.f64[(i >> 1) + F.SIZE];
    this.end = this.base + this.size;
    this.watched = (t.i32[i + F.FLAGS] & WATCHED) !== 0;
    this.allocationProtect = t.i32[i + F.ALLOC_PROTECT];
    const n = this.size / getPageSize();
    this.pages = new Uint16Array(koffi.view(BigInt(t.f64[(i >> 1) + F.PAGES]), n * 2));
    const { words, index } = rangeState(t.i32[i + F.CLAIM_SLOT]);
    this.#claimWords = words;
    this.#claimIndex = index;
    this.#claimWord = t.i32[i + F.CLAIM_WORD];
  }

  /** Still this record's incarnation, and live. */
  get current(): boolean {
    const i32 = this.#t.i32;
    return Atomics.load(i32, this.#i + F.STATE) === LIVE && i32[this.#i + F.GEN] === this.gen;
  }

  /** Its memory was unmapped behind our back and taken by a newcomer of this library (its claim turned LOST). */
  get lost(): boolean {
    return Atomics.load(this.#claimWords, this.#claimIndex) !== this.#claimWord;
  }

  get flagged(): number {
    return this.#t.i32[this.#i + F.FLAGGED];
  }

  set flagged(n: number) {
    this.#t.i32[this.#i + F.FLAGGED] = n;
  }

  get uffd(): number {
    return this.#t.i32[this.#i + F.UFFD];
  }

  tracker(): Tracker {
    return (this.#tracker ??= adoptTracker(this.uffd, this.base, this.end));
  }
}

const mine = new Map<number, SharedRegion>();
let last: SharedRegion | undefined;

const decommitQuery = newQuery();

function regionOf(t: Table, k: number): SharedRegion {
  let r = mine.get(k);
  if (!r || !r.current) {
    r = new SharedRegion(t, k);
    mine.set(k, r);
  }
  return r;
}

function mapFailed(p: bigint): boolean {
  return p === MAP_FAILED || p === null;
}

/** The highest user address plus one: the top of the stack's mapping rounded up to a power of two. */
function userTop(): number {
  let top = 0;
  try {
    for (const m of readMaps('self')) if (Number.isFinite(m.end) && m.end > top) top = m.end;
  } catch {
    return process.arch === 'x64' ? 2 ** 47 : 2 ** 48; // no procfs: the usual 4-level layouts
  }
  let p = 2 ** 39;
  while (p < top) p *= 2;
  return p;
}

function protectionOf(perms: string): number {
  const r = perms[0] === 'r';
  const w = perms[1] === 'w';
  const x = perms[2] === 'x';
  if (x) return w ? PAGE_EXECUTE_READWRITE : r ? PAGE_EXECUTE_READ : PAGE_EXECUTE;
  return w ? PAGE_READWRITE : r ? PAGE_READONLY : PAGE_NOACCESS;
}

class ProcessSpace implements Space {
  readonly pageSize = getPageSize();
  readonly minAddress = ALLOCATION_GRANULARITY;
  readonly maxAddress = userTop() - ALLOCATION_GRANULARITY - 1;
  readonly processors = availableParallelism();
  readonly #t = getTable();

  locked<T>(body: () => T): T {
    lock(this.#t);
    try {
      return body();
    } finally {
      unlock(this.#t);
    }
  }

  find(start: number, end: number): Region | undefined {
    const l = last;
    if (l && l.base <= start && start < l.end && end <= l.end && l.current && !l.lost) return l;
    const t = this.#t;
    const high = highWater(t);
    for (let k = 0; k < high; k++) {
      const i = recordIndex(k);
      if (Atomics.load(t.i32, i + F.STATE) !== LIVE) continue;
      const base = t.f64[(i >> 1) + F.BASE];
      const e = base + t.f64[(i >> 1) + F.SIZE];
      if (!(base <= start && start < e)) continue;
      if (end > e) return undefined;
      const r = regionOf(t, k);
      if (r.lost) {
        // Unmapped behind our back and someone else's now: every call answers as for memory
        // VirtualAlloc never gave (87); the record goes without unmapping anything.
        debug('0x%s was superseded: forgetting it', base.toString(16));
        this.#drop(r, false);
        return undefined;
      }
      return (last = r);
    }
    return undefined;
  }

  outside(address: number): Outside {
    let next = this.maxAddress + 1;
    let maps: ReturnType<typeof readMaps> = [];
    try {
      maps = readMaps('self');
    } catch {
      /* no procfs: only the allocations are known; the rest reads as free */
    }
    for (const m of maps) {
      if (!Number.isFinite(m.start)) continue;
      if (m.start <= address && address < m.end) {
        const p = protectionOf(m.perms);
        return { start: m.start, end: m.end, state: MEM_COMMIT, protect: p, type: m.inode ? MEM_MAPPED : MEM_PRIVATE, allocationBase: m.start, allocationProtect: p };
      }
      if (m.start > address && m.start < next) next = m.start;
    }
    return { start: address, end: next, state: MEM_FREE, protect: PAGE_NOACCESS, type: 0, allocationBase: 0, allocationProtect: 0 };
  }

  reserve(at: number | undefined, length: number, watched: boolean, protect: number, commit: boolean): Region | number {
    const c = libc();
    const prot = commit ? unixProt(protect) : PROT_NONE;
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | (commit ? 0 : MAP_NORESERVE);
    let start: number;
    if (at !== undefined) {
      const p = c.mmap(BigInt(at), length, prot, flags | MAP_FIXED_NOREPLACE, -1, 0);
      if (mapFailed(p)) {
        debug('mmap at 0x%s failed: %s', at.toString(16), lastError('mmap').code);
        return STATUS_CONFLICTING_ADDRESSES;
      }
      if (Number(p) !== at) {
        c.munmap(p, length); // a kernel before 4.17 took the address as a hint
        return STATUS_CONFLICTING_ADDRESSES;
      }
      start = at;
    } else {
      const G = ALLOCATION_GRANULARITY;
      const w = c.mmap(null, length + G, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (mapFailed(w)) return STATUS_NO_MEMORY;
      const win = Number(w);
      start = Math.ceil(win / G) * G;
      // Replaces part of our own window in one step: the range is never free for another thread's mmap.
      const p = c.mmap(BigInt(start), length, prot, flags | MAP_FIXED, -1, 0);
      if (mapFailed(p)) {
        c.munmap(w, length + G);
        return STATUS_NO_MEMORY;
      }
      if (start > win) c.munmap(w, start - win);
      if (win + length + G > start + length) c.munmap(BigInt(start + length), win + G - start);
    }
    const end = start + length;
    // mmap placed new memory here: a record overlapping it was unmapped behind our back.
    this.#forgetOverlapping(start, end);
    let claim: Claim | null = null;
    let uffd = -1;
    let pages = 0n;
    let k = -1;
    const t = this.#t;
    try {
      if (watched) {
        // A written transparent huge page would be reported 512 pages at a time.
        if (c.madvise(BigInt(start), length, MADV_NOHUGEPAGE) < 0) throw lastError('madvise');
        const tracker = mechanismNamed('write-protect').track(start, end, { address: start, length }, (s, e, _proof, fdSlot) => {
          // mmap just placed this memory: the claim is this front's to take, whatever the mechanism proves.
          claim = Claim.take(s, e, { kind: KIND.WATCH | KIND.UFFD | KIND.MAPPED | KIND.PROCESS, proof: 'mapped' });
          uffd = shareTracker(fdSlot ?? -1);
        });
        // The dup holds the registration (one file, two descriptors): the mechanism's own descriptor,
        // recorded as this thread's, may go now, and with it any tie of the allocation to this thread.
        tracker.close();
      } else {
        claim = Claim.take(start, end, { kind: KIND.MAPPED | KIND.PROCESS, proof: 'mapped' });
      }
      const bytes = Math.ceil(((length / this.pageSize) * 2) / this.pageSize) * this.pageSize;
      pages = c.mmap(null, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (mapFailed(pages)) {
        pages = 0n;
        throw lastError('mmap', 'page table');
      }
      k = takeRecord(t);
      if (k < 0) throw new SystemCallError('writewatch win32 table', 12 /* ENOMEM */, 'too many live allocations');
    } catch (e) {
      (claim as Claim | null)?.close();
      if (uffd >= 0) unshareTracker(uffd);
      if (pages) c.munmap(pages, Math.ceil(((length / this.pageSize) * 2) / this.pageSize) * this.pageSize);
      c.munmap(BigInt(start), length); // ours: mapped a moment ago
      if (!(e instanceof UnsupportedError || e instanceof SystemCallError)) throw e;
      // Out of fds or memory is Windows' "not enough resources" (8), never 50: Wine's tests and the
      // .NET GC read 50 as "write watch unsupported" and never ask again.
      if (isResourceError(e)) return STATUS_NO_MEMORY;
      debug('MEM_WRITE_WATCH unsupported: %s', (e as Error).message);
      return STATUS_NOT_SUPPORTED;
    }
    const cl = claim as unknown as Claim;
    const i = recordIndex(k);
    t.f64[(i >> 1) + F.BASE] = start;
    t.f64[(i >> 1) + F.SIZE] = length;
    t.i32[i + F.FLAGS] = watched ? WATCHED : 0;
    t.i32[i + F.ALLOC_PROTECT] = protect;
    t.i32[i + F.UFFD] = uffd;
    t.i32[i + F.CLAIM_SLOT] = cl.slot;
    t.i32[i + F.CLAIM_WORD] = Atomics.load(cl.words, cl.index);
    t.i32[i + F.FLAGGED] = 0;
    t.f64[(i >> 1) + F.PAGES] = Number(pages);
    t.i32[i + F.VIEWS] = 0;
    setState(t, k, LIVE);
    return regionOf(t, k);
  }

  apply(_r: Region, start: number, end: number, protect: number): number {
    if (libc().mprotect(BigInt(start), end - start, unixProt(protect)) === 0) return 0;
    const e = lastError('mprotect');
    // ENOMEM: the process hit vm.max_map_count (every protection boundary splits a mapping), which
    // Windows answers as exhausted resources (8).
    if (e.code === 'ENOMEM') {
      debug('mprotect 0x%s: %s', start.toString(16), e.message);
      return STATUS_NO_MEMORY;
    }
    throw e;
  }

  decommit(r: Region, start: number, end: number): number {
    const status = this.apply(r, start, end, PAGE_NOACCESS);
    if (status) return status;
    libc().madvise(BigInt(start), end - start, MADV_DONTNEED);
    // MADV_DONTNEED zaps the PTEs, and a zapped entry reads as written until armed again: re-arm
    // after the zap, so decommitted pages read clean and recommitting does not dirty them.
    if (r.watched) {
      const q = decommitQuery;
      q.bounds[0] = start;
      q.bounds[1] = end;
      q.bounds[2] = 0;
      try {
        (r as SharedRegion).tracker().rearm(q);
      } catch (e) {
        if (!(e instanceof LostError)) throw e;
        debug('decommit 0x%s: %s', start.toString(16), e.message);
      }
    }
    return 0;
  }

  release(r: Region): void {
    this.#drop(r as SharedRegion, true);
  }

  watch(r: Region): Watch {
    return (r as SharedRegion).tracker();
  }

  /** The LIVE region holding [start, start + size) for viewMemory, or undefined. */
  viewable(start: number, end: number): SharedRegion | undefined {
    return this.find(start, end) as SharedRegion | undefined;
  }

  /**
   * Ends a record: closes its userfaultfd (the kernel drops the registration), frees its claim and
   * per-page array, and, when `owned`, its memory: unmapped at once if no view of it may be
   * reachable in any thread, else covered by a placeholder (zeros, MAP_NORESERVE) held until the
   * last view is collected (views.ts), so that a stale view neither faults nor reaches memory
   * mapped there later.
   */
  #drop(r: SharedRegion, owned: boolean): void {
    const t = this.#t;
    const i = recordIndex(r.k);
    const c = libc();
    if (last === r) last = undefined;
    mine.delete(r.k);
    const poisoned = forgetViews(r.k, r.gen);
    if (poisoned) t.i32[i + F.FLAGS] |= POISONED;
    if (r.watched && r.uffd >= 0) unshareTracker(r.uffd);
    releaseRange(t.i32[i + F.CLAIM_SLOT]);
    c.munmap(BigInt(t.f64[(i >> 1) + F.PAGES]), Math.ceil((r.pages.length * 2) / this.pageSize) * this.pageSize);
    if (!owned) {
      setState(t, r.k, FREE);
      return;
    }
    if (Atomics.load(t.i32, i + F.VIEWS) === 0 && !(t.i32[i + F.FLAGS] & POISONED)) {
      c.munmap(BigInt(r.base), r.size);
      setState(t, r.k, FREE);
      return;
    }
    const p = c.mmap(BigInt(r.base), r.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    // Without a placeholder (ENOMEM: vm.max_map_count) the memory itself stays until then: safe, only dearer.
    if (mapFailed(p)) debug('placeholder failed (%s): keeping the memory mapped', lastError('mmap').code);
    setState(t, r.k, HELD);
    debug('0x%s held for %d views', r.base.toString(16), Atomics.load(t.i32, i + F.VIEWS));
  }

  /** Records overlapping fresh memory were unmapped behind our back: forget them, unmapping nothing. */
  #forgetOverlapping(start: number, end: number): void {
    const t = this.#t;
    const high = highWater(t);
    for (let k = 0; k < high; k++) {
      const i = recordIndex(k);
      const state = Atomics.load(t.i32, i + F.STATE);
      if (state !== LIVE && state !== HELD) continue;
      const base = t.f64[(i >> 1) + F.BASE];
      const e = base + t.f64[(i >> 1) + F.SIZE];
      if (!(base < end && start < e)) continue;
      debug('0x%s overlaps stale 0x%s: forgetting the stale one', start.toString(16), base.toString(16));
      if (state === LIVE) this.#drop(regionOf(t, k), false);
      else setState(t, k, FREE);
    }
  }

  /** How many live records the table holds (tests check that release forgets them). */
  count(): number {
    const t = this.#t;
    let n = 0;
    for (let k = 0, high = highWater(t); k < high; k++) if (Atomics.load(t.i32, recordIndex(k) + F.STATE) === LIVE) n++;
    return n;
  }
}

let space: ProcessSpace | undefined;

/** The process's space (created on first use: it maps the table). */
export function processSpace(): ProcessSpace {
  return (space ??= new ProcessSpace());
}

export type { ProcessSpace, SharedRegion };
