/**
 * koffi declarations of the few libc functions the layers call. Non-variadic prototypes of
 * `ioctl` and `syscall`: they are ABI-safe for integer/pointer arguments on Linux x86_64 and
 * aarch64 and skip koffi's per-call type parsing (~100 ns). Loaded on first use so that importing
 * the package on an unsupported system does not throw.
 */
import koffi from 'koffi';

/** A buffer the kernel reads or writes in place: an off-heap typed array or a raw address. */
export type Ptr = ArrayBufferView | ArrayBuffer | bigint | null;

export interface Libc {
  ioctl(fd: number, request: number, arg: Ptr): number;
  /** `ioctl` whose third argument is an integer (USERFAULTFD_IOC_NEW takes the flags by value). */
  ioctlInt(fd: number, request: number, arg: number): number;
  syscall1(nr: number, a: number): number;
  syscall0(nr: number): number;
  open(path: string, flags: number, mode: number): number;
  close(fd: number): number;
  read(fd: number, buf: Ptr, count: number): number;
  mmap(addr: Ptr | number, length: number, prot: number, flags: number, fd: number, offset: number): bigint;
  munmap(addr: bigint, length: number): number;
  mprotect(addr: bigint, length: number, prot: number): number;
  madvise(addr: bigint, length: number, advice: number): number;
  /** `addr` as a number: called on every get/reset, where a BigInt would be an allocation. */
  msync(addr: number | bigint, length: number | bigint, flags: number): number;
  lseek(fd: number, offset: number, whence: number): number;
  sysconf(name: number): number;
  /** The process-wide registry's backing file (process/registry.ts). */
  memfd_create(name: string, flags: number): number;
  ftruncate(fd: number, length: number): number;
  /** fcntl with an int argument (F_DUPFD_CLOEXEC): ABI-safe non-variadic, as ioctl is here. */
  fcntl(fd: number, cmd: number, arg: number): number;
  /** The compare mechanism's diff: raw addresses as numbers (uintptr_t), so a call makes no object. */
  memcmp(a: number, b: number, n: number): number;
  /** Declared void: koffi makes no object for the pointer memcpy returns. */
  memcpy(dst: number, src: number, n: number): void;
  /** The compare shadow's growth; -1 on failure. */
  mremap(addr: number, oldLength: number, newLength: number, flags: number): number;
  errno(): number;
}

let loaded: Libc | undefined;

export function libc(): Libc {
  return (loaded ??= load());
}

function load(): Libc {
  const lib = koffi.load('libc.so.6');
  const f = (proto: string) => lib.func(proto) as (...args: any[]) => any;
  return {
    ioctl: f('int ioctl(int fd, unsigned long request, void *arg)'),
    ioctlInt: lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']) as Libc['ioctlInt'],
    syscall1: lib.func('syscall', 'long', ['long', 'long']) as Libc['syscall1'],
    syscall0: lib.func('syscall', 'long', ['long']) as Libc['syscall0'],
    open: f('int open(const char *path, int flags, uint32_t mode)'),
    close: f('int close(int fd)'),
    read: f('intptr_t read(int fd, void *buf, size_t count)'),
    mmap: f('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)') as Libc['mmap'],
    munmap: f('int munmap(void *addr, size_t length)'),
    mprotect: f('int mprotect(void *addr, size_t length, int prot)'),
    madvise: f('int madvise(void *addr, size_t length, int advice)'),
    msync: f('int msync(uintptr_t addr, size_t length, int flags)'),
    lseek: f('long lseek(int fd, long offset, int whence)'),
    sysconf: f('long sysconf(int name)'),
    memfd_create: f('int memfd_create(const char *name, unsigned int flags)'),
    ftruncate: f('int ftruncate(int fd, int64_t length)'),
    fcntl: lib.func('fcntl', 'int', ['int', 'int', 'int']) as Libc['fcntl'],
    memcmp: f('int memcmp(uintptr_t a, uintptr_t b, size_t n)'),
    memcpy: f('void memcpy(uintptr_t dst, uintptr_t src, size_t n)'),
    mremap: f('intptr_t mremap(uintptr_t addr, size_t old_length, size_t new_length, int flags)'),
    errno: () => koffi.errno(),
  };
}
