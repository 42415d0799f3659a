/**
 * The allocations this thread's virtualAlloc handed out on Windows, and the ArrayBuffers
 * viewMemory made over them. kernel32 owns the memory; this table exists for viewMemory alone:
 * a view is given only inside an allocation this module made (never over V8's heap or a DLL), and
 * MEM_RELEASE detaches every view of the allocation, so JS still holding one reads a zero-length
 * buffer instead of faulting the process or reaching memory VirtualAlloc later gives someone else.
 *
 * Per thread, like every JS module: a view of another worker's allocation is refused
 * (ERR_OUT_OF_RANGE), since that worker's virtualFree could not detach it.
 */
import { constants } from 'node:buffer';
import koffi from 'koffi';
import { detach } from '../../memory/detach.js';
import { MEM_FREE, MEMORY_BASIC_INFORMATION as MBI, MEMORY_BASIC_INFORMATION_SIZE } from '../../sys/kernel32/abi.js';
import { kernel32 } from '../../sys/kernel32/raw.js';

export interface Region {
  /** AllocationBase, and the end of the allocation's last page (numbers: x64 user space is < 2^47). */
  base: number;
  end: number;
  views: Set<WeakRef<ArrayBuffer>>;
}

/** Sorted by base; never overlapping (stale entries are dropped when a new one overlaps them). */
const regions: Region[] = [];

const mbi = new ArrayBuffer(MEMORY_BASIC_INFORMATION_SIZE);
const mbiView = new DataView(mbi);

/** VirtualQuery(address) into the module's buffer; false when it fails (an address past user space). */
function query(address: number): boolean {
  return kernel32().VirtualQuery(address, mbi, MEMORY_BASIC_INFORMATION_SIZE) === MEMORY_BASIC_INFORMATION_SIZE;
}

const allocationBase = () => Number(mbiView.getBigUint64(MBI.AllocationBase, true));
const regionEnd = () => Number(mbiView.getBigUint64(MBI.BaseAddress, true)) + Number(mbiView.getBigUint64(MBI.RegionSize, true));

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
}

/**
 * After a successful VirtualAlloc that returned `address`: records the allocation holding it, if
 * this is a new one (a reservation; a commit inside one already known changes nothing). Its
 * extent is VirtualQuery's, walked region by region while AllocationBase stays the same, so it is
 * Windows' own rounding. Entries it overlaps were released behind this module's back.
 */
export function noteAllocated(address: bigint): void {
  if (!query(Number(address))) return;
  const base = allocationBase();
  if (indexOfBase(base) >= 0) return;
  let end = regionEnd();
  while (query(end) && allocationBase() === base && mbiView.getUint32(MBI.State, true) !== MEM_FREE) end = regionEnd();
  for (let i = regions.length - 1; i >= 0; i--) if (regions[i].base < end && base < regions[i].end) dropAt(i);
  const at = -(indexOfBase(base) + 1);
  regions.splice(at, 0, { base, end, views: new Set() });
}

/** After a successful VirtualFree(MEM_RELEASE) of `base`: detaches the allocation's views, forgets it. */
export function noteReleased(base: number): void {
  const i = indexOfBase(base);
  if (i >= 0) dropAt(i);
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
  if (!query(r.base) || allocationBase() !== r.base || mbiView.getUint32(MBI.State, true) === MEM_FREE) {
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
  // Collected views leave dead WeakRefs: sweep them when the set has doubled since the last sweep.
  if (r.views.size >= 64 && (r.views.size & (r.views.size - 1)) === 0) {
    for (const ref of r.views) if (!ref.deref()) r.views.delete(ref);
  }
  r.views.add(new WeakRef(ab));
  return ab;
}

/** How many allocations the table knows (tests: release forgets them). */
export function regionCount(): number {
  return regions.length;
}
