/**
 * kernel32's numbers and the two struct layouts this library reads, for x64 Windows (winnt.h,
 * winerror.h, memoryapi.h, sysinfoapi.h). Nothing here calls Windows; test/00.kernel32-abi.test.ts
 * pins every value, and that they agree with writewatch/win32's constants.
 */

// VirtualAlloc flAllocationType / VirtualFree dwFreeType
export const MEM_COMMIT = 0x1000;
export const MEM_RESERVE = 0x2000;
export const MEM_DECOMMIT = 0x4000;
export const MEM_RELEASE = 0x8000;
export const MEM_RESET = 0x80000;
export const MEM_FREE = 0x10000;
export const MEM_PRIVATE = 0x20000;
export const MEM_WRITE_WATCH = 0x200000;

// Memory protection constants
export const PAGE_NOACCESS = 0x01;
export const PAGE_READONLY = 0x02;
export const PAGE_READWRITE = 0x04;

/** GetWriteWatch dwFlags: also reset what it returns, in the same call. */
export const WRITE_WATCH_FLAG_RESET = 0x01;
/** GetWriteWatch / ResetWriteWatch failure return: (UINT)-1. */
export const WRITE_WATCH_FAILED = 0xffffffff;

/** Win32 error codes (GetLastError) this library names in messages and `.code`. */
export const WIN32_ERRORS: Readonly<Record<number, string>> = {
  0: 'ERROR_SUCCESS',
  5: 'ERROR_ACCESS_DENIED',
  8: 'ERROR_NOT_ENOUGH_MEMORY',
  14: 'ERROR_OUTOFMEMORY',
  50: 'ERROR_NOT_SUPPORTED',
  87: 'ERROR_INVALID_PARAMETER',
  487: 'ERROR_INVALID_ADDRESS',
  998: 'ERROR_NOACCESS',
  1455: 'ERROR_COMMITMENT_LIMIT',
};
export const ERROR_INVALID_PARAMETER = 87;

/** ERROR_NOT_ENOUGH_MEMORY & co.: the process or the system ran out, not "unsupported". */
export const RESOURCE_ERRORS: readonly number[] = [8, 14, 1455];

/**
 * MEMORY_BASIC_INFORMATION (x64: 48 bytes). Byte offsets. PartitionId is a WORD that newer SDKs
 * put in what used to be padding after AllocationProtect.
 */
export const MEMORY_BASIC_INFORMATION = {
  BaseAddress: 0,
  AllocationBase: 8,
  AllocationProtect: 16,
  PartitionId: 20,
  RegionSize: 24,
  State: 32,
  Protect: 36,
  Type: 40,
} as const;
export const MEMORY_BASIC_INFORMATION_SIZE = 48;

/** SYSTEM_INFO (x64: 48 bytes). Byte offsets. */
export const SYSTEM_INFO = {
  wProcessorArchitecture: 0,
  wReserved: 2,
  dwPageSize: 4,
  lpMinimumApplicationAddress: 8,
  lpMaximumApplicationAddress: 16,
  dwActiveProcessorMask: 24,
  dwNumberOfProcessors: 32,
  dwProcessorType: 36,
  dwAllocationGranularity: 40,
  wProcessorLevel: 44,
  wProcessorRevision: 46,
} as const;
export const SYSTEM_INFO_SIZE = 48;

/** RTL_OSVERSIONINFOW (276 bytes): dwOSVersionInfoSize must hold the size on input. Byte offsets. */
export const RTL_OSVERSIONINFOW = {
  dwOSVersionInfoSize: 0,
  dwMajorVersion: 4,
  dwMinorVersion: 8,
  dwBuildNumber: 12,
  dwPlatformId: 16,
  szCSDVersion: 20,
} as const;
export const RTL_OSVERSIONINFOW_SIZE = 276;

/** The name of a Win32 error code, or `Win32 error N` for one not in the table. */
export function win32ErrorName(code: number): string {
  return Object.hasOwn(WIN32_ERRORS, code) ? WIN32_ERRORS[code] : `Win32 error ${code}`;
}
