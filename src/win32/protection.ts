/**
 * Windows page protections: which values VirtualAlloc and VirtualProtect accept (Wine's
 * get_vprot_flags and its tests, which run on Windows), and what each becomes on Linux.
 *
 * - PAGE_EXECUTE* map the memory executable (PROT_EXEC); PAGE_EXECUTE alone is PROT_READ|PROT_EXEC,
 *   as Linux cannot map execute-only memory on x86_64 either.
 * - PAGE_WRITECOPY / PAGE_EXECUTE_WRITECOPY (VirtualProtect only; private memory has nothing to
 *   copy) behave as their read-write forms.
 * - PAGE_GUARD is recorded and reported (VirtualQuery, oldProtect); the memory is mapped with the
 *   base protection. A Windows guard page raises STATUS_GUARD_PAGE_VIOLATION on first touch and
 *   then drops the flag; a JS access cannot raise a Windows exception (a PROT_NONE page would kill
 *   the process with SIGSEGV), so that one-shot exception is not emulated.
 * - PAGE_NOCACHE / PAGE_WRITECOMBINE are recorded and reported; Linux has no per-page cache
 *   attribute for anonymous memory, so they change nothing else.
 */
import { PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE } from '../sys/libc/abi.js';
import {
  PAGE_EXECUTE,
  PAGE_EXECUTE_READ,
  PAGE_EXECUTE_READWRITE,
  PAGE_EXECUTE_WRITECOPY,
  PAGE_GUARD,
  PAGE_NOACCESS,
  PAGE_NOCACHE,
  PAGE_READONLY,
  PAGE_READWRITE,
  PAGE_WRITECOMBINE,
  PAGE_WRITECOPY,
  STATUS_INVALID_PARAMETER,
} from './constants.js';

const MODIFIERS = PAGE_GUARD | PAGE_NOCACHE | PAGE_WRITECOMBINE;

/** The mprotect bits for a valid PAGE_* value (modifiers ignored). */
export function unixProt(protect: number): number {
  switch (protect & 0xff) {
    case PAGE_READONLY:
      return PROT_READ;
    case PAGE_READWRITE:
    case PAGE_WRITECOPY:
      return PROT_READ | PROT_WRITE;
    case PAGE_EXECUTE:
    case PAGE_EXECUTE_READ:
      return PROT_READ | PROT_EXEC;
    case PAGE_EXECUTE_READWRITE:
    case PAGE_EXECUTE_WRITECOPY:
      return PROT_READ | PROT_WRITE | PROT_EXEC;
    default:
      return PROT_NONE;
  }
}

/**
 * 0 when Windows accepts `protect`; else STATUS_INVALID_PARAMETER: 0, two base protections,
 * unknown bits, PAGE_NOCACHE with PAGE_WRITECOMBINE, a modifier on PAGE_NOACCESS, and (`forAlloc`)
 * the copy-on-write protections, which VirtualAlloc refuses and VirtualProtect accepts.
 */
export function checkProtect(protect: number, forAlloc: boolean): number {
  if (protect & ~(0xff | MODIFIERS)) return STATUS_INVALID_PARAMETER;
  const base = protect & 0xff;
  // Exactly one base protection bit.
  if (base === 0 || (base & (base - 1)) !== 0) return STATUS_INVALID_PARAMETER;
  if (forAlloc && (base === PAGE_WRITECOPY || base === PAGE_EXECUTE_WRITECOPY)) return STATUS_INVALID_PARAMETER;
  const mods = protect & MODIFIERS;
  if (mods && base === PAGE_NOACCESS) return STATUS_INVALID_PARAMETER;
  if ((mods & PAGE_NOCACHE) !== 0 && (mods & PAGE_WRITECOMBINE) !== 0) return STATUS_INVALID_PARAMETER;
  if ((mods & PAGE_GUARD) !== 0 && (mods & (PAGE_NOCACHE | PAGE_WRITECOMBINE)) !== 0) return STATUS_INVALID_PARAMETER;
  return 0;
}
