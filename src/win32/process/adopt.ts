/**
 * MOVE ME: this belongs in mechanisms/write-protect (as `writeProtect.adopt(start, end, fd)`) and
 * sys/uffd (`Userfaultfd.adopt(fd)`, `dup`); it is here only because those folders were being
 * rewritten when process-wide allocations landed. It is the one file of win32 that knows what is
 * behind the mechanism contract.
 *
 * A write-protect Tracker over a userfaultfd that another thread opened: a watched allocation is
 * the process's, so every thread must scan, reset and re-arm it, and a Tracker is a JS object of
 * the thread that made it. The kernel's side is process-wide already: PAGEMAP_SCAN reads the
 * process's page tables from any thread, and a userfaultfd is a file any thread can pass to ioctl
 * by number. So the allocating thread keeps a dup of the descriptor (dup(): not recorded in the
 * registry, so neither its thread's exit nor the reaper closes it; close-on-exec), and each thread
 * builds its own WriteProtectTracker over that number.
 */
import { LostError } from '../../errors.js';
import { libc } from '../../sys/libc/libc.js';
import { lastError } from '../../sys/libc/errno.js';
import { put64, u64Struct } from '../../sys/libc/u64.js';
import { UFFDIO_WRITEPROTECT_MODE_WP } from '../../sys/uffd/abi.js';
import * as raw from '../../sys/uffd/raw.js';
import { ownsByFd } from '../../sys/uffd/owns.js';
import type { Userfaultfd } from '../../sys/uffd/userfaultfd.js';
import { WriteProtectTracker } from '../../mechanisms/write-protect/tracker.js';
import type { Tracker } from '../../mechanisms/contract.js';

const SYS_dup: Record<string, number> = { x64: 32, arm64: 23 };
const FIOCLEX = 0x5451;

/** dup(fd) with close-on-exec: a descriptor for the same userfaultfd, recorded nowhere. */
export function dupUffd(fd: number): number {
  const c = libc();
  const nr = SYS_dup[process.arch];
  const d = nr === undefined ? -1 : c.syscall1(nr, fd);
  if (d < 0) throw lastError('dup', `userfaultfd ${fd}`);
  c.ioctlInt(d, FIOCLEX, 0);
  return d;
}

export function closeUffd(fd: number): void {
  libc().close(fd);
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

/** A Tracker for [start, end) over the userfaultfd `fd` (the allocation's dup). */
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
