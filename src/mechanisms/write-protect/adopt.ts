/**
 * Process-wide write-protect trackers (writewatch/win32's allocations, a guest space over shared
 * memory): a tracker over a userfaultfd that another thread opened. Such memory is the process's,
 * so every thread must scan, reset and re-arm it, and a Tracker is a JS object of the thread that
 * made it. The kernel's side is process-wide already: PAGEMAP_SCAN reads the process's page tables
 * from any thread, and a userfaultfd is a file any thread can pass to ioctl by number. So the
 * allocating thread keeps a duplicate of the descriptor (`share`: close-on-exec, recorded nowhere,
 * so neither its thread's exit nor the reaper closes it), and each thread builds its own tracker
 * over that number (`adoptTracker`); `unshare` closes it when the memory is released.
 */
import { LostError } from '../../errors.js';
import { libc } from '../../sys/libc/libc.js';
import { lastError } from '../../sys/libc/errno.js';
import { put64, u64Struct } from '../../sys/libc/u64.js';
import { recordedFd } from '../../sys/process/registry.js';
import { UFFDIO_WRITEPROTECT_MODE_WP } from '../../sys/uffd/abi.js';
import * as raw from '../../sys/uffd/raw.js';
import { ownsByFd } from '../../sys/uffd/owns.js';
import type { Userfaultfd } from '../../sys/uffd/userfaultfd.js';
import type { Tracker } from '../contract.js';
import { WriteProtectTracker } from './tracker.js';

/** fcntl's F_DUPFD_CLOEXEC (asm-generic/fcntl.h, x86_64 and aarch64 alike). */
const F_DUPFD_CLOEXEC = 1030;

/**
 * A process-wide handle on the userfaultfd recorded in the registry's descriptor slot `fdSlot`
 * (the claim hook's): a close-on-exec duplicate, recorded nowhere.
 */
export function shareTracker(fdSlot: number): number {
  const fd = recordedFd(fdSlot);
  const d = fd < 0 ? -1 : libc().fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) throw fd < 0 ? new LostError(`no userfaultfd in descriptor slot ${fdSlot}`) : lastError('fcntl', `F_DUPFD_CLOEXEC of userfaultfd ${fd}`);
  return d;
}

/** Closes a handle shareTracker() made (the memory was released). */
export function unshareTracker(handle: number): void {
  libc().close(handle);
}

/** The part of Userfaultfd a WriteProtectTracker uses, over a descriptor this thread did not open. */
class AdoptedUffd {
  readonly fd: number;
  readonly slot = -1;
  readonly #wp = u64Struct(3);
  constructor(fd: number) {
    this.fd = fd;
  }
  get intact(): boolean {
    return true; // the table's record says whether the allocation still lives: it closes the fd
  }
  writeProtect(start: number, len: number, wp = true): void {
    const { u64, u32 } = this.#wp;
    put64(u32, 0, start);
    put64(u32, 1, len);
    u64[2] = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0n;
    raw.writeprotect(this.fd, u64);
  }
  register(): bigint {
    throw new LostError('an adopted userfaultfd registers nothing new');
  }
  close(): void {
    /* the descriptor is the table's: MEM_RELEASE closes it */
  }
}

/** A Tracker for [start, end) over the handle `fd` (shareTracker's), for this thread. */
export function adoptTracker(fd: number, start: number, end: number): Tracker {
  const t = new WriteProtectTracker(new AdoptedUffd(fd) as unknown as Userfaultfd, start, end);
  return {
    scan: (q) => t.scan(q),
    reset: (q) => t.reset(q),
    rearm: (q) => t.rearm(q),
    unreset: (q) => t.unreset(q),
    grow: () => {},
    owns: () => ownsByFd(fd, start, end),
    close: () => {},
  };
}
