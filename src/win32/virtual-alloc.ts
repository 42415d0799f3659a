/**
 * VirtualAlloc over anonymous mmap memory, with Windows' return values, last errors and check
 * order (Wine's NtAllocateVirtualMemory, whose behaviour Wine's tests pin on real Windows).
 *
 * Reserved-only pages are PROT_NONE (MAP_NORESERVE), so touching them faults as on Windows. A
 * MEM_WRITE_WATCH allocation is registered whole with its own userfaultfd in async write-protect
 * mode (PROT_NONE ranges can be registered, and the uffd-wp bits survive mprotect), then armed
 * so that it starts clean.
 */
import createDebug from 'debug';
import { SystemCallError, UnsupportedError, isResourceError } from '../errors.js';
import { MADV_NOHUGEPAGE, PROT_NONE } from '../sys/libc/abi.js';
import { getPageSize } from '../sys/platform.js';
import { Mapping } from '../memory/mapping.js';
import { mechanismNamed, type Tracker } from '../mechanisms/index.js';
import { Claim, KIND } from '../ownership/claim.js';
import { Allocation, addAllocation, findAllocation } from './allocations.js';
import { checkAddress, checkDword, checkSize } from './args.js';
import {
  MEM_COMMIT,
  MEM_RESERVE,
  MEM_WRITE_WATCH,
  STATUS_CONFLICTING_ADDRESSES,
  STATUS_INVALID_PARAMETER,
  STATUS_NO_MEMORY,
  STATUS_NOT_MAPPED_VIEW,
  STATUS_NOT_SUPPORTED,
} from './constants.js';
import { setNtStatus } from './last-error.js';
import { checkProtect, unixProt } from './protection.js';
import { newRange, roundRange } from './range.js';

const debug = createDebug('writewatch:win32');

const range = newRange();

/** Only a preference for high addresses: ignoring it is a valid placement. */
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
  debug('VirtualAlloc 0x%s +0x%s type 0x%s protect %d%s', a.base.toString(16), a.size.toString(16), type.toString(16), protect, a.tracker ? ' (write watch)' : '');
  return BigInt(a.base);
}

/** Committing never writes: mprotect only, so a committed (or recommitted) page reads clean. */
function commit(a: Allocation, start: number, end: number, protect: number): number {
  const page = getPageSize();
  const status = a.protect(start, end, unixProt(protect));
  if (status) return status;
  a.prot.fill(protect, (start - a.base) / page, (end - a.base) / page);
  debug('commit 0x%s +0x%s protect %d', start.toString(16), (end - start).toString(16), protect);
  return 0;
}

function reserve(at: bigint | undefined, length: number, type: number, protect: number, page: number): Allocation | number {
  const committed = (type & MEM_COMMIT) !== 0;
  let mapping: Mapping;
  try {
    mapping = Mapping.anonymous(length, { prot: committed ? unixProt(protect) : PROT_NONE, noReserve: !committed, at });
  } catch (e) {
    if (!(e instanceof SystemCallError)) throw e;
    debug('mmap failed: %s', e.message);
    if (e.code === 'EEXIST') return STATUS_CONFLICTING_ADDRESSES;
    // A fixed address the kernel cannot use at all (past the end of user space) is also a bad address.
    return at !== undefined ? STATUS_CONFLICTING_ADDRESSES : STATUS_NO_MEMORY;
  }
  const start = mapping.address;
  const end = start + length;
  let claim: Claim | null = null;
  let tracker: Tracker | null = null;
  try {
    if (type & MEM_WRITE_WATCH) {
      // A written transparent huge page would be reported 512 pages at a time.
      mapping.advise(0, length, MADV_NOHUGEPAGE);
      // mmap just placed this memory: whatever tracked it before lost it, whatever the mechanism
      // proves (the claim is this front's to take).
      tracker = mechanismNamed('write-protect').track(start, end, mapping, (s, e, _proof, fdSlot) => {
        claim = Claim.take(s, e, { kind: KIND.WATCH | KIND.UFFD | KIND.MAPPED, aux: fdSlot, proof: 'mapped' });
      });
    } else {
      claim = Claim.take(start, end, { kind: KIND.MAPPED, proof: 'mapped' });
    }
  } catch (e) {
    (claim as Claim | null)?.close();
    mapping.release(); // ours: mapped a moment ago
    if (!(e instanceof UnsupportedError || e instanceof SystemCallError)) throw e;
    // Out of fds or memory is Windows' "not enough resources" (8), never 50: Wine's tests and the
    // .NET GC read 50 as "write watch unsupported" and never ask again.
    if (isResourceError(e)) return STATUS_NO_MEMORY;
    debug('MEM_WRITE_WATCH unsupported: %s', e.message);
    return STATUS_NOT_SUPPORTED;
  }
  return new Allocation(mapping, tracker, claim as unknown as Claim, page);
}
