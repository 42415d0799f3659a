/**
 * A failed kernel32 call, shaped like Node's system errors and the library's SystemCallError:
 * `code` is the Win32 error's name (ERROR_INVALID_PARAMETER), `errno` its number (GetLastError),
 * `syscall` the function.
 */
import { RESOURCE_ERRORS, win32ErrorName } from './abi.js';
import { kernel32 } from './raw.js';

export class Win32Error extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  constructor(syscall: string, errno: number, detail?: string) {
    const name = win32ErrorName(errno);
    super(`${syscall} failed: ${name} (${errno})${detail ? ` (${detail})` : ''}`);
    this.name = 'Win32Error';
    this.code = name;
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** The thread's last error as a Win32Error: call it right after the failing call, nothing in between. */
export function lastWin32Error(syscall: string, detail?: string): Win32Error {
  return new Win32Error(syscall, kernel32().GetLastError(), detail);
}

/** ERROR_NOT_ENOUGH_MEMORY, ERROR_OUTOFMEMORY, ERROR_COMMITMENT_LIMIT: retry once memory is free. */
export function isWin32ResourceError(e: unknown): boolean {
  return e instanceof Win32Error && RESOURCE_ERRORS.includes(e.errno);
}
