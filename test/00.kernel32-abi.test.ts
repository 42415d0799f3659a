/**
 * src/sys/kernel32/abi.ts: the numbers and layouts are Windows' (winnt.h, winerror.h, memoryapi.h,
 * sysinfoapi.h; the x64 layouts), and agree with writewatch/win32's constants. Pure data: runs on
 * every platform. test/20.kernel32.raw.test.ts checks the layouts against the real kernel32.
 */
import { describe, expect, it } from 'vitest';
import * as abi from '../src/sys/kernel32/abi.js';
import * as w from '../src/win32/constants.js';

describe('src/sys/kernel32/abi.ts', () => {
  it('pins the allocation, protection and write-watch numbers', () => {
    expect([abi.MEM_COMMIT, abi.MEM_RESERVE, abi.MEM_DECOMMIT, abi.MEM_RELEASE, abi.MEM_RESET, abi.MEM_FREE, abi.MEM_PRIVATE, abi.MEM_WRITE_WATCH]).toEqual([
      0x1000, 0x2000, 0x4000, 0x8000, 0x80000, 0x10000, 0x20000, 0x200000,
    ]);
    expect([abi.PAGE_NOACCESS, abi.PAGE_READONLY, abi.PAGE_READWRITE]).toEqual([1, 2, 4]);
    expect([abi.WRITE_WATCH_FLAG_RESET, abi.WRITE_WATCH_FAILED, abi.ERROR_INVALID_PARAMETER]).toEqual([1, 0xffffffff, 87]);
  });

  it('agrees with writewatch/win32 wherever both name a number', () => {
    for (const name of Object.keys(abi) as (keyof typeof abi)[]) {
      if (Object.hasOwn(w, name)) expect(abi[name], name).toBe((w as Record<string, unknown>)[name]);
    }
  });

  it('names the Win32 errors it reports, and says the number of any other', () => {
    expect(abi.win32ErrorName(87)).toBe('ERROR_INVALID_PARAMETER');
    expect(abi.win32ErrorName(8)).toBe('ERROR_NOT_ENOUGH_MEMORY');
    expect(abi.win32ErrorName(1455)).toBe('ERROR_COMMITMENT_LIMIT');
    expect(abi.win32ErrorName(998)).toBe('ERROR_NOACCESS');
    expect(abi.win32ErrorName(12345)).toBe('Win32 error 12345');
    expect(abi.win32ErrorName('toString' as unknown as number)).toBe('Win32 error toString');
    expect(abi.RESOURCE_ERRORS).toEqual([8, 14, 1455]);
  });

  it('pins the x64 layouts of MEMORY_BASIC_INFORMATION, SYSTEM_INFO and RTL_OSVERSIONINFOW', () => {
    expect(abi.MEMORY_BASIC_INFORMATION).toEqual({
      BaseAddress: 0, AllocationBase: 8, AllocationProtect: 16, PartitionId: 20, RegionSize: 24, State: 32, Protect: 36, Type: 40,
    });
    expect(abi.MEMORY_BASIC_INFORMATION_SIZE).toBe(48);
    expect(abi.SYSTEM_INFO).toEqual({
      wProcessorArchitecture: 0, wReserved: 2, dwPageSize: 4, lpMinimumApplicationAddress: 8, lpMaximumApplicationAddress: 16,
      dwActiveProcessorMask: 24, dwNumberOfProcessors: 32, dwProcessorType: 36, dwAllocationGranularity: 40, wProcessorLevel: 44,
      wProcessorRevision: 46,
    });
    expect(abi.SYSTEM_INFO_SIZE).toBe(48);
    // 5 DWORDs, then WCHAR szCSDVersion[128].
    expect(abi.RTL_OSVERSIONINFOW).toEqual({ dwOSVersionInfoSize: 0, dwMajorVersion: 4, dwMinorVersion: 8, dwBuildNumber: 12, dwPlatformId: 16, szCSDVersion: 20 });
    expect(abi.RTL_OSVERSIONINFOW_SIZE).toBe(20 + 128 * 2);
  });
});
