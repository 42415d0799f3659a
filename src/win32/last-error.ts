/**
 * The thread's last error (GetLastError/SetLastError). JS runs this module on one thread per
 * isolate, so a module-level value is per-thread, as on Windows (allocations are the process's:
 * see process/table.ts; the last error stays the thread's). Only the Win32-level functions set
 * it, and only on failure: Windows leaves it alone on success, and the Nt* functions never touch it.
 */
import { checkLastError } from './args.js';
import {
  ERROR_INVALID_ADDRESS,
  ERROR_INVALID_PARAMETER,
  ERROR_NOACCESS,
  ERROR_NOT_ENOUGH_MEMORY,
  ERROR_NOT_SUPPORTED,
  STATUS_ACCESS_VIOLATION,
  STATUS_CONFLICTING_ADDRESSES,
  STATUS_INVALID_PARAMETER,
  STATUS_NO_MEMORY,
  STATUS_FREE_VM_NOT_AT_BASE,
  STATUS_MEMORY_NOT_ALLOCATED,
  STATUS_NOT_COMMITTED,
  STATUS_NOT_MAPPED_VIEW,
  STATUS_NOT_SUPPORTED,
} from './constants.js';

let lastError = 0;

/** GetLastError. */
export function getLastError(): number {
  return lastError;
}

/**
 * SetLastError (Wine's tests seed it with 0xdeadbeef to prove a call set it). A DWORD; a negative
 * int32 is taken as C converts it (SetLastError(-1) stores 0xFFFFFFFF). Anything else throws as
 * every other function does: not a number → ERR_INVALID_ARG_TYPE; NaN, a fraction or outside
 * [-2^31, 2^32) → ERR_OUT_OF_RANGE.
 */
export function setLastError(code: number): void {
  lastError = checkLastError(code);
}

/** RtlNtStatusToDosError for the statuses this module produces. */
export function ntStatusToDosError(status: number): number {
  switch (status) {
    case STATUS_INVALID_PARAMETER:
      return ERROR_INVALID_PARAMETER;
    case STATUS_ACCESS_VIOLATION:
      return ERROR_NOACCESS;
    case STATUS_NOT_SUPPORTED:
      return ERROR_NOT_SUPPORTED;
    case STATUS_NOT_COMMITTED:
    case STATUS_NOT_MAPPED_VIEW:
    case STATUS_FREE_VM_NOT_AT_BASE:
    case STATUS_MEMORY_NOT_ALLOCATED:
    case STATUS_CONFLICTING_ADDRESSES:
      return ERROR_INVALID_ADDRESS;
    case STATUS_NO_MEMORY:
      return ERROR_NOT_ENOUGH_MEMORY;
    default:
      return 317; // ERROR_MR_MID_NOT_FOUND, what Windows answers for a status it has no mapping for
  }
}

/** kernelbase's set_ntstatus: sets the last error on failure; true on success. */
export function setNtStatus(status: number): boolean {
  if (status !== 0) lastError = ntStatusToDosError(status);
  return status === 0;
}
