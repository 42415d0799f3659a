/**
 * Windows' numbers, as winnt.h, winerror.h and ntstatus.h define them. Callers compare against
 * these exact values, so nothing here is ours to choose. Pinned by test/20.win32.constants.test.ts.
 */

// GetWriteWatch dwFlags
export const WRITE_WATCH_FLAG_RESET = 0x01;

// VirtualAlloc flAllocationType / VirtualFree dwFreeType
export const MEM_COMMIT = 0x1000;
export const MEM_RESERVE = 0x2000;
export const MEM_DECOMMIT = 0x4000;
export const MEM_RELEASE = 0x8000;
export const MEM_WRITE_WATCH = 0x200000;

// Memory protection constants
export const PAGE_NOACCESS = 0x01;
export const PAGE_READONLY = 0x02;
export const PAGE_READWRITE = 0x04;

// Win32 error codes (GetLastError)
export const ERROR_SUCCESS = 0;
export const ERROR_NOT_ENOUGH_MEMORY = 8;
export const ERROR_NOT_SUPPORTED = 50;
export const ERROR_INVALID_PARAMETER = 87;
export const ERROR_INVALID_ADDRESS = 487;
export const ERROR_NOACCESS = 998;

// NTSTATUS values (unsigned 32-bit, as they print in Windows' own tools)
export const STATUS_SUCCESS = 0;
export const STATUS_ACCESS_VIOLATION = 0xc0000005;
export const STATUS_INVALID_PARAMETER = 0xc000000d;
export const STATUS_NO_MEMORY = 0xc0000017;
export const STATUS_CONFLICTING_ADDRESSES = 0xc0000018;
export const STATUS_NOT_MAPPED_VIEW = 0xc0000019;
export const STATUS_NOT_COMMITTED = 0xc000002d;
export const STATUS_NOT_SUPPORTED = 0xc00000bb;

/** GetWriteWatch / ResetWriteWatch failure return: (UINT)-1. */
export const WRITE_WATCH_FAILED = 0xffffffff;
