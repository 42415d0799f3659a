/**
 * koffi declarations of the kernel32 and ntdll functions the Windows mechanism and writewatch/win32
 * call, one to one with their C prototypes (x64: one calling convention, so no __stdcall). Loaded
 * on first use, and only on Windows: importing the package elsewhere never touches kernel32.dll.
 *
 * Addresses the hot path passes (GetWriteWatch's base, ResetWriteWatch's) are `uintptr_t` given as
 * numbers: a BigInt would be an allocation per call. Out-parameters are `void *` so that a typed
 * array or `null` (NULL) can be passed, as Windows' own tests do.
 *
 * GetLastError through koffi is reliable right after the call: koffi saves the thread's last error
 * when a call returns and restores it before the next, so nothing koffi or Node does in between
 * (measured under Wine: a SetLastError(0xdeadbeef) survives successful calls) clobbers it.
 */
import koffi from 'koffi';
import { UnsupportedError } from '../../errors.js';

/** A buffer Windows reads or writes in place: an off-heap typed array, a raw address, or NULL. */
export type Ptr = ArrayBufferView | ArrayBuffer | bigint | null;

export interface Kernel32 {
  VirtualAlloc(lpAddress: bigint | number | null, dwSize: number, flAllocationType: number, flProtect: number): bigint | null;
  VirtualFree(lpAddress: bigint | number, dwSize: number, dwFreeType: number): number;
  VirtualProtect(lpAddress: bigint | number, dwSize: number, flNewProtect: number, lpflOldProtect: Ptr): number;
  VirtualQuery(lpAddress: bigint | number, lpBuffer: Ptr, dwLength: number): number;
  GetWriteWatch(dwFlags: number, lpBaseAddress: number | bigint, dwRegionSize: number, lpAddresses: Ptr, lpdwCount: Ptr, lpdwGranularity: Ptr): number;
  ResetWriteWatch(lpBaseAddress: number | bigint, dwRegionSize: number): number;
  GetSystemInfo(lpSystemInfo: Ptr): void;
  GetLastError(): number;
  SetLastError(dwErrCode: number): void;
  /**
   * ntdll: NTSTATUS NtGetWriteWatch / NtResetWriteWatch, what kernelbase's GetWriteWatch and
   * ResetWriteWatch call (ProcessHandle -1n: GetCurrentProcess()'s pseudo-handle). The status is
   * read unsigned, as ntstatus.h writes it (0xC0000005). They never touch the last error.
   */
  NtGetWriteWatch(ProcessHandle: bigint | number, Flags: number, BaseAddress: number | bigint, RegionSize: number, UserAddressArray: Ptr, EntriesInUserAddressArray: Ptr, Granularity: Ptr): number;
  NtResetWriteWatch(ProcessHandle: bigint | number, BaseAddress: number | bigint, RegionSize: number): number;
  /** ntdll: NTSTATUS RtlGetVersion(RTL_OSVERSIONINFOW *): the true version, unlike GetVersionEx. */
  RtlGetVersion(lpVersionInformation: Ptr): number;
  /** ntdll's Wine-only export ("8.0"), null on Windows. */
  wine_get_version: (() => string) | null;
}

let loaded: Kernel32 | undefined;

/** kernel32 and ntdll, loaded on first call; throws ERR_WRITEWATCH_UNSUPPORTED off Windows. */
export function kernel32(): Kernel32 {
  return (loaded ??= load());
}

/** Whether kernel32 was loaded in this thread (tests: nothing may load it off Windows). */
export function kernel32Loaded(): boolean {
  return loaded !== undefined;
}

function load(): Kernel32 {
  if (process.platform !== 'win32') {
    throw new UnsupportedError(`kernel32 exists only on Windows; this is ${process.platform}`);
  }
  if (process.arch !== 'x64') {
    // The struct layouts of abi.ts are x64's; arm64 Windows would need its own checks first.
    throw new UnsupportedError(`writewatch on Windows needs x64; this is ${process.arch}`);
  }
  const k32 = koffi.load('kernel32.dll');
  const ntdll = koffi.load('ntdll.dll');
  const f = (lib: ReturnType<typeof koffi.load>, proto: string) => lib.func(proto) as (...args: any[]) => any;
  let wineGetVersion: (() => string) | null = null;
  try {
    wineGetVersion = f(ntdll, 'const char *wine_get_version()');
  } catch {
    // Not exported: this is Windows itself.
  }
  return {
    VirtualAlloc: f(k32, 'void *VirtualAlloc(void *lpAddress, size_t dwSize, uint32_t flAllocationType, uint32_t flProtect)'),
    VirtualFree: f(k32, 'int VirtualFree(uintptr_t lpAddress, size_t dwSize, uint32_t dwFreeType)'),
    VirtualProtect: f(k32, 'int VirtualProtect(uintptr_t lpAddress, size_t dwSize, uint32_t flNewProtect, void *lpflOldProtect)'),
    VirtualQuery: f(k32, 'size_t VirtualQuery(uintptr_t lpAddress, void *lpBuffer, size_t dwLength)'),
    GetWriteWatch: f(
      k32,
      'uint32_t GetWriteWatch(uint32_t dwFlags, uintptr_t lpBaseAddress, size_t dwRegionSize, void *lpAddresses, void *lpdwCount, void *lpdwGranularity)',
    ),
    ResetWriteWatch: f(k32, 'uint32_t ResetWriteWatch(uintptr_t lpBaseAddress, size_t dwRegionSize)'),
    GetSystemInfo: f(k32, 'void GetSystemInfo(void *lpSystemInfo)'),
    GetLastError: f(k32, 'uint32_t GetLastError()'),
    SetLastError: f(k32, 'void SetLastError(uint32_t dwErrCode)'),
    NtGetWriteWatch: f(
      ntdll,
      'uint32_t NtGetWriteWatch(intptr_t ProcessHandle, uint32_t Flags, uintptr_t BaseAddress, size_t RegionSize, void *UserAddressArray, void *EntriesInUserAddressArray, void *Granularity)',
    ),
    NtResetWriteWatch: f(ntdll, 'uint32_t NtResetWriteWatch(intptr_t ProcessHandle, uintptr_t BaseAddress, size_t RegionSize)'),
    RtlGetVersion: f(ntdll, 'int32_t RtlGetVersion(void *lpVersionInformation)'),
    wine_get_version: wineGetVersion,
  };
}
