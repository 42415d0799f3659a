/**
 * VirtualAlloc, VirtualFree and VirtualProtect over anonymous mmap memory, with Windows' return
 * values, last errors and check order (Wine's NtAllocateVirtualMemory / NtFreeVirtualMemory /
 * NtProtectVirtualMemory, whose behaviour Wine's tests pin on real Windows).
 *
 * Reserved-only and decommitted pages are PROT_NONE, so touching them faults as on Windows.
 * A MEM_WRITE_WATCH allocation is registered whole with its own userfaultfd in async
 * write-protect mode (PROT_NONE ranges can be registered, and the uffd-wp bits survive mprotect),
 * then armed so that it starts clean.
 */
import createDebug from 'debug';
import { LostError, SystemCallError, UnsupportedError } from '../errors.js';
import { MADV_DONTNEED, MADV_NOHUGEPAGE, PROT_NONE } from '../libc/abi.js';
import { getPageSize } from '../libc/libc.js';
import { Mapping } from '../memory/mapping.js';
import { checkPagemapOwner, selfScanner } from '../pagemap/self.js';
import { Userfaultfd } from '../uffd/userfaultfd.js';
import { lostFromWriteProtect } from '../writewatch/lost.js';
import { Allocation, addAllocation, findAllocation, removeAllocation } from './allocations.js';
import { checkAddress, checkBox, checkDword, checkSize, type Box } from './args.js';
import {
  MEM_COMMIT,
  MEM_DECOMMIT,
  MEM_RELEASE,
  MEM_RESERVE,
  MEM_WRITE_WATCH,
  STATUS_ACCESS_VIOLATION,
  STATUS_CONFLICTING_ADDRESSES,
  STATUS_INVALID_PARAMETER,
  STATUS_NO_MEMORY,
  STATUS_NOT_COMMITTED,
  STATUS_NOT_MAPPED_VIEW,
  STATUS_NOT_SUPPORTED,
} from './constants.js';
import { setNtStatus } from './last-error.js';
import { checkProtect, unixProt } from './protection.js';
import { newRange, roundRange } from './range.js';

const debug = createDebug('writewatch:win32');

const range = newRange();

/** A placement hint: honoured by ignoring it, as any address is acceptable to a caller that gives none. */
const MEM_TOP_DOWN = 0x100000;
/** Valid VirtualAlloc types that are not emulated: MEM_RESET, MEM_RESET_UNDO, MEM_LARGE_PAGES, MEM_PHYSICAL. */
const NOT_EMULATED = 0x80000 | 0x1000000 | 0x20000000 | 0x400000;

/**
 * VirtualAlloc. Returns the base of the (page-rounded) range, or 0n with the last error set:
 * 87 for a zero size, unknown or missing type bits, MEM_WRITE_WATCH without MEM_RESERVE or a bad
 * protection; 487 to commit outside a reservation or to reserve where something is mapped; 50
 * for a type or protection not emulated (MEM_RESET, MEM_LARGE_PAGES, PAGE_EXECUTE_*, PAGE_GUARD…),
 * or MEM_WRITE_WATCH on a kernel without userfaultfd WP_ASYNC + PAGEMAP_SCAN (how Wine's tests and
 * the .NET GC recognise "write watch unsupported"). MEM_TOP_DOWN is accepted and ignored.
 */
export function virtualAlloc(address: bigint, size: number, allocationType: number, protect: number): bigint {
  const addr = checkAddress('address', address);
  checkSize('size', size);
  checkDword('allocationType', allocationType);
  checkDword('protect', protect);
  const result = allocate(addr, size, allocationType, protect);
  if (typeof result === 'number') {
    setNtStatus(result);
    return 0n;
  }
  return result;
}

function allocate(address: bigint, size: number, type: number, protect: number): bigint | number {
  if (size === 0) return STATUS_INVALID_PARAMETER;
  if (type & ~(MEM_COMMIT | MEM_RESERVE | MEM_WRITE_WATCH | MEM_TOP_DOWN | NOT_EMULATED)) return STATUS_INVALID_PARAMETER;
  if (type & NOT_EMULATED) return STATUS_NOT_SUPPORTED;
  if (!(type & (MEM_COMMIT | MEM_RESERVE))) return STATUS_INVALID_PARAMETER;
  if (type & MEM_WRITE_WATCH && !(type & MEM_RESERVE)) return STATUS_INVALID_PARAMETER;
  const bad = checkProtect(protect, true);
  if (bad) return bad;
  const page = getPageSize();
  const r = roundRange(address, size, page, range);
  // With no address, MEM_COMMIT alone reserves too (VirtualAlloc's documented shortcut).
  if (address !== 0n && !(type & MEM_RESERVE)) {
    if (r.outside) return STATUS_NOT_MAPPED_VIEW;
    const a = findAllocation(r.start, r.end);
    if (!a) return STATUS_NOT_MAPPED_VIEW;
    const status = commit(a, r.start, r.end, protect);
    return status || BigInt(r.start);
  }
  if (r.outside) return STATUS_INVALID_PARAMETER;
  const a = reserve(address === 0n ? undefined : BigInt(r.start), r.end - r.start, type, protect, page);
  if (typeof a === 'number') return a;
  if (type & MEM_COMMIT) a.prot.fill(protect);
  addAllocation(a);
  debug('VirtualAlloc 0x%s +0x%s type 0x%s protect %d%s', a.base.toString(16), a.size.toString(16), type.toString(16), protect, a.uffd ? ' (write watch)' : '');
  return BigInt(a.base);
}

/** Committing never writes: mprotect only, so a committed (or recommitted) page reads clean. */
function commit(a: Allocation, start: number, end: number, protect: number): number {
  const page = getPageSize();
  const status = mprotect(a, start, end, unixProt(protect));
  if (status) return status;
  a.prot.fill(protect, (start - a.base) / page, (end - a.base) / page);
  debug('commit 0x%s +0x%s protect %d', start.toString(16), (end - start).toString(16), protect);
  return 0;
}

/**
 * mprotect, with ENOMEM (the process hit vm.max_map_count: every protection boundary splits a
 * mapping) answered as Windows answers exhausted resources, STATUS_NO_MEMORY (last error 8).
 */
function mprotect(a: Allocation, start: number, end: number, prot: number): number {
  try {
    a.mapping.protect(start - a.base, end - start, prot);
    return 0;
  } catch (e) {
    if (e instanceof SystemCallError && e.code === 'ENOMEM') {
      debug('mprotect 0x%s: %s', start.toString(16), e.message);
      return STATUS_NO_MEMORY;
    }
    throw e;
  }
}

function reserve(at: bigint | undefined, length: number, type: number, protect: number, page: number): Allocation | number {
  const committed = (type & MEM_COMMIT) !== 0;
  let uffd: Userfaultfd | null = null;
  if (type & MEM_WRITE_WATCH) {
    try {
      checkPagemapOwner();
      selfScanner(); // opens /proc/self/pagemap: a sandbox that hides it fails here, not in GetWriteWatch
      uffd = Userfaultfd.open();
    } catch (e) {
      if (!(e instanceof UnsupportedError || e instanceof SystemCallError)) throw e;
      debug('MEM_WRITE_WATCH unsupported: %s', e.message);
      return STATUS_NOT_SUPPORTED;
    }
  }
  let mapping: Mapping;
  try {
    mapping = Mapping.anonymous(length, { prot: committed ? unixProt(protect) : PROT_NONE, noReserve: !committed, at });
  } catch (e) {
    uffd?.close();
    if (!(e instanceof SystemCallError)) throw e;
    debug('mmap failed: %s', e.message);
    if (e.code === 'EEXIST') return STATUS_CONFLICTING_ADDRESSES;
    // A fixed address the kernel cannot use at all (past the end of user space) is also a bad address.
    return at !== undefined ? STATUS_CONFLICTING_ADDRESSES : STATUS_NO_MEMORY;
  }
  if (uffd) {
    try {
      // A written transparent huge page would be reported 512 pages at a time.
      mapping.advise(0, length, MADV_NOHUGEPAGE);
      uffd.register(mapping.address, length);
      // Registration alone leaves every page reading as written: arm it all, so it starts clean.
      uffd.writeProtect(mapping.address, length);
    } catch (e) {
      uffd.close();
      mapping.release();
      if (!(e instanceof UnsupportedError || e instanceof SystemCallError)) throw e;
      debug('write-watch registration failed: %s', e.message);
      return STATUS_NOT_SUPPORTED;
    }
  }
  return new Allocation(mapping, uffd, page);
}

/**
 * VirtualFree. MEM_RELEASE needs size 0 and the allocation's base, and frees it all; MEM_DECOMMIT
 * frees the contents of every page the range touches (size 0 with the base: the whole allocation)
 * and clears their written state, so recommitting gives clean zero pages. Else false, 87.
 */
export function virtualFree(address: bigint, size: number, freeType: number): boolean {
  const addr = checkAddress('address', address);
  checkSize('size', size);
  checkDword('freeType', freeType);
  return setNtStatus(free(addr, size, freeType));
}

function free(address: bigint, size: number, type: number): number {
  const page = getPageSize();
  const r = roundRange(address, size, page, range);
  if (r.outside) return STATUS_INVALID_PARAMETER;
  const a = findAllocation(r.start, r.empty ? r.start : r.end);
  if (!a) return STATUS_INVALID_PARAMETER;
  if (type === MEM_RELEASE) {
    if (size !== 0 || r.start !== a.base) return STATUS_INVALID_PARAMETER;
    release(a);
    return 0;
  }
  if (type === MEM_DECOMMIT) {
    let { start, end } = r;
    if (r.empty) {
      if (start !== a.base) return STATUS_INVALID_PARAMETER;
      end = a.end;
    }
    return decommit(a, start, end);
  }
  return STATUS_INVALID_PARAMETER;
}

function release(a: Allocation): void {
  removeAllocation(a);
  try {
    a.uffd?.close(); // the kernel drops this allocation's registration
  } catch (e) {
    debug('closing userfaultfd failed: %o', e);
  }
  // Detaches every viewMemory() buffer first, so a stale view cannot fault the process.
  a.mapping.release();
  debug('VirtualFree MEM_RELEASE 0x%s', a.base.toString(16));
}

function decommit(a: Allocation, start: number, end: number): number {
  const off = start - a.base;
  const len = end - start;
  const page = getPageSize();
  const status = mprotect(a, start, end, PROT_NONE);
  if (status) return status;
  a.mapping.advise(off, len, MADV_DONTNEED);
  a.prot.fill(0, off / page, (end - a.base) / page);
  // MADV_DONTNEED zaps the PTEs, and a zapped entry reads as written until armed again: re-arm
  // after the zap, so decommitted pages read clean and recommitting does not dirty them.
  try {
    a.uffd?.writeProtect(start, len);
  } catch (e) {
    const lost = lostFromWriteProtect(e, start, end);
    if (!(lost instanceof LostError)) throw lost;
    // The pages are decommitted either way; GetWriteWatch will report the lost tracking (87).
    debug('decommit 0x%s: %s', start.toString(16), lost.message);
  }
  debug('decommit 0x%s +0x%s', start.toString(16), len.toString(16));
  return 0;
}

/**
 * VirtualProtect. NULL `oldProtect` fails first with 998 (Wine checks it before anything else);
 * then a range not inside one allocation is 87, a page in it not committed is 487, a bad
 * protection 87. `oldProtect.value` receives the protection of the first page. Changing
 * protection is never a write and never clears the written state: mprotect keeps uffd-wp bits.
 */
export function virtualProtect(address: bigint, size: number, newProtect: number, oldProtect: Box | null): boolean {
  const addr = checkAddress('address', address);
  checkSize('size', size);
  checkDword('newProtect', newProtect);
  const old = checkBox('oldProtect', oldProtect);
  return setNtStatus(protectRange(addr, size, newProtect, old));
}

function protectRange(address: bigint, size: number, protect: number, old: Box | null): number {
  if (!old) return STATUS_ACCESS_VIOLATION;
  const page = getPageSize();
  const r = roundRange(address, size, page, range);
  if (r.outside || r.empty) return STATUS_INVALID_PARAMETER;
  const a = findAllocation(r.start, r.end);
  if (!a) return STATUS_INVALID_PARAMETER;
  const first = (r.start - a.base) / page;
  const last = (r.end - a.base) / page;
  for (let i = first; i < last; i++) if (a.prot[i] === 0) return STATUS_NOT_COMMITTED;
  const bad = checkProtect(protect, false);
  if (bad) return bad;
  const previous = a.prot[first];
  const status = mprotect(a, r.start, r.end, unixProt(protect));
  if (status) return status;
  a.prot.fill(protect, first, last);
  old.value = previous;
  return 0;
}
