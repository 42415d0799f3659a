/**
 * Memory whose pages can change without a store through this process's own private mapping:
 * shared ('s': MAP_SHARED, shmem, another process's view) or file-backed (write(2) to the file shows
 * through its pages until they are first written here). Write-protect sees only stores through its
 * page tables, and compare would read a file mapping past its end as a SIGBUS, so every mechanism
 * refuses it.
 */
import { InvalidArgValueError } from '../errors.js';
import { readMaps } from '../sys/proc/maps.js';

/** The first such mapping in [start, end), as its maps line reads; null when none. */
function sharedMapping(start: number, end: number): string | null {
  for (const m of readMaps('self')) {
    if (m.end <= start) continue;
    if (m.start >= end) break;
    if (m.perms[3] === 's' || m.inode !== 0) return `${m.startHex}-${m.endHex} ${m.perms} ${m.pathname}`.trim();
  }
  return null;
}

/**
 * Refuses memory whose pages can change without a store through this mapping. `optional`: where
 * /proc/self/maps cannot be read, skip the check rather than fail (the compare mechanism runs
 * without procfs).
 */
export function refuseShared(target: unknown, start: number, end: number, optional = false): void {
  // Off Linux there is no /proc/self/maps of this process (under Wine it would be the host's), and
  // JavaScript makes no file or shared mapping of its own there.
  if (process.platform !== 'linux') return;
  let shared: string | null;
  try {
    shared = sharedMapping(start, end);
  } catch (e) {
    if (optional) return;
    throw e;
  }
  if (shared !== null) {
    throw new InvalidArgValueError(
      'target',
      target,
      `is memory that can change without a store through this mapping (${shared}): writes through its other ` +
        'mappings and write(2) to its file would never be reported; track anonymous private memory (an ArrayBuffer, ' +
        'SharedArrayBuffer, WebAssembly.Memory) or use WriteWatch.allocate()',
    );
  }
}
