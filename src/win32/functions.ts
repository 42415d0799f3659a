/**
 * The module-level functions: the Win32 calls on the process's own memory. The space is picked in
 * one place (process/index.ts), so a kernel32-forwarding space on Windows replaces the Linux
 * emulation there and nowhere else.
 */
import type { Box } from './args.js';
import * as front from './front.js';
import { processSpace } from './process/index.js';

/**
 * VirtualAlloc. The base (a reservation's 64 KiB-aligned), or 0n with the last error: 87 for a
 * zero size, unknown or missing type bits, MEM_WRITE_WATCH without MEM_RESERVE or a bad protection;
 * 487 to commit outside a reservation or reserve where something is mapped; 8 when memory, fds or
 * the allocation table run out; 50 for MEM_LARGE_PAGES / MEM_PHYSICAL, or MEM_WRITE_WATCH on a
 * kernel without userfaultfd WP_ASYNC + PAGEMAP_SCAN (how Wine's tests and the .NET GC recognise
 * "write watch unsupported").
 */
export function virtualAlloc(address: bigint, size: number, allocationType: number, protect: number): bigint {
  return front.virtualAllocIn(processSpace(), address, size, allocationType, protect);
}

/** VirtualFree: MEM_RELEASE (size 0, the base) or MEM_DECOMMIT. */
export function virtualFree(address: bigint, size: number, freeType: number): boolean {
  return front.virtualFreeIn(processSpace(), address, size, freeType);
}

/** VirtualProtect; `oldProtect.value` receives the first page's protection. */
export function virtualProtect(address: bigint, size: number, newProtect: number, oldProtect: Box | null): boolean {
  return front.virtualProtectIn(processSpace(), address, size, newProtect, oldProtect);
}

/** VirtualQuery: 48, or 0 with the last error. */
export function virtualQuery(address: bigint, info: object): number {
  return front.virtualQueryIn(processSpace(), address, info);
}

/** GetSystemInfo's memory fields. */
export function getSystemInfo(info: object): void {
  front.getSystemInfoIn(processSpace(), info);
}

export function getWriteWatch(
  flags: number,
  base: bigint,
  size: number,
  addresses: BigUint64Array | bigint[] | null,
  count: Box | null,
  granularity: Box | null,
): number {
  return front.getWriteWatchIn(processSpace(), flags, base, size, addresses, count, granularity);
}

export function resetWriteWatch(base: bigint, size: number): number {
  return front.resetWriteWatchIn(processSpace(), base, size);
}

export function ntGetWriteWatch(
  flags: number,
  base: bigint,
  size: number,
  addresses: BigUint64Array | bigint[] | null,
  count: Box | null,
  granularity: Box | null,
): number {
  return front.ntGetWriteWatchIn(processSpace(), flags, base, size, addresses, count, granularity);
}

export function ntResetWriteWatch(base: bigint, size: number): number {
  return front.ntResetWriteWatchIn(processSpace(), base, size);
}
