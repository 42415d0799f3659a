/** VirtualFree's rules (NtFreeVirtualMemory's, with kernelbase's first check), over any Space. */
import createDebug from 'debug';
import { MEM_DECOMMIT, MEM_RELEASE, STATUS_FREE_VM_NOT_AT_BASE, STATUS_INVALID_PARAMETER, STATUS_MEMORY_NOT_ALLOCATED } from '../constants.js';
import { newRange, roundRange } from '../range.js';
import { LATCHED, PROTECTION, STICKY, type Space } from '../space.js';
import { clearFlags, pageOf, setFlags } from './frame.js';

const debug = createDebug('writewatch:win32');

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
