/**
 * VirtualAlloc, VirtualFree, VirtualProtect and VirtualQuery on Windows: kernel32's own calls with
 * writewatch/win32's JS shapes (addresses bigint, `{ value }` boxes, null for NULL) and the same
 * JS argument checks as the Linux emulation (../args.ts). Return values and last errors are
 * kernel32's; the only bookkeeping is the table of allocations viewMemory needs (regions.ts).
 */
import { kernel32 } from '../../sys/kernel32/raw.js';
import { MEMORY_BASIC_INFORMATION as MBI, MEMORY_BASIC_INFORMATION_SIZE } from '../../sys/kernel32/abi.js';
import { InvalidArgTypeError } from '../../errors.js';
import { checkAddress, checkBox, checkDword, checkSize, probe, UNWRITABLE, type Box } from '../args.js';
import { ERROR_INVALID_ADDRESS, ERROR_NOACCESS, MEM_RELEASE, MEM_RESERVE } from '../constants.js';
import { fillInfo, type MemoryBasicInformation } from '../rules/query.js';
import { plainBox } from './out-params.js';
import { heldOverlaps, holdRelease, noteAllocated, noteReleased } from './regions.js';

/** Where a call on memory held for views (regions.ts) goes instead: NULL, which Windows answers as free memory. */
const FREE = 0n;
const MEM_FREE = 0x10000;

/** VirtualAlloc: the base, or 0n with kernel32's last error. */
export function virtualAlloc(address: bigint, size: number, allocationType: number, protect: number): bigint {
  const addr = checkAddress('address', address);
  checkSize('size', size);
  checkDword('allocationType', allocationType);
  checkDword('protect', protect);
  const k = kernel32();
  // Committing into memory released but held for views: for Windows that memory is free (487).
  if (addr !== 0n && size !== 0 && !(allocationType & MEM_RESERVE) && heldOverlaps(addr, size)) {
    k.SetLastError(ERROR_INVALID_ADDRESS);
    return 0n;
  }
  const p = k.VirtualAlloc(addr === 0n ? null : addr, size, allocationType, protect);
  if (p === null) return 0n;
  noteAllocated(p); // VirtualQuery only: succeeds, the last error stays as VirtualAlloc left it
  return p;
}

/** VirtualFree: true, or false with kernel32's last error. MEM_RELEASE detaches the allocation's views. */
export function virtualFree(address: bigint, size: number, freeType: number): boolean {
  const addr = checkAddress('address', address);
  checkSize('size', size);
  checkDword('freeType', freeType);
  // A release while a view object is reachable is held until it is collected (regions.ts says why).
  if (freeType === MEM_RELEASE && size === 0 && holdRelease(Number(addr))) return true;
  if (kernel32().VirtualFree(heldOverlaps(addr, size) ? FREE : addr, size, freeType) === 0) return false;
  // Released: no JS ran since, and none runs before the views are detached.
  if (freeType === MEM_RELEASE) noteReleased(Number(addr));
  return true;
}

const oldScratch = new Uint32Array(1);

/**
 * VirtualProtect. `oldProtect` null, or a box that cannot be written (an unwritable pointer), goes
 * to kernel32 as NULL: it fails with 998 and changes nothing. On success `oldProtect.value` gets
 * the first page's previous protection, stored last; should that store throw all the same (a setter
 * that passed the probe), the pages get their protections back and the call fails with 998.
 */
export function virtualProtect(address: bigint, size: number, newProtect: number, oldProtect: Box | null): boolean {
  const addr = checkAddress('address', address);
  checkSize('size', size);
  checkDword('newProtect', newProtect);
  const old = checkBox('oldProtect', oldProtect);
  const k = kernel32();
  const out = old !== null && probe(old) !== UNWRITABLE ? old : null;
  // A store that may throw needs the protections it would have to put back (run by run).
  const before = out !== null && !plainBox(out) ? protections(addr, size) : null;
  if (k.VirtualProtect(heldOverlaps(addr, size) ? FREE : addr, size, newProtect, out === null ? null : oldScratch) === 0) return false;
  const previous = oldScratch[0];
  try {
    out!.value = previous;
    return true;
  } catch {
    for (const [start, length, protect] of before ?? []) k.VirtualProtect(start, length, protect, oldScratch);
    k.SetLastError(ERROR_NOACCESS);
    return false;
  }
}

const mbi = new ArrayBuffer(MEMORY_BASIC_INFORMATION_SIZE);
const mbiView = new DataView(mbi);

/** The protection runs [start, length, protect] covering the pages of [address, address + size), by VirtualQuery. */
function protections(address: bigint, size: number): [bigint, number, number][] {
  const k = kernel32();
  const runs: [bigint, number, number][] = [];
  const page = 0x1000n;
  let at = address - (address % page);
  const end = address + BigInt(size);
  do {
    if (k.VirtualQuery(at, mbi, MEMORY_BASIC_INFORMATION_SIZE) !== MEMORY_BASIC_INFORMATION_SIZE) break;
    const next = mbiView.getBigUint64(MBI.BaseAddress, true) + mbiView.getBigUint64(MBI.RegionSize, true);
    const stop = next < end ? next : end;
    runs.push([at, Number(stop - at), mbiView.getUint32(MBI.Protect, true)]);
    at = next;
  } while (at < end);
  return runs;
}

/**
 * VirtualQuery: fills `info` and returns 48 (sizeof(MEMORY_BASIC_INFORMATION)), or 0 with
 * kernel32's last error (87 past the user address space). Anything but an object throws
 * ERR_INVALID_ARG_TYPE, as the emulation does. The fields are stored after kernel32 returned; a
 * store that throws (an unwritable pointer) is 0, 998.
 */
export function virtualQuery(address: bigint, info: object): number {
  const addr = checkAddress('address', address);
  if (typeof info !== 'object' || info === null) throw new InvalidArgTypeError('info', 'an object', info);
  const k = kernel32();
  const n = k.VirtualQuery(addr, mbi, MEMORY_BASIC_INFORMATION_SIZE);
  if (n === 0) return n;
  const h = heldOverlaps(addr, 1);
  const r = h ? freeInfo(addr, h.end) : readInfo();
  if (!fillInfo(info, r)) {
    k.SetLastError(ERROR_NOACCESS);
    return 0;
  }
  return n;
}

function readInfo(): MemoryBasicInformation {
  return {
    baseAddress: mbiView.getBigUint64(MBI.BaseAddress, true),
    allocationBase: mbiView.getBigUint64(MBI.AllocationBase, true),
    allocationProtect: mbiView.getUint32(MBI.AllocationProtect, true),
    regionSize: Number(mbiView.getBigUint64(MBI.RegionSize, true)),
    state: mbiView.getUint32(MBI.State, true),
    protect: mbiView.getUint32(MBI.Protect, true),
    type: mbiView.getUint32(MBI.Type, true),
  };
}

/** What Windows says of free memory, for an address in an allocation released but held for views. */
function freeInfo(address: bigint, end: number): MemoryBasicInformation {
  const page = address - (address % 0x1000n);
  return { baseAddress: page, allocationBase: 0n, allocationProtect: 0, regionSize: end - Number(page), state: MEM_FREE, protect: 1 /* PAGE_NOACCESS */, type: 0 };
}
