/**
 * Native memory every thread of the process finds without being told: a memfd named `name`,
 * mapped at the first free one of a few fixed `addresses` with MAP_FIXED_NOREPLACE. The kernel
 * serialises MAP_FIXED_NOREPLACE, so threads racing to create it agree: the loser finds the
 * winner's mapping in /proc/self/maps. MADV_DONTFORK keeps it out of forked children. A
 * zero-filled mapping is what a new one holds; its users lay out their tables so that reads empty.
 * Used by the tracker registry (registry.ts) and win32's allocation table (win32/process/table.ts).
 */
import { MAP_FAILED, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../libc/abi.js';
import { lastError } from '../libc/errno.js';
import { libc } from '../libc/libc.js';
import { readMaps } from '../proc/maps.js';

const MFD_CLOEXEC = 1;
const MADV_DONTFORK = 10;

/** The address of the process's `name` mapping of `size` bytes: the one already there, or a new one. */
export function mapProcessWide(name: string, size: number, addresses: readonly number[]): number {
  return locate(name, addresses) ?? create(name, size, addresses);
}

function locate(name: string, addresses: readonly number[]): number | undefined {
  const path = `/memfd:${name} (deleted)`;
  return readMaps('self').find((m) => m.pathname === path && addresses.includes(m.start))?.start;
}

function create(name: string, size: number, addresses: readonly number[]): number {
  const c = libc();
  const mfd = c.memfd_create(name, MFD_CLOEXEC);
  if (mfd < 0) throw lastError('memfd_create', name);
  try {
    if (c.ftruncate(mfd, size) < 0) throw lastError('ftruncate', name);
    for (const at of addresses) {
      const p = c.mmap(BigInt(at), size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED_NOREPLACE, mfd, 0);
      if (p !== MAP_FAILED && p !== null) {
        if (Number(p) !== at) {
          c.munmap(p, size); // a kernel that took the address as a hint
          continue;
        }
        c.madvise(p, size, MADV_DONTFORK);
        return at;
      }
      const err = lastError('mmap', name);
      if (err.code !== 'EEXIST') {
        if (err.code === 'ENOMEM' || err.code === 'EINVAL') continue; // beyond this address space
        throw err;
      }
      // Occupied: by another thread's mapping (it just won the race) or by something else.
      const found = locate(name, addresses);
      if (found !== undefined) return found;
    }
  } finally {
    c.close(mfd);
  }
  throw new Error(`no free address for the ${name}`);
}
