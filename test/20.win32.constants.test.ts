/**
 * writewatch/win32's numbers are Windows' (winnt.h, winerror.h, ntstatus.h): callers compare
 * against them, so each is pinned here. Also the README/API.md example, run as written.
 */
import { expect, it } from 'vitest';
import * as w from '../src/win32/index.js';
import { ntStatusToDosError } from '../src/win32/last-error.js';
import { describeKernel, PAGE } from './support/kernel.js';

it('constants have their Windows values', () => {
  expect({
    WRITE_WATCH_FLAG_RESET: w.WRITE_WATCH_FLAG_RESET,
    MEM_COMMIT: w.MEM_COMMIT,
    MEM_RESERVE: w.MEM_RESERVE,
    MEM_DECOMMIT: w.MEM_DECOMMIT,
    MEM_RELEASE: w.MEM_RELEASE,
    MEM_WRITE_WATCH: w.MEM_WRITE_WATCH,
    PAGE_NOACCESS: w.PAGE_NOACCESS,
    PAGE_READONLY: w.PAGE_READONLY,
    PAGE_READWRITE: w.PAGE_READWRITE,
    ERROR_INVALID_PARAMETER: w.ERROR_INVALID_PARAMETER,
    ERROR_NOACCESS: w.ERROR_NOACCESS,
    ERROR_NOT_SUPPORTED: w.ERROR_NOT_SUPPORTED,
    ERROR_INVALID_ADDRESS: w.ERROR_INVALID_ADDRESS,
    ERROR_NOT_ENOUGH_MEMORY: w.ERROR_NOT_ENOUGH_MEMORY,
    STATUS_SUCCESS: w.STATUS_SUCCESS,
    STATUS_INVALID_PARAMETER: w.STATUS_INVALID_PARAMETER,
    STATUS_ACCESS_VIOLATION: w.STATUS_ACCESS_VIOLATION,
    STATUS_NOT_SUPPORTED: w.STATUS_NOT_SUPPORTED,
  }).toEqual({
    WRITE_WATCH_FLAG_RESET: 1,
    MEM_COMMIT: 0x1000,
    MEM_RESERVE: 0x2000,
    MEM_DECOMMIT: 0x4000,
    MEM_RELEASE: 0x8000,
    MEM_WRITE_WATCH: 0x200000,
    PAGE_NOACCESS: 1,
    PAGE_READONLY: 2,
    PAGE_READWRITE: 4,
    ERROR_INVALID_PARAMETER: 87,
    ERROR_NOACCESS: 998,
    ERROR_NOT_SUPPORTED: 50,
    ERROR_INVALID_ADDRESS: 487,
    ERROR_NOT_ENOUGH_MEMORY: 8,
    STATUS_SUCCESS: 0,
    STATUS_INVALID_PARAMETER: 0xc000000d,
    STATUS_ACCESS_VIOLATION: 0xc0000005,
    STATUS_NOT_SUPPORTED: 0xc00000bb,
  });
});

it('NTSTATUS → last error as RtlNtStatusToDosError maps them', () => {
  expect(ntStatusToDosError(w.STATUS_INVALID_PARAMETER)).toBe(87);
  expect(ntStatusToDosError(w.STATUS_ACCESS_VIOLATION)).toBe(998);
  expect(ntStatusToDosError(w.STATUS_NOT_SUPPORTED)).toBe(50);
  expect(ntStatusToDosError(0xc000002d /* STATUS_NOT_COMMITTED */)).toBe(487);
  expect(ntStatusToDosError(0xc0000018 /* STATUS_CONFLICTING_ADDRESSES */)).toBe(487);
  expect(ntStatusToDosError(0xc0000017 /* STATUS_NO_MEMORY */)).toBe(8);
});

it('the last error keeps what SetLastError stored, as a DWORD', () => {
  w.setLastError(0xdeadbeef);
  expect(w.getLastError()).toBe(0xdeadbeef);
  w.setLastError(-1);
  expect(w.getLastError()).toBe(0xffffffff);
});

describeKernel('win32: the documented example', () => {
  it('runs as written in API.md', () => {
    const base = w.virtualAlloc(0n, 0x10000, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
    new Uint8Array(w.viewMemory(base, 0x10000))[0x1001] = 1;
    const addrs = new BigUint64Array(64), count = { value: 64 }, gran = { value: 0 };
    expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, base, 0x10000, addrs, count, gran)).toBe(0);
    expect(count.value).toBe(1);
    // The page holding byte 0x1001: base + 0x1000 with 4 KiB pages, base itself with 16 or 64 KiB.
    expect(gran.value).toBe(PAGE);
    expect(addrs[0]).toBe(base + BigInt(Math.floor(0x1001 / PAGE) * PAGE));
    count.value = 64;
    expect(w.getWriteWatch(0, base, 0x10000, addrs, count, gran)).toBe(0);
    expect(count.value).toBe(0);
    expect(w.virtualFree(base, 0, w.MEM_RELEASE)).toBe(true);
  });
});
