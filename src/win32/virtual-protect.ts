/**
 * VirtualProtect (Wine's NtProtectVirtualMemory order). Protection lives in the page tables next
 * to the uffd-wp bits, and mprotect keeps those: a protection change is never a write and never
 * clears one.
 */
import { getPageSize } from '../sys/platform.js';
import { type Allocation, findAllocation } from './allocations.js';
import { checkAddress, checkBox, checkDword, checkSize, writable, type Box } from './args.js';
import { STATUS_ACCESS_VIOLATION, STATUS_INVALID_PARAMETER, STATUS_NOT_COMMITTED } from './constants.js';
import { setNtStatus } from './last-error.js';
import { checkProtect, unixProt } from './protection.js';
import { newRange, roundRange } from './range.js';

const range = newRange();

/**
 * VirtualProtect. NULL or unwritable `oldProtect` (frozen, getter-only, a Proxy whose set throws:
 * an unwritable pointer) fails first with 998 (Wine checks it before anything else);
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
  if (!old || !writable(old)) return STATUS_ACCESS_VIOLATION;
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
  const before = a.prot.slice(first, last);
  const status = a.protect(r.start, r.end, unixProt(protect));
  if (status) return status;
  a.prot.fill(protect, first, last);
  try {
    old.value = previous;
    return 0;
  } catch {
    // Probed writable, yet its setter threw: put every page's protection back, then 998.
    restore(a, first, before, page);
    return STATUS_ACCESS_VIOLATION;
  }
}

/** Re-applies the protections `before` held for the pages from `first`, run by run. */
function restore(a: Allocation, first: number, before: Uint8Array, page: number): void {
  for (let i = 0; i < before.length; ) {
    let j = i + 1;
    while (j < before.length && before[j] === before[i]) j++;
    const start = a.base + (first + i) * page;
    a.protect(start, start + (j - i) * page, unixProt(before[i]));
    a.prot.fill(before[i], first + i, first + j);
    i = j;
  }
}
