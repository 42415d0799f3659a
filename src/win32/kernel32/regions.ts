/**
 * The allocations this thread's virtualAlloc handed out on Windows, and the ArrayBuffers
 * viewMemory made over them. kernel32 owns the memory; this table exists for viewMemory: a view is
 * given only inside an allocation this module made (never over V8's heap or a DLL), and
 * MEM_RELEASE detaches every view of the allocation, so JS still holding one reads a zero-length
 * buffer instead of faulting the process.
 *
 * Native code may still hold a view's pointer after that (Node's thread pool filling it for
 * crypto.randomFill or fs.read): a write into released memory is an access violation that kills
 * the process, or, once the address is reused, a write into someone else's memory. So, as the Linux
 * emulation keeps a placeholder (src/memory/mapping.ts), a release while a view object is still
 * reachable is held: the views are detached, the contents discarded (MEM_RESET: the pages stay
 * committed and take the late write), and the allocation is released for real once the last view
 * object is garbage-collected, the moment no native operation can still hold the pointer (Node
 * keeps the buffer reachable from the request until its callback ran). Meanwhile every forwarded
 * call answers for the held range as Windows answers for freed memory (see heldOverlaps), except
 * that reserving there again fails (487) until it is let go, as on Linux.
 *
 * Node 22+ adds a way to reach the memory through a buffer this table never saw: a full-length
 * `view.transfer()` makes a new ArrayBuffer over the same memory and detaches the view, and nothing
 * says when the new one dies. So every view handed out is held strongly while the allocation lives,
 * and checked at release: a view someone else detached was transferred, and the allocation stays
 * held for the life of the process. The same rule as src/memory's views.
 *
 * Per thread, like every JS module: a view of another worker's allocation is refused
 * (ERR_OUT_OF_RANGE), since that worker's virtualFree could not detach it.
 */
import { constants } from 'node:buffer';
import createDebug from 'debug';
import koffi from 'koffi';
import { byteLengthOf, detach } from '../../memory/detach.js';
import { discardContents, queryRegion } from '../../memory/windows.js';
import { MEM_FREE, MEM_RELEASE } from '../../sys/kernel32/abi.js';
import { kernel32 } from '../../sys/kernel32/raw.js';

const debug = createDebug('writewatch:win32');

export interface Region {
  /** AllocationBase, and the end of the allocation's last page (numbers: x64 user space is < 2^47). */
  base: number;
  end: number;
  views: Set<WeakRef<ArrayBuffer>>;
  /** View objects not yet garbage-collected (detached ones included: native code may hold their pointer). */
  live: number;
  /** Released by virtualFree, kept until `live` drops to 0. */
  held: boolean;
  /** Every view handed out, held while the allocation lives, so that a transfer() is seen at release. */
  handed: Set<ArrayBuffer>;
  /** A buffer this table never saw may reach the memory: never released. */
  pinned: boolean;
}

/** Sorted by base; never overlapping (stale entries are dropped when a new one overlaps them). */
const regions: Region[] = [];
/** Released allocations kept for views still reachable (few: usually none). */
const held: Region[] = [];

const collected = new FinalizationRegistry<{ r: Region; ref: WeakRef<ArrayBuffer> }>(({ r, ref }) => {
  r.views.delete(ref);
  r.live--;
  if (r.live === 0 && r.held && !r.pinned) letGo(r);
});

function indexOfBase(base: number): number {
  let lo = 0;
  let hi = regions.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (regions[mid].base === base) return mid;
    if (regions[mid].base < base) lo = mid + 1;
    else hi = mid - 1;
  }
  return -(lo + 1);
}

function dropAt(i: number): void {
  const [r] = regions.splice(i, 1);
  for (const ref of r.views) {
    const ab = ref.deref();
    if (ab) detach(ab);
  }
  r.views.clear();
  r.handed.clear();
}

/**
 * After a successful VirtualAlloc that returned `address`: records the allocation holding it, if
 * this is a new one (a reservation; a commit inside one already known changes nothing). Its
 * extent is VirtualQuery's, walked region by region while AllocationBase stays the same, so it is
 * Windows' own rounding. Entries it overlaps were released behind this module's back.
 */
export function noteAllocated(address: bigint): void {
  const first = queryRegion(Number(address));
  if (first === null) return;
  const base = first.allocationBase;
  if (indexOfBase(base) >= 0) return;
  let end = first.end;
  for (let r = queryRegion(end); r !== null && r.allocationBase === base && r.state !== MEM_FREE; r = queryRegion(end)) end = r.end;
  for (let i = regions.length - 1; i >= 0; i--) if (regions[i].base < end && base < regions[i].end) dropAt(i);
  const at = -(indexOfBase(base) + 1);
  regions.splice(at, 0, { base, end, views: new Set(), live: 0, held: false, handed: new Set(), pinned: false });
}

/** After a successful VirtualFree(MEM_RELEASE) of `base`: detaches the allocation's views, forgets it. */
export function noteReleased(base: number): void {
  const i = indexOfBase(base);
  if (i >= 0) dropAt(i);
}

/**
 * VirtualFree(base, 0, MEM_RELEASE) of a live allocation of this table that still has a reachable
 * view object: detaches the views, discards the contents and holds the allocation until
 * they are collected. True when it did (the release succeeded, as far as the caller can tell);
 * false when there is nothing to hold for, and the caller releases.
 */
export function holdRelease(base: number): boolean {
  const i = indexOfBase(base);
  if (i < 0) return false;
  const r = regions[i];
  if (r.live === 0 || !stillAllocated(r)) return false;
  regions.splice(i, 1);
  // A handed-out view found detached was detached by someone else: transferred (its length was > 0).
  for (const ab of r.handed) if (byteLengthOf(ab) === 0) r.pinned = true;
  r.handed.clear();
  for (const ref of r.views) {
    const ab = ref.deref();
    if (ab) detach(ab);
  }
  discardContents(r.base, r.end);
  r.held = true;
  held.push(r);
  debug('MEM_RELEASE 0x%s held %s', r.base.toString(16), r.pinned ? 'for good (a view was transferred)' : `until ${r.live} views are collected`);
  return true;
}

function letGo(r: Region): void {
  const i = held.indexOf(r);
  if (i >= 0) held.splice(i, 1);
  const k = kernel32();
  const saved = k.GetLastError();
  if (!k.VirtualFree(r.base, 0, MEM_RELEASE)) debug('releasing held 0x%s failed: %d', r.base.toString(16), k.GetLastError());
  else debug('released held 0x%s', r.base.toString(16));
  k.SetLastError(saved);
}

/**
 * The held allocation overlapping [start, start + size) (one page when size is 0), or undefined:
 * for Windows that memory is free, so the callers answer as for free memory.
 */
export function heldOverlaps(start: bigint, size: number): Region | undefined {
  if (held.length === 0) return undefined;
  const s = Number(start);
  const e = s + Math.max(size, 1);
  for (const r of held) if (s < r.end && r.base < e) return r;
  return undefined;
}

/** How many released allocations are held for reachable views (tests). */
export function heldCount(): number {
  return held.length;
}

function stillAllocated(r: Region): boolean {
  const q = queryRegion(r.base);
  return q !== null && q.allocationBase === r.base && q.state !== MEM_FREE;
}

/**
 * The known allocation holding all of [start, end), still live by VirtualQuery (one released by a
 * direct kernel32 call is forgotten here, its views detached), or undefined.
 */
export function regionHolding(start: number, end: number): Region | undefined {
  let i = indexOfBase(start);
  if (i < 0) i = -(i + 1) - 1;
  if (i < 0) return undefined;
  const r = regions[i];
  if (!(start < r.end && end <= r.end)) return undefined;
  if (!stillAllocated(r)) {
    dropAt(i);
    return undefined;
  }
  return r;
}

/** Views past this many bytes abort the process inside koffi (buffer.constants.MAX_LENGTH). */
export const MAX_VIEW_LENGTH = constants.MAX_LENGTH;

/** An ArrayBuffer over [address, address + size) of `r`, registered for detaching at MEM_RELEASE. */
export function viewOf(r: Region, address: number, size: number): ArrayBuffer {
  if (size === 0) return new ArrayBuffer(0); // koffi.view must never be asked to back nothing
  const ab = koffi.view(BigInt(address), size) as ArrayBuffer;
  const ref = new WeakRef(ab);
  r.views.add(ref);
  r.handed.add(ab);
  r.live++;
  collected.register(ab, { r, ref });
  return ab;
}

/** How many allocations the table knows (tests: release forgets them). */
export function regionCount(): number {
  return regions.length;
}
