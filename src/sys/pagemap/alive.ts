/**
 * Whether the address space behind a pagemap fd still exists.
 *
 * PAGEMAP_SCAN on the pagemap of a process that has exited is ESRCH on most kernels, but on some
 * (seen on 6.12.95, 7.2.13, 7.3-rc7) it returns no region at all, which cannot be told apart from
 * "nothing mapped there". read() of the same fd can: pagemap_read() returns one entry per page for
 * a live mm, holes included, and 0 bytes once the mm has no users left (`!mmget_not_zero(mm)`).
 * The fd pins that mm, so a pid reused by another process cannot answer for the one that exited.
 */
import { readSync } from 'node:fs';
import { SystemCallError } from '../../errors.js';

const ESRCH = 3; // the same on every Linux architecture (asm-generic/errno-base.h)
const entry = new Uint8Array(8);

/** True while the process behind `fd` (an open /proc/<pid>/pagemap) has an address space. */
export function addressSpaceAlive(fd: number): boolean {
  // The entry of page 0 (almost never mapped): 8 bytes from a live mm, 0 bytes from a dead one.
  return readSync(fd, entry, 0, entry.length, 0) === entry.length;
}

/** Throws ESRCH, as the kernels that get it right do, when the address space behind `fd` is gone. */
export function assertAddressSpaceAlive(fd: number, detail: string): void {
  if (!addressSpaceAlive(fd)) throw new SystemCallError('ioctl', ESRCH, `${detail}: the process has exited`);
}
