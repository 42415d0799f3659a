/** VirtualAlloc's rules (NtAllocateVirtualMemory's, as Wine's tests pin them on Windows), over any Space. */
import createDebug from 'debug';
import {
  ALLOCATION_GRANULARITY,
  MEM_COMMIT,
  MEM_LARGE_PAGES,
  MEM_PHYSICAL,
  MEM_RESERVE,
  MEM_RESET,
  MEM_RESET_UNDO,
  MEM_TOP_DOWN,
  MEM_WRITE_WATCH,
  STATUS_INVALID_PARAMETER,
  STATUS_NOT_MAPPED_VIEW,
  STATUS_NOT_SUPPORTED,
} from '../constants.js';
import { pageCeil, pageFloor } from '../../memory/pages.js';
import { checkProtect } from '../protection.js';
import { newRange, roundRange } from '../range.js';
import { PROTECTION, type Space } from '../space.js';
import { pageOf } from './frame.js';

const debug = createDebug('writewatch:win32');

const MEM_TYPES = MEM_COMMIT | MEM_RESERVE | MEM_RESET | MEM_RESET_UNDO | MEM_TOP_DOWN | MEM_WRITE_WATCH | MEM_LARGE_PAGES | MEM_PHYSICAL;

/**
 * NtAllocateVirtualMemory's rules (Wine's, which its tests pin on Windows): the base of the new or
 * committed range, or an NTSTATUS. A reservation's address is rounded down to 64 KiB and its end up
 * to a page; a commit's address down to a page.
 */
export function allocate(space: Space, address: bigint, size: number, type: number, protect: number): bigint | number {
  if (size === 0) return STATUS_INVALID_PARAMETER;
  if (type & ~MEM_TYPES) return STATUS_INVALID_PARAMETER;
  if (type & (MEM_RESET | MEM_RESET_UNDO)) return resetHint(space, address, size, type, protect);
  if (type & (MEM_LARGE_PAGES | MEM_PHYSICAL)) return STATUS_NOT_SUPPORTED;
  if (!(type & (MEM_COMMIT | MEM_RESERVE))) return STATUS_INVALID_PARAMETER;
  // VirtualAlloc's documentation: MEM_WRITE_WATCH needs MEM_RESERVE (Wine also takes it with
  // MEM_COMMIT at a NULL address; Windows' answer there is not pinned by a test, the documentation wins).
  if (type & MEM_WRITE_WATCH && !(type & MEM_RESERVE)) return STATUS_INVALID_PARAMETER;
  const bad = checkProtect(protect, true);
  if (bad) return bad;
  const page = space.pageSize;
  if (address !== 0n && !(type & MEM_RESERVE)) {
    const r = roundRange(address, size, page, newRange());
    if (r.outside) return STATUS_NOT_MAPPED_VIEW;
    return space.locked(() => {
      const a = space.find(r.start, r.end);
      if (!a) return STATUS_NOT_MAPPED_VIEW;
      const status = space.apply(a, r.start, r.end, protect);
      if (status) return status;
      const first = pageOf(a, r.start, page);
      const last = pageOf(a, r.end, page);
      for (let i = first; i < last; i++) a.pages[i] = (a.pages[i] & ~PROTECTION) | protect;
      return BigInt(r.start);
    });
  }
  let at: number | undefined;
  let length: number;
  if (address !== 0n) {
    if (address > BigInt(space.maxAddress)) return STATUS_INVALID_PARAMETER;
    const a = Number(address);
    at = pageFloor(a, ALLOCATION_GRANULARITY);
    length = pageCeil(a + size, page) - at;
    if (at + length - 1 > space.maxAddress) return STATUS_INVALID_PARAMETER;
  } else {
    length = pageCeil(size, page);
    if (length > space.maxAddress) return STATUS_INVALID_PARAMETER;
  }
  const commit = (type & MEM_COMMIT) !== 0;
  const watched = (type & MEM_WRITE_WATCH) !== 0;
  return space.locked(() => {
    const a = space.reserve(at, length, watched, protect, commit);
    if (typeof a === 'number') return a;
    if (commit) a.pages.fill(protect);
    debug('VirtualAlloc 0x%s +0x%s type 0x%s protect 0x%s', a.base.toString(16), length.toString(16), type.toString(16), protect.toString(16));
    return BigInt(a.base);
  });
}

/**
 * MEM_RESET / MEM_RESET_UNDO: alone (VirtualAlloc's documentation), with a valid (ignored)
 * protection, over a range inside one allocation, reserved pages included (Wine's test_VirtualAlloc,
 * run on Windows); else 487. Both are hints Windows may ignore: the contents are kept, so
 * MEM_RESET_UNDO always finds them, and neither is a write nor clears the written state.
 */
function resetHint(space: Space, address: bigint, size: number, type: number, protect: number): bigint | number {
  if (type !== MEM_RESET && type !== MEM_RESET_UNDO) return STATUS_INVALID_PARAMETER;
  const bad = checkProtect(protect, true);
  if (bad) return bad;
  const r = roundRange(address, size, space.pageSize, newRange());
  if (r.outside || address === 0n) return STATUS_NOT_MAPPED_VIEW;
  return space.locked(() => (space.find(r.start, r.end) ? BigInt(r.start) : STATUS_NOT_MAPPED_VIEW));
}
