/**
 * Raw Linux ABI shared by the layers: the `_IOC` encoding and the open/mmap/madvise numbers.
 * Debian's headers predate userfaultfd WP_ASYNC and PAGEMAP_SCAN, so every number is written
 * here and pinned by test/00.abi.test.ts. Values are for the architectures in `arch.ts`.
 */
import { arch } from './arch.js';

/** `_IOC` direction bits (asm-generic/ioctl.h): x86, arm64 and riscv share this encoding. */
export const _IOC_NONE = 0;
export const _IOC_WRITE = 1;
export const _IOC_READ = 2;

const _IOC_NRSHIFT = 0;
const _IOC_TYPESHIFT = 8;
const _IOC_SIZESHIFT = 16;
const _IOC_DIRSHIFT = 30;
const _IOC_SIZEBITS = 14;

/**
 * Computes an ioctl request number. Refuses Linux architectures whose encoding differs (powerpc,
 * mips, sparc use a 3-bit direction field), so a wrong number can never reach the kernel.
 */
export function _IOC(dir: number, type: number, nr: number, size: number): number {
  // Throws on a Linux architecture we have no numbers for. Off Linux there is no Linux kernel for a
  // number to reach (libc.so.6 is not there to load), and the module-level constants of uffd/abi.ts
  // and pagemap/abi.ts call this at import, which must not throw on Windows or macOS (issue 23).
  if (process.platform === 'linux') arch();
  if (size < 0 || size >= 1 << _IOC_SIZEBITS) throw new RangeError(`ioctl size ${size} does not fit _IOC`);
  // >>> 0 keeps the result an unsigned 32-bit number (dir bits reach bit 31).
  return ((dir << _IOC_DIRSHIFT) | (size << _IOC_SIZESHIFT) | (type << _IOC_TYPESHIFT) | (nr << _IOC_NRSHIFT)) >>> 0;
}
export const _IO = (type: number, nr: number) => _IOC(_IOC_NONE, type, nr, 0);
export const _IOR = (type: number, nr: number, size: number) => _IOC(_IOC_READ, type, nr, size);
export const _IOW = (type: number, nr: number, size: number) => _IOC(_IOC_WRITE, type, nr, size);
export const _IOWR = (type: number, nr: number, size: number) => _IOC(_IOC_READ | _IOC_WRITE, type, nr, size);

// fcntl.h (asm-generic values; x86_64 and arm64 agree)
export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

// mman.h
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
/** mremap(2): the kernel may move the mapping to grow it. */
export const MREMAP_MAYMOVE = 1;
export const MAP_FIXED_NOREPLACE = 0x100000;
/** mmap's MAP_FAILED, as koffi returns a `void *`: (void *)-1. */
export const MAP_FAILED = 0xffffffffffffffffn;

export const MADV_NORMAL = 0;
export const MADV_DONTNEED = 4;
export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;

// unistd.h sysconf names
export const _SC_PAGESIZE = 30;
