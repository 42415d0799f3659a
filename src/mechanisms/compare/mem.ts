/**
 * The libc calls of the compare mechanism, through koffi: memcmp and memcpy on raw addresses (no
 * view to build per page, and the last page of a growable buffer is reachable past its
 * byteLength), and mmap/mremap/munmap for the shadow. Addresses are numbers (uintptr_t), so a
 * call returns no object. Loaded on first use.
 */
import koffi from 'koffi';

export interface Mem {
  memcmp(a: number, b: number, n: number): number;
  memcpy(dst: number, src: number, n: number): void;
  mmap(addr: number, length: number, prot: number, flags: number, fd: number, offset: number): number;
  mremap(addr: number, oldLength: number, newLength: number, flags: number): number;
  munmap(addr: number, length: number): number;
  madvise(addr: number, length: number, advice: number): number;
}

let loaded: Mem | undefined;

export function mem(): Mem {
  if (loaded) return loaded;
  const lib = koffi.load('libc.so.6');
  const f = (proto: string) => lib.func(proto) as (...args: any[]) => any;
  return (loaded = {
    memcmp: f('int memcmp(uintptr_t a, uintptr_t b, size_t n)'),
    // The pointer memcpy returns is dropped: declared void, koffi makes no object for it.
    memcpy: f('void memcpy(uintptr_t dst, uintptr_t src, size_t n)'),
    mmap: f('intptr_t mmap(uintptr_t addr, size_t length, int prot, int flags, int fd, int64_t offset)'),
    mremap: f('intptr_t mremap(uintptr_t addr, size_t old_length, size_t new_length, int flags)'),
    munmap: f('int munmap(uintptr_t addr, size_t length)'),
    madvise: f('int madvise(uintptr_t addr, size_t length, int advice)'),
  });
}

/** mremap's MREMAP_MAYMOVE. */
export const MREMAP_MAYMOVE = 1;
