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
export const MEM_RESET = 0x80000;
export const MEM_TOP_DOWN = 0x100000;
export const MEM_RESET_UNDO = 0x1000000;
export const MEM_LARGE_PAGES = 0x20000000;
export const MEM_PHYSICAL = 0x400000;

// MEMORY_BASIC_INFORMATION State and Type
export const MEM_FREE = 0x10000;
export const MEM_PRIVATE = 0x20000;
export const MEM_MAPPED = 0x40000;
export const MEM_IMAGE = 0x1000000;

// Memory protection constants
export const PAGE_NOACCESS = 0x01;
export const PAGE_READONLY = 0x02;
export const PAGE_READWRITE = 0x04;
export const PAGE_WRITECOPY = 0x08;
export const PAGE_EXECUTE = 0x10;
export const PAGE_EXECUTE_READ = 0x20;
export const PAGE_EXECUTE_READWRITE = 0x40;
export const PAGE_EXECUTE_WRITECOPY = 0x80;
export const PAGE_GUARD = 0x100;
export const PAGE_NOCACHE = 0x200;
export const PAGE_WRITECOMBINE = 0x400;

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
export const STATUS_FREE_VM_NOT_AT_BASE = 0xc000009f;
export const STATUS_MEMORY_NOT_ALLOCATED = 0xc00000a0;
export const STATUS_NOT_SUPPORTED = 0xc00000bb;

/** SYSTEM_INFO.dwAllocationGranularity: every reservation's base is a multiple of it. */
export const ALLOCATION_GRANULARITY = 0x10000;
/** sizeof(MEMORY_BASIC_INFORMATION) on 64-bit Windows: what VirtualQuery returns on success. */
export const MEMORY_BASIC_INFORMATION_SIZE = 48;

/** GetWriteWatch / ResetWriteWatch failure return: (UINT)-1. */
export const WRITE_WATCH_FAILED = 0xffffffff;
