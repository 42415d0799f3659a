/**
 * Per-architecture numbers. Only architectures listed here are supported: their `_IOC` encoding
 * is the asm-generic one and their syscall numbers are known.
 */
import { UnsupportedError } from '../../errors.js';

export interface ArchNumbers {
  readonly name: 'x64' | 'arm64';
  /** `__NR_userfaultfd` (x86_64: arch/x86/entry/syscalls/syscall_64.tbl; arm64: asm-generic/unistd.h). */
  readonly SYS_userfaultfd: number;
  /** `__NR_getpid`, used to notice a fork (Node caches `process.pid`). */
  readonly SYS_getpid: number;
  /** First kernel release with userfaultfd WP_ASYNC + PAGEMAP_SCAN on this architecture. */
  readonly minKernel: readonly [number, number];
}

export const ARCHES: Readonly<Record<string, ArchNumbers>> = {
  x64: { name: 'x64', SYS_userfaultfd: 323, SYS_getpid: 39, minKernel: [6, 7] },
  // arm64 gained uffd-wp page-table bits only in 6.10.
  arm64: { name: 'arm64', SYS_userfaultfd: 282, SYS_getpid: 172, minKernel: [6, 10] },
};

export function archOf(name: string): ArchNumbers | undefined {
  return Object.hasOwn(ARCHES, name) ? ARCHES[name] : undefined;
}

/** The numbers of the running architecture; throws `ERR_WRITEWATCH_UNSUPPORTED` elsewhere. */
export function arch(): ArchNumbers {
  const a = archOf(process.arch);
  if (!a || process.platform !== 'linux') {
    throw new UnsupportedError(
      `writewatch needs Linux on x86_64 or aarch64; this is ${process.platform} ${process.arch}`,
    );
  }
  return a;
}
