/**
 * "Is every page of [start, end) still mapped?", before anything reads or re-arms it: PAGEMAP_SCAN
 * skips holes silently (pages would read as clean) and memcmp on a hole is a SIGSEGV. msync(2) with
 * no flags does no I/O and fails with ENOMEM on any hole. On Windows, VirtualQuery says whether
 * every page is still allocated (reserved or committed).
 */
import { LostError } from '../errors.js';
import { lastError } from '../sys/libc/errno.js';
import { libc } from '../sys/libc/libc.js';
import { committed } from './windows.js';

const windows = process.platform === 'win32';

/**
 * Throws LostError when a page of [b[0], b[1]) is unmapped. `addr` and `len` are msync's arguments,
 * as bigints the caller made once per range, and the range rides in a Float64Array: a number above
 * 2^31 handed to koffi, or to a call that is not inlined, is boxed in a new HeapNumber every time.
 */
export function assertMapped(b: Float64Array, addr: number | bigint, len: number | bigint): void {
  if (windows) {
    if (committed(b[0], b[1])) return;
    throw new LostError(`tracked memory [0x${b[0].toString(16)}, 0x${b[1].toString(16)}) is no longer allocated (freed behind the library's back)`);
  }
  if (libc().msync(addr, len, 0) === 0) return;
  const err = lastError('msync');
  if (err.code === 'ENOMEM') {
    throw new LostError(
      `tracked memory [0x${b[0].toString(16)}, 0x${b[1].toString(16)}) is no longer mapped (unmapped, or moved with mremap)`,
      { cause: err },
    );
  }
  throw err;
}
