/**
 * Windows page protections and their Linux equivalents. Only PAGE_NOACCESS, PAGE_READONLY and
 * PAGE_READWRITE are emulated; the other protections Windows accepts (execute, guard, no-cache,
 * write-combine) fail with ERROR_NOT_SUPPORTED so a caller can tell "not here" from "invalid".
 */
import { PROT_NONE, PROT_READ, PROT_WRITE } from '../sys/libc/abi.js';
import { PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED } from './constants.js';

const PAGE_EXECUTE = 0x10;
const PAGE_EXECUTE_READ = 0x20;
const PAGE_EXECUTE_READWRITE = 0x40;
const PAGE_EXECUTE_WRITECOPY = 0x80;
const PAGE_WRITECOPY = 0x08;
const MODIFIERS = 0x100 /* PAGE_GUARD */ | 0x200 /* PAGE_NOCACHE */ | 0x400; /* PAGE_WRITECOMBINE */

/** The mprotect bits for a supported PAGE_* value. */
export function unixProt(protect: number): number {
  switch (protect) {
    case PAGE_READONLY:
      return PROT_READ;
    case PAGE_READWRITE:
      return PROT_READ | PROT_WRITE;
    default:
      return PROT_NONE;
  }
}

/**
 * 0 when `protect` is one we emulate; STATUS_NOT_SUPPORTED for a valid Windows protection we do
 * not; STATUS_INVALID_PARAMETER otherwise (0, two base protections, unknown bits), as Windows.
 * `forAlloc`: VirtualAlloc refuses the copy-on-write protections that VirtualProtect accepts.
 */
export function checkProtect(protect: number, forAlloc: boolean): number {
  if (protect === PAGE_NOACCESS || protect === PAGE_READONLY || protect === PAGE_READWRITE) return 0;
  const base = protect & ~MODIFIERS;
  const supported = base === PAGE_NOACCESS || base === PAGE_READONLY || base === PAGE_READWRITE;
  const executable = base === PAGE_EXECUTE || base === PAGE_EXECUTE_READ || base === PAGE_EXECUTE_READWRITE;
  const copy = base === PAGE_WRITECOPY || base === PAGE_EXECUTE_WRITECOPY;
  if (supported || executable || (copy && !forAlloc)) return STATUS_NOT_SUPPORTED;
  return STATUS_INVALID_PARAMETER;
}
