/**
 * Fresh zero-filled read-write memory, the platform's way: mmap(MAP_PRIVATE | MAP_ANONYMOUS) on
 * Linux, VirtualAlloc(MEM_RESERVE | MEM_COMMIT) on Windows. Two forms: a Memory with views and a
 * safe release (what allocate() hands to JS), and raw pages only the library touches (a compare
 * shadow), which may reserve nothing until written where the platform allows it.
 */
import { MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_FAILED, MAP_NORESERVE, MAP_PRIVATE, MREMAP_MAYMOVE, PROT_READ, PROT_WRITE } from '../sys/libc/abi.js';
import { lastError } from '../sys/libc/errno.js';
import { libc } from '../sys/libc/libc.js';
import { MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE } from '../sys/kernel32/abi.js';
import { kernel32 } from '../sys/kernel32/raw.js';
import { memops } from '../sys/memops.js';
import { Mapping } from './mapping.js';
import type { Memory } from './memory.js';
import { Kernel32Memory } from './windows.js';

const windows = process.platform === 'win32';

/**
 * `length` bytes for JS, freed once every view was collected if its owner drops it (autoRelease).
 * Transparent huge pages are refused on Linux: RSS then grows page by page with the writes.
 */
export function anonymousMemory(length: number): Memory {
  if (windows) return Kernel32Memory.anonymous(length);
  const m = Mapping.anonymous(length, { autoRelease: true });
  try {
    m.advise(0, length, MADV_NOHUGEPAGE);
  } catch {
    /* advisory: a kernel without THP refuses it, harmlessly */
  }
  return m;
}

/** Raw pages: their address, or -1 (errno left) when the system has no room. Linux reserves no swap for them. */
export function mapPages(length: number): number {
  if (windows) {
    const p = kernel32().VirtualAlloc(null, length, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    return p === null ? -1 : Number(p);
  }
  const p = libc().mmap(null, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p === MAP_FAILED || p === null) return -1;
  libc().madvise(p, length, MADV_NOHUGEPAGE); // advisory
  return Number(p);
}

/** Unmaps [address, address + length) of pages mapPages gave (Windows frees the whole allocation). */
export function unmapPages(address: number, length: number): boolean {
  if (windows) return kernel32().VirtualFree(address, 0, MEM_RELEASE) !== 0;
  return libc().munmap(BigInt(address), length) === 0;
}

/** Whether part of a mapPages range can be given back (Linux); Windows frees an allocation whole. */
export const canTrim = !windows;

/** Gives back [address, address + length) of a mapPages range (only where canTrim). */
export function trimPages(address: number, length: number): void {
  if (canTrim && length > 0) libc().munmap(BigInt(address), length);
}

/** Grows raw pages to `length`, keeping their content (the new part reads as zeros); returns the new address. Throws. */
export function growPages(address: number, oldLength: number, length: number): number {
  if (windows) {
    const p = mapPages(length);
    if (p === -1) throw new Error(`VirtualAlloc of a ${length}-byte shadow failed: ${kernel32().GetLastError()}`);
    memops().memcpy(p, address, oldLength);
    unmapPages(address, oldLength);
    return p;
  }
  const p = libc().mremap(address, oldLength, length, MREMAP_MAYMOVE);
  if (p === -1) throw lastError('mremap', `shadow to ${length} bytes`);
  libc().madvise(BigInt(p), length, MADV_NOHUGEPAGE);
  return p;
}
