/**
 * The Windows rules of VirtualAlloc, VirtualFree, VirtualProtect, VirtualQuery, GetWriteWatch and
 * ResetWriteWatch, once, over any Space (space.ts): argument checks in Windows' order, page and
 * 64 KiB rounding, the NTSTATUS of each failure, results. The module functions (the process's
 * memory) and AddressSpace (a guest's) are thin fronts over these.
 *
 * Each function takes JS values already type-checked (args.ts) and returns an NTSTATUS (or a base
 * address); user code (the out-parameters' getters and setters) runs before the space is locked or
 * after it is unlocked, never inside, so a nested call from it cannot deadlock or see a half-done one.
 */
import { types } from 'node:util';
import createDebug from 'debug';
import { LostError } from '../errors.js';
import { newQuery, type Query } from '../mechanisms/contract.js';
import { typedArrayLength } from '../writewatch/intrinsics.js';
import { checkCountValue, probe, UNWRITABLE, writable, type Box } from './args.js';
import {
  ALLOCATION_GRANULARITY,
  MEM_COMMIT,
  MEM_DECOMMIT,
  MEM_LARGE_PAGES,
  MEM_PHYSICAL,
  MEM_PRIVATE,
  MEM_RELEASE,
  MEM_RESERVE,
  MEM_RESET,
  MEM_RESET_UNDO,
  MEM_TOP_DOWN,
  MEM_WRITE_WATCH,
  MEMORY_BASIC_INFORMATION_SIZE,
  STATUS_ACCESS_VIOLATION,
  STATUS_FREE_VM_NOT_AT_BASE,
  STATUS_INVALID_PARAMETER,
  STATUS_MEMORY_NOT_ALLOCATED,
  STATUS_NOT_COMMITTED,
  STATUS_NOT_MAPPED_VIEW,
  STATUS_NOT_SUPPORTED,
  WRITE_WATCH_FLAG_RESET,
} from './constants.js';
import { copyOutArray, copyOutTyped, lengthOf, storable } from './out-params.js';
import { checkProtect } from './protection.js';
import { newRange, roundRange, type PageRange } from './range.js';
import { LATCHED, PROTECTION, STICKY, type Region, type Space } from './space.js';

const debug = createDebug('writewatch:win32');

/**
 * What one call works with: its rounded range, the page addresses it found (out-parameters are
 * written only on success, so the caller's array is filled after the scan returned), the flags the
 * returned pages had, the tracker query. The outermost call reuses one (no allocation); a call made
 * from inside another's user code gets a fresh one, so it cannot overwrite the outer call's state.
 */
export interface Frame {
  range: PageRange;
  buf: Float64Array;
  /** The slow path's tracker answer (pages written per the tracker) before merging with STICKY pages. */
  tmp: Float64Array;
  /** Per returned page, its flags before a reset cleared them (restored if the answer is not delivered). */
  flags: Uint16Array;
  q: Query;
}

const newFrame = (): Frame => ({
  range: newRange(),
  buf: new Float64Array(256),
  tmp: new Float64Array(0),
  flags: new Uint16Array(0),
  q: newQuery(),
});
const outer = newFrame();
let depth = 0;

/** Runs one call in a frame of its own (see Frame): every function that can reach user code runs in one. */
export function run<T>(body: (f: Frame) => T): T {
  const f = depth === 0 ? outer : newFrame();
  depth++;
  try {
    return body(f);
  } finally {
    depth--;
  }
}

const MEM_TYPES = MEM_COMMIT | MEM_RESERVE | MEM_RESET | MEM_RESET_UNDO | MEM_TOP_DOWN | MEM_WRITE_WATCH | MEM_LARGE_PAGES | MEM_PHYSICAL;

// ---- per-page flags ----

function pageOf(r: Region, address: number, page: number): number {
  return (address - r.base) / page;
}

function setFlags(r: Region, i: number, bits: number): void {
  const v = r.pages[i];
  if ((v & (LATCHED | STICKY)) === 0) r.flagged++;
  r.pages[i] = v | bits;
}

function clearFlags(r: Region, i: number, bits: number): void {
  const v = r.pages[i];
  if ((v & (LATCHED | STICKY)) === 0) return;
  const n = v & ~bits;
  r.pages[i] = n;
  if ((n & (LATCHED | STICKY)) === 0) r.flagged--;
}

function clearRange(r: Region, first: number, last: number): void {
  if (r.flagged === 0) return;
  for (let i = first; i < last; i++) clearFlags(r, i, LATCHED | STICKY);
}

// ---- VirtualAlloc ----

/**
 * NtAllocateVirtualMemory's rules (Wine's, which its tests pin on Windows): the base of the new or
 * committed range, or an NTSTATUS. A reservation's address is rounded down to 64 KiB and its end up
 * to a page; a commit's address down to a page.
 */
export function allocate(space: Space, address: bigint, size: number, type: number, protect: number): bigint | number {
  if (size === 0) return STATUS_INVALID_PARAMETER;
  if (type & ~MEM_TYPES) return STATUS_INVALID_PARAMETER;
  if (type & (MEM_RESET | MEM_RESET_UNDO)) return resetHint(space, address, size, type, protect);
  if (type & (MEM_LARGE_PAGES | MEM_PHYSICAL)) return STATUS_NOT_SUPPORTED;
  if (!(type & (MEM_COMMIT | MEM_RESERVE))) return STATUS_INVALID_PARAMETER;
  // VirtualAlloc's documentation: MEM_WRITE_WATCH needs MEM_RESERVE (Wine also takes it with
  // MEM_COMMIT at a NULL address; Windows' answer there is not pinned by a test, the documentation wins).
  if (type & MEM_WRITE_WATCH && !(type & MEM_RESERVE)) return STATUS_INVALID_PARAMETER;
  const bad = checkProtect(protect, true);
  if (bad) return bad;
  const page = space.pageSize;
  if (address !== 0n && !(type & MEM_RESERVE)) {
    const r = roundRange(address, size, page, newRange());
    if (r.outside) return STATUS_NOT_MAPPED_VIEW;
    return space.locked(() => {
      const a = space.find(r.start, r.end);
      if (!a) return STATUS_NOT_MAPPED_VIEW;
      const status = space.apply(a, r.start, r.end, protect);
      if (status) return status;
      const first = pageOf(a, r.start, page);
      const last = pageOf(a, r.end, page);
      for (let i = first; i < last; i++) a.pages[i] = (a.pages[i] & ~PROTECTION) | protect;
      return BigInt(r.start);
    });
  }
  let at: number | undefined;
  let length: number;
  if (address !== 0n) {
    if (address > BigInt(space.maxAddress)) return STATUS_INVALID_PARAMETER;
    const a = Number(address);
    at = a - (a % ALLOCATION_GRANULARITY);
    length = Math.ceil((a + size) / page) * page - at;
    if (at + length - 1 > space.maxAddress) return STATUS_INVALID_PARAMETER;
  } else {
    length = Math.ceil(size / page) * page;
    if (length > space.maxAddress) return STATUS_INVALID_PARAMETER;
  }
  const commit = (type & MEM_COMMIT) !== 0;
  const watched = (type & MEM_WRITE_WATCH) !== 0;
  return space.locked(() => {
    const a = space.reserve(at, length, watched, protect, commit);
    if (typeof a === 'number') return a;
    if (commit) a.pages.fill(protect);
    debug('VirtualAlloc 0x%s +0x%s type 0x%s protect 0x%s', a.base.toString(16), length.toString(16), type.toString(16), protect.toString(16));
    return BigInt(a.base);
  });
}

/**
 * MEM_RESET / MEM_RESET_UNDO: alone (VirtualAlloc's documentation), with a valid (ignored)
 * protection, over a range inside one allocation, reserved pages included (Wine's test_VirtualAlloc,
 * run on Windows); else 487. Both are hints Windows may ignore: the contents are kept, so
 * MEM_RESET_UNDO always finds them, and neither is a write nor clears the written state.
 */
function resetHint(space: Space, address: bigint, size: number, type: number, protect: number): bigint | number {
  if (type !== MEM_RESET && type !== MEM_RESET_UNDO) return STATUS_INVALID_PARAMETER;
  const bad = checkProtect(protect, true);
  if (bad) return bad;
  const r = roundRange(address, size, space.pageSize, newRange());
  if (r.outside || address === 0n) return STATUS_NOT_MAPPED_VIEW;
  return space.locked(() => (space.find(r.start, r.end) ? BigInt(r.start) : STATUS_NOT_MAPPED_VIEW));
}

// ---- VirtualFree ----

/**
 * NtFreeVirtualMemory, with kernelbase's VirtualFree check first (MEM_RELEASE with a size → 87, as
 * ReactOS's kernel32 and Wine's test_VirtualAlloc show). Then: a type other than exactly one of
 * MEM_RELEASE, MEM_DECOMMIT → 87; NULL or above the user range → 87; no allocation there → STATUS_MEMORY_NOT_ALLOCATED
 * (487); MEM_RELEASE not at the base → STATUS_FREE_VM_NOT_AT_BASE (487); a decommit running past
 * the allocation, or of size 0 off its base → 87.
 */
export function free(space: Space, address: bigint, size: number, type: number): number {
  if (type & MEM_RELEASE && size !== 0) return STATUS_INVALID_PARAMETER;
  if (type !== MEM_RELEASE && type !== MEM_DECOMMIT) return STATUS_INVALID_PARAMETER;
  if (address === 0n) return STATUS_INVALID_PARAMETER;
  const page = space.pageSize;
  const r = roundRange(address, size, page, newRange());
  // Above the user range: an invalid address (ReactOS: STATUS_INVALID_PARAMETER_2), not a hole.
  if (r.outside || address > BigInt(space.maxAddress)) return STATUS_INVALID_PARAMETER;
  return space.locked(() => {
    const a = space.find(r.start, r.start);
    if (!a) return STATUS_MEMORY_NOT_ALLOCATED;
    if (type === MEM_RELEASE) {
      if (r.start !== a.base) return STATUS_FREE_VM_NOT_AT_BASE;
      space.release(a);
      debug('VirtualFree MEM_RELEASE 0x%s', a.base.toString(16));
      return 0;
    }
    let { start, end } = r;
    if (r.empty) {
      if (start !== a.base) return STATUS_INVALID_PARAMETER;
      end = a.end;
    }
    if (end > a.end) return STATUS_INVALID_PARAMETER;
    const status = space.decommit(a, start, end);
    if (status) return status;
    const first = pageOf(a, start, page);
    const last = pageOf(a, end, page);
    for (let i = first; i < last; i++) {
      // Windows keeps a page latched by a VirtualProtect reported through the decommit.
      if (a.pages[i] & LATCHED) setFlags(a, i, STICKY);
      else clearFlags(a, i, STICKY);
      a.pages[i] &= ~PROTECTION;
    }
    return 0;
  });
}

// ---- VirtualProtect ----

/**
 * NtProtectVirtualMemory: NULL or unwritable `oldProtect` → 998 first (Wine checks it before
 * anything else); then a range not inside one allocation → 87, a page in it not committed → 487, a
 * bad protection → 87. `oldProtect.value` receives the first page's protection. Changing protection
 * is never a write and never clears the written state; on a watched region the pages written (and
 * not reset) at this moment are latched (see LATCHED).
 */
export function protect(space: Space, f: Frame, address: bigint, size: number, newProtect: number, old: Box | null): number {
  if (!old || !writable(old)) return STATUS_ACCESS_VIOLATION;
  const page = space.pageSize;
  const r = roundRange(address, size, page, f.range);
  if (r.outside || r.empty) return STATUS_INVALID_PARAMETER;
  let previous = 0;
  let before: Uint16Array | null = null;
  let region: Region | undefined;
  const status = space.locked(() => {
    const a = space.find(r.start, r.end);
    if (!a) return STATUS_INVALID_PARAMETER;
    const first = pageOf(a, r.start, page);
    const last = pageOf(a, r.end, page);
    for (let i = first; i < last; i++) if ((a.pages[i] & PROTECTION) === 0) return STATUS_NOT_COMMITTED;
    const bad = checkProtect(newProtect, false);
    if (bad) return bad;
    if (a.watched) {
      const s = latch(space, f, a, r.start, r.end);
      if (s) return s;
    }
    const st = space.apply(a, r.start, r.end, newProtect);
    if (st) return st;
    previous = a.pages[first] & PROTECTION;
    before = a.pages.slice(first, last);
    for (let i = first; i < last; i++) a.pages[i] = (a.pages[i] & ~PROTECTION) | newProtect;
    region = a;
    return 0;
  });
  if (status) return status;
  try {
    old.value = previous; // user code: outside the lock
    return 0;
  } catch {
    // Probed writable, yet its setter threw: put every page's protection back, then 998.
    space.locked(() => {
      const a = region!;
      if (space.find(r.start, r.end) !== a) return; // released meanwhile, by that very setter
      restore(space, a, pageOf(a, r.start, page), before!);
    });
    return STATUS_ACCESS_VIOLATION;
  }
}

/** Sets LATCHED on the pages of [start, end) written and not reset (the tracker's or STICKY). */
function latch(space: Space, f: Frame, a: Region, start: number, end: number): number {
  const page = space.pageSize;
  const n = (end - start) / page;
  if (f.tmp.length < n) f.tmp = new Float64Array(n);
  const q = f.q;
  setQuery(q, start, end, false, 0, f.tmp);
  try {
    space.watch(a).scan(q);
  } catch (e) {
    if (!(e instanceof LostError)) throw e;
    return 0; // tracking lost: GetWriteWatch answers 87 from now on; the protection still changes
  } finally {
    q.into = null;
  }
  for (let k = 0; k < q.count; k++) setFlags(a, pageOf(a, f.tmp[k], page), LATCHED);
  for (let i = pageOf(a, start, page), last = pageOf(a, end, page); i < last && a.flagged > 0; i++) {
    if (a.pages[i] & STICKY) setFlags(a, i, LATCHED);
  }
  return 0;
}

function restore(space: Space, a: Region, first: number, before: Uint16Array): void {
  const page = space.pageSize;
  for (let i = 0; i < before.length; ) {
    let j = i + 1;
    while (j < before.length && (before[j] & PROTECTION) === (before[i] & PROTECTION)) j++;
    const start = a.base + (first + i) * page;
    space.apply(a, start, start + (j - i) * page, before[i] & PROTECTION);
    for (let k = i; k < j; k++) a.pages[first + k] = (a.pages[first + k] & ~PROTECTION) | (before[k] & PROTECTION);
    i = j;
  }
}

// ---- VirtualQuery / GetSystemInfo ----

/** MEMORY_BASIC_INFORMATION, in camelCase, with bigint addresses. */
export interface MemoryBasicInformation {
  baseAddress: bigint;
  allocationBase: bigint;
  allocationProtect: number;
  regionSize: number;
  state: number;
  protect: number;
  type: number;
}

/**
 * NtQueryVirtualMemory(MemoryBasicInformation): the run of pages from `address` (rounded down)
 * with the same state and protection, up to the allocation's end; outside allocations, what the
 * space says lies there. An address above the user range → STATUS_INVALID_PARAMETER.
 */
export function query(space: Space, address: bigint): MemoryBasicInformation | number {
  if (address > BigInt(space.maxAddress)) return STATUS_INVALID_PARAMETER;
  const page = space.pageSize;
  const a0 = Number(address);
  const at = a0 - (a0 % page);
  return space.locked(() => {
    const a = space.find(at, at);
    if (!a) {
      const o = space.outside(at);
      return {
        baseAddress: BigInt(at),
        allocationBase: BigInt(o.allocationBase),
        allocationProtect: o.allocationProtect,
        regionSize: o.end - at,
        state: o.state,
        protect: o.protect,
        type: o.type,
      };
    }
    const first = pageOf(a, at, page);
    const p = a.pages[first] & PROTECTION;
    let i = first + 1;
    const n = a.pages.length;
    while (i < n && (a.pages[i] & PROTECTION) === p) i++;
    return {
      baseAddress: BigInt(at),
      allocationBase: BigInt(a.base),
      allocationProtect: a.allocationProtect,
      regionSize: (i - first) * page,
      state: p === 0 ? MEM_RESERVE : MEM_COMMIT,
      protect: p,
      type: MEM_PRIVATE,
    };
  });
}

/** Writes a MemoryBasicInformation into the caller's object (user code: its setters may throw → 998). */
export function fillInfo(info: object, m: MemoryBasicInformation): boolean {
  try {
    const o = info as Record<string, unknown>;
    o.baseAddress = m.baseAddress;
    o.allocationBase = m.allocationBase;
    o.allocationProtect = m.allocationProtect;
    o.regionSize = m.regionSize;
    o.state = m.state;
    o.protect = m.protect;
    o.type = m.type;
    return true;
  } catch {
    return false;
  }
}

export { MEMORY_BASIC_INFORMATION_SIZE };

/** SYSTEM_INFO's memory fields, in camelCase. */
export interface SystemInfo {
  pageSize: number;
  allocationGranularity: number;
  minimumApplicationAddress: bigint;
  maximumApplicationAddress: bigint;
  numberOfProcessors: number;
}

export function systemInfo(space: Space): SystemInfo {
  return {
    pageSize: space.pageSize,
    allocationGranularity: ALLOCATION_GRANULARITY,
    minimumApplicationAddress: BigInt(space.minAddress),
    maximumApplicationAddress: BigInt(space.maxAddress),
    numberOfProcessors: space.processors,
  };
}

// ---- GetWriteWatch / ResetWriteWatch ----

function setQuery(q: Query, start: number, end: number, reset: boolean, maxPages: number, into: Float64Array): void {
  q.bounds[0] = start;
  q.bounds[1] = end;
  q.bounds[2] = 0;
  q.reset = reset;
  q.maxPages = maxPages;
  q.into = into;
  q.sink = null;
  q.count = 0;
}

/** The watched region holding all of the rounded range, or undefined (→ 87). */
function watched(space: Space, range: PageRange): Region | undefined {
  if (range.outside) return undefined;
  const a = space.find(range.start, range.end);
  return a && a.watched ? a : undefined;
}

/**
 * NtGetWriteWatch. Checks, in Windows' order: NULL count or granularity → STATUS_ACCESS_VIOLATION;
 * `count.value` 0 or rounded size 0 → STATUS_INVALID_PARAMETER; flags other than 0/1 →
 * STATUS_INVALID_PARAMETER; NULL addresses (or one shorter than `count.value`, which on Windows
 * would be an access violation writing it) → STATUS_ACCESS_VIOLATION; range not inside one
 * MEM_WRITE_WATCH allocation → STATUS_INVALID_PARAMETER.
 */
export function getWatch(
  space: Space,
  f: Frame,
  flags: number,
  b: bigint,
  size: number,
  out: BigUint64Array | bigint[] | null,
  cnt: Box | null,
  gran: Box | null,
): number {
  const page = space.pageSize;
  const range = roundRange(b, size, page, f.range);
  // NULL or unwritable, as Windows probes its out-pointers before acting.
  if (!cnt || !gran) return STATUS_ACCESS_VIOLATION;
  const value = probe(cnt);
  if (value === UNWRITABLE || !writable(gran)) return STATUS_ACCESS_VIOLATION;
  const cap = checkCountValue('count', value);
  if (cap === 0 || range.empty) return STATUS_INVALID_PARAMETER;
  if (flags & ~WRITE_WATCH_FLAG_RESET) return STATUS_INVALID_PARAMETER;
  if (!out || lengthOf(out) < cap) return STATUS_ACCESS_VIOLATION;
  const typed = types.isBigUint64Array(out);
  if (!typed && !storable(out)) return STATUS_ACCESS_VIOLATION;
  // The last user code before the scan has run: from here on, only this call's frame is read.
  const { start, end } = range;
  const reset = (flags & WRITE_WATCH_FLAG_RESET) !== 0;
  let region: Region | undefined;
  let slow = false;
  const n = space.locked(() => {
    const a = watched(space, range);
    if (!a) return -1;
    region = a;
    const max = Math.min(cap, (end - start) / page);
    if (f.buf.length < max) f.buf = new Float64Array(Math.max(max, f.buf.length * 2));
    try {
      if (a.flagged === 0) {
        setQuery(f.q, start, end, reset, max, f.buf);
        space.watch(a).scan(f.q);
        return f.q.count;
      }
      slow = true;
      return collectFlagged(space, f, a, start, end, max, reset);
    } catch (e) {
      if (!(e instanceof LostError)) throw e;
      debug('GetWriteWatch 0x%s: %s', start.toString(16), e.message);
      return -1;
    } finally {
      f.q.into = null;
    }
  });
  if (n < 0) return STATUS_INVALID_PARAMETER;
  const values = typed ? null : Array.from(f.buf.subarray(0, n), (x) => BigInt(x));
  // The boxes were probed, but a getter or setter may still throw (or call in again): each step
  // undoes the ones before it.
  let oldGran: number | undefined;
  let step = 0;
  try {
    oldGran = gran.value;
    // The step is counted before each store: a setter that stored and then threw is put back too.
    step = 1;
    cnt.value = n;
    step = 2;
    gran.value = page;
    if (typed) {
      // After the setters: a resizable buffer they shrank (or detached) is an unwritable pointer,
      // not a write past it, and the answer is not delivered.
      if (typedArrayLength(out as BigUint64Array) < n) throw new RangeError('the addresses array shrank below the count');
      copyOutTyped(out as BigUint64Array, f.buf, n);
    } else copyOutArray(out as bigint[], values!);
    return 0;
  } catch (e) {
    debug('GetWriteWatch 0x%s: an out-parameter refused the store: %o', start.toString(16), e);
    try {
      if (step >= 1) cnt.value = cap;
      if (step >= 2) gran.value = oldGran as number;
    } catch {
      /* best effort */
    }
    if (reset && n > 0) undo(space, f, region!, n, slow);
    return STATUS_ACCESS_VIOLATION;
  }
}

/**
 * The slow path, while the region has LATCHED or STICKY pages: the tracker's written pages merged
 * with the STICKY ones, ascending, capped; with reset, exactly the pages returned are re-armed and
 * lose their flags (kept in f.flags, for undo).
 */
function collectFlagged(space: Space, f: Frame, a: Region, start: number, end: number, max: number, reset: boolean): number {
  const page = space.pageSize;
  const total = (end - start) / page;
  if (f.tmp.length < total) f.tmp = new Float64Array(total);
  const q = f.q;
  setQuery(q, start, end, false, 0, f.tmp);
  space.watch(a).scan(q);
  const m = q.count;
  q.into = null;
  let n = 0;
  let k = 0;
  const first = pageOf(a, start, page);
  for (let i = first; i < first + total && n < max; i++) {
    const addr = a.base + i * page;
    while (k < m && f.tmp[k] < addr) k++;
    if ((k < m && f.tmp[k] === addr) || a.pages[i] & STICKY) f.buf[n++] = addr;
  }
  if (!reset || n === 0) return n;
  if (f.flags.length < n) f.flags = new Uint16Array(Math.max(n, 2 * f.flags.length));
  for (let j = 0; j < n; ) {
    let e = j + 1;
    while (e < n && f.buf[e] === f.buf[e - 1] + page) e++;
    setQuery(q, f.buf[j], f.buf[e - 1] + page, true, 0, f.tmp);
    space.watch(a).scan(q); // re-arms what is written in the run (pages only STICKY have nothing to re-arm)
    q.into = null;
    j = e;
  }
  for (let j = 0; j < n; j++) {
    const i = pageOf(a, f.buf[j], page);
    f.flags[j] = a.pages[i] & (LATCHED | STICKY);
    clearFlags(a, i, LATCHED | STICKY);
  }
  return n;
}

/**
 * Undoes the reset of the `n` pages in the frame, whose answer could not be delivered: each reads
 * as written again (STICKY: the next GetWriteWatch reports it, overstated at worst, never lost) and
 * gets back the flags it had.
 */
function undo(space: Space, f: Frame, a: Region, n: number, slow: boolean): void {
  space.locked(() => {
    if (space.find(a.base, a.base) !== a) return; // released by the user code that refused the store
    const page = space.pageSize;
    for (let j = 0; j < n; j++) {
      const i = pageOf(a, f.buf[j], page);
      setFlags(a, i, STICKY | (slow ? f.flags[j] : 0));
    }
  });
}

/** NtResetWriteWatch: rounded size 0 or not inside one write-watched allocation → STATUS_INVALID_PARAMETER. */
export function resetWatch(space: Space, f: Frame, b: bigint, size: number): number {
  const range = roundRange(b, size, space.pageSize, f.range);
  if (range.empty) return STATUS_INVALID_PARAMETER;
  return space.locked(() => {
    const a = watched(space, range);
    if (!a) return STATUS_INVALID_PARAMETER;
    const q = f.q;
    setQuery(q, range.start, range.end, true, 0, f.buf);
    q.into = null;
    try {
      space.watch(a).reset(q);
    } catch (e) {
      if (!(e instanceof LostError)) throw e;
      debug('ResetWriteWatch 0x%s: %s', range.start.toString(16), e.message);
      return STATUS_INVALID_PARAMETER;
    }
    clearRange(a, pageOf(a, range.start, space.pageSize), pageOf(a, range.end, space.pageSize));
    return 0;
  });
}
