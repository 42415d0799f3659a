/**
 * VirtualFree: MEM_RELEASE unmaps an allocation (after detaching every view of it), MEM_DECOMMIT
 * drops the contents of pages and clears their written state (Wine's NtFreeVirtualMemory order).
 */
import createDebug from 'debug';
import { LostError } from '../errors.js';
import { MADV_DONTNEED, PROT_NONE } from '../sys/libc/abi.js';
import { getPageSize } from '../sys/platform.js';
import { newQuery } from '../mechanisms/index.js';
import { type Allocation, findAllocation, removeAllocation } from './allocations.js';
import { checkAddress, checkDword, checkSize } from './args.js';
import { MEM_DECOMMIT, MEM_RELEASE, STATUS_INVALID_PARAMETER } from './constants.js';
import { setNtStatus } from './last-error.js';
import { newRange, roundRange } from './range.js';

const debug = createDebug('writewatch:win32');

const range = newRange();
const query = newQuery();

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
  // Closes the userfaultfd, detaches every viewMemory() buffer (a stale view cannot fault the
  // process), and unmaps only memory that is still this allocation's.
  a.dispose();
  debug('VirtualFree MEM_RELEASE 0x%s', a.base.toString(16));
}

function decommit(a: Allocation, start: number, end: number): number {
  const off = start - a.base;
  const len = end - start;
  const page = getPageSize();
  const status = a.protect(start, end, PROT_NONE);
  if (status) return status;
  a.mapping.advise(off, len, MADV_DONTNEED);
  a.prot.fill(0, off / page, (end - a.base) / page);
  // MADV_DONTNEED zaps the PTEs, and a zapped entry reads as written until armed again: re-arm
  // after the zap, so decommitted pages read clean and recommitting does not dirty them.
  if (a.tracker) {
    const q = query;
    q.bounds[0] = start;
    q.bounds[1] = end;
    q.bounds[2] = 0;
    try {
      a.tracker.rearm(q);
    } catch (e) {
      if (!(e instanceof LostError)) throw e;
      // The pages are decommitted either way; GetWriteWatch will report the lost tracking (87).
      debug('decommit 0x%s: %s', start.toString(16), e.message);
    }
  }
  debug('decommit 0x%s +0x%s', start.toString(16), len.toString(16));
  return 0;
}
