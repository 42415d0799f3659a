/**
 * A guest space's allocation table, in native memory: every thread that has a shared memory (a
 * SharedArrayBuffer, a shared WebAssembly.Memory) and builds an AddressSpace over it must see one
 * table, and a JS object cannot be shared. A shared memory's table is found through the process's
 * table (process/table.ts), in a record of state GUEST keyed by the address of the memory's byte 0
 * and counted by the AddressSpaces over it; a memory that is not shared gets a table of its own.
 *
 * Layout: a header (high-water of region slots, the count of spaces, the userfaultfd dup that
 * watches the memory, the registered range), REGIONS slots (state, generation, offset and size
 * relative to the memory's byte 0, flags, reservation protection, flagged pages), then one Uint16
 * of page state per page the memory can ever reach. Mapped MAP_NORESERVE: untouched pages cost nothing.
 */
import { MAP_ANONYMOUS, MAP_FAILED, MAP_NORESERVE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../sys/libc/abi.js';
import { lastError } from '../../sys/libc/errno.js';
import { libc } from '../../sys/libc/libc.js';
import { F, getTable, highWater, recordIndex, setState, takeRecord } from '../process/table.js';
import { SystemCallError } from '../../errors.js';

/** Process-table record state of a guest space's table (never LIVE: process lookups skip it). */
export const GUEST = 4;
export const REGIONS = 4096;
const REGION = 64;
const HEADER = 64;
// Header words (Int32 indexes) and doubles (Float64 indexes).
export const H = { HIGH: 0, SPACES: 1, UFFD: 2, /** f64 */ REG_START: 2, /** f64 */ REG_END: 3 } as const;
// Region fields: Int32 offsets from the slot's first word; Float64 from its first double.
export const R = { STATE: 0, GEN: 1, /** f64 */ OFFSET: 1, /** f64 */ SIZE: 2, WATCHED: 6, ALLOC_PROTECT: 7, FLAGGED: 8 } as const;
export const FREE = 0;
export const LIVE = 1;

export interface GuestTable {
  address: number;
  bytes: number;
  i32: Int32Array;
  f64: Float64Array;
  /** Page states, one per page from the memory's byte 0. */
  pages: Uint16Array;
  /** The process-table record that lists it (shared memory), or -1. */
  record: number;
}

export function regionIndex(k: number): number {
  return (HEADER + k * REGION) >> 2;
}

function pagesOffset(page: number): number {
  return Math.ceil((HEADER + REGIONS * REGION) / page) * page;
}

/** Maps a fresh table for a memory that can reach `reach` bytes. */
function create(reach: number, page: number, koffiView: (a: number, n: number) => ArrayBuffer): GuestTable {
  const off = pagesOffset(page);
  const bytes = off + Math.ceil(((reach / page) * 2) / page) * page;
  const p = libc().mmap(null, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p === MAP_FAILED || p === null) throw lastError('mmap', 'guest allocation table');
  const address = Number(p);
  const t = view(address, bytes, page, koffiView, -1);
  t.i32[H.UFFD] = -1;
  return t;
}

function view(address: number, bytes: number, page: number, koffiView: (a: number, n: number) => ArrayBuffer, record: number): GuestTable {
  const ab = koffiView(address, bytes);
  const off = pagesOffset(page);
  return { address, bytes, i32: new Int32Array(ab, 0, off >> 2), f64: new Float64Array(ab, 0, off >> 3), pages: new Uint16Array(ab, off), record };
}

/**
 * The table of the memory whose byte 0 is at `key` (process table locked): the one shared memories
 * find by address, or (`shared` false) a table of its own. Counts one more space over it.
 */
export function attach(key: number, reach: number, page: number, shared: boolean, koffiView: (a: number, n: number) => ArrayBuffer): GuestTable {
  if (!shared) return create(reach, page, koffiView);
  const pt = getTable();
  for (let k = 0, high = highWater(pt); k < high; k++) {
    const i = recordIndex(k);
    if (Atomics.load(pt.i32, i + F.STATE) !== GUEST || pt.f64[(i >> 1) + F.BASE] !== key) continue;
    const t = view(pt.f64[(i >> 1) + F.PAGES], pt.f64[(i >> 1) + F.SIZE], page, koffiView, k);
    t.i32[H.SPACES]++;
    return t;
  }
  const k = takeRecord(pt);
  if (k < 0) throw new SystemCallError('writewatch win32 table', 12 /* ENOMEM */, 'too many live allocations and spaces');
  let t: GuestTable;
  try {
    t = create(reach, page, koffiView);
  } catch (e) {
    setState(pt, k, 0);
    throw e;
  }
  t.record = k;
  t.i32[H.SPACES] = 1;
  const i = recordIndex(k);
  pt.f64[(i >> 1) + F.BASE] = key;
  pt.f64[(i >> 1) + F.SIZE] = t.bytes;
  pt.f64[(i >> 1) + F.PAGES] = t.address;
  setState(pt, k, GUEST);
  return t;
}

/** One space fewer over the table (process table locked); true when it was the last: then it is unmapped. */
export function detachTable(t: GuestTable): boolean {
  if (t.record >= 0 && --t.i32[H.SPACES] > 0) return false;
  if (t.record >= 0) setState(getTable(), t.record, 0);
  libc().munmap(BigInt(t.address), t.bytes);
  return true;
}
