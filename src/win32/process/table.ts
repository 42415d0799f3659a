/**
 * The process's allocation table, shared by every thread: Windows' address space is the process's,
 * so any thread may query, reset, protect or free any allocation, whichever thread made it and
 * whether or not that thread still runs. Each worker loads its own copy of this module, so the
 * table cannot be a JS object: it lives in native memory every thread finds without being told, as
 * the registry does (sys/process/process-wide.ts): a memfd named `writewatch-win32-v1`, mapped at the
 * first free one of a few fixed addresses with MAP_FIXED_NOREPLACE (the kernel serialises it, so
 * threads racing to create it agree; the loser finds the winner's in /proc/self/maps). A
 * zero-filled table is a valid empty one.
 *
 * A record per allocation (RECORD bytes): its state, a generation bumped at every reuse (so a
 * thread's cached view of a record is checked in one load), base, size, flags, the protection it
 * was reserved with, the userfaultfd (a dup of the one the mechanism opened, recorded nowhere, so
 * no thread's exit or reaper closes it: only MEM_RELEASE does), the registry slot of its claim and
 * the claim's state word, the count of flagged pages, the address of its per-page array (native
 * memory: every thread of the process reaches it), and how many viewMemory() buffers of it, in all
 * threads, may still be reachable.
 *
 * One lock guards the table: a word holding the owner's thread id (a spin lock: calls hold it for
 * a few system calls; a lock whose owner thread is gone, a worker terminated mid-call, is taken over).
 */
import { existsSync } from 'node:fs';
import createDebug from 'debug';
import koffi from 'koffi';
import { mapProcessWide } from '../../sys/process/process-wide.js';
import { threadId } from '../../sys/process/registry.js';

const debug = createDebug('writewatch:win32');

const NAME = 'writewatch-win32-v1';
/** Beside the registry's addresses (0x3e.., 0x3a.., 0x36.., 0x32..): same reasoning, other slots. */
const ADDRESSES: readonly number[] = [0x3d_0000_0000, 0x39_0000_0000, 0x35_0000_0000, 0x31_0000_0000];

/** Live allocations (and released ones held for views) at most: one more is STATUS_NO_MEMORY (8). */
export const RECORDS = 16384;
export const RECORD = 64;
const HEADER = 64;
const SIZE = Math.ceil((HEADER + RECORDS * RECORD) / 65536) * 65536;

// Header words (Int32 indexes).
const LOCK = 0;
const DEPTH = 1;
const HIGH = 2;

// Record states.
export const FREE = 0;
export const LIVE = 1;
/** Released, its range kept by a placeholder until the last view of it is collected. */
export const HELD = 2;
/** Being filled in. */
const BUSY = 3;

// Record fields: Int32 offsets from the record's first word, Float64 offsets from its first double.
export const F = {
  STATE: 0,
  GEN: 1,
  /** f64 */ BASE: 1,
  /** f64 */ SIZE: 2,
  FLAGS: 6,
  ALLOC_PROTECT: 7,
  UFFD: 8,
  CLAIM_SLOT: 9,
  CLAIM_WORD: 10,
  FLAGGED: 11,
  /** f64 */ PAGES: 6,
  VIEWS: 14,
} as const;
export const WATCHED = 1;

export interface Table {
  i32: Int32Array;
  f64: Float64Array;
}

let table: Table | undefined;

/** The process's table, mapped on first use. */
export function getTable(): Table {
  if (table) return table;
  let ab: ArrayBuffer;
  try {
    const at = mapProcessWide(NAME, SIZE, ADDRESSES);
    ab = koffi.view(BigInt(at), SIZE);
    debug('allocation table at 0x%s', at.toString(16));
  } catch (e) {
    // No memfd (a seccomp filter), no /proc/self/maps, no free address: this thread keeps a table of
    // its own, and other threads do not see its allocations (as the registry does in that case).
    debug('no process-wide allocation table (%s): this thread keeps its own', (e as Error).message);
    ab = new ArrayBuffer(SIZE);
  }
  table = { i32: new Int32Array(ab), f64: new Float64Array(ab) };
  return table;
}

/** Int32 index of record k's first word; its first double is at half of it. */
export function recordIndex(k: number): number {
  return (HEADER + k * RECORD) >> 2;
}

/** Records ever used (the others are zero: FREE). */
export function highWater(t: Table): number {
  return Atomics.load(t.i32, HIGH);
}

/** Takes a FREE record (BUSY until publish()), bumping its generation; -1 when all are used. */
export function takeRecord(t: Table): number {
  const grab = (k: number) => {
    const i = recordIndex(k);
    if (Atomics.compareExchange(t.i32, i + F.STATE, FREE, BUSY) !== FREE) return false;
    Atomics.add(t.i32, i + F.GEN, 1);
    return true;
  };
  const used = highWater(t);
  for (let k = 0; k < used; k++) if (grab(k)) return k;
  for (;;) {
    const k = Atomics.add(t.i32, HIGH, 1);
    if (k >= RECORDS) {
      Atomics.sub(t.i32, HIGH, 1);
      return -1;
    }
    if (grab(k)) return k;
  }
}

export function setState(t: Table, k: number, state: number): void {
  Atomics.store(t.i32, recordIndex(k) + F.STATE, state);
}

// ---- the lock ----

let sleeper: Int32Array | undefined;

/**
 * Takes the table's lock (re-entrant in one thread). Spins, then sleeps 50 µs at a time; a lock
 * whose owner thread no longer exists is taken over, after a check under a second look.
 */
export function lock(t: Table): void {
  const me = threadId();
  const i32 = t.i32;
  if (Atomics.load(i32, LOCK) === me) {
    i32[DEPTH]++;
    return;
  }
  for (let spins = 0; ; spins++) {
    const owner = Atomics.compareExchange(i32, LOCK, 0, me);
    if (owner === 0) {
      i32[DEPTH] = 1;
      return;
    }
    if (spins < 200) continue;
    if (spins % 2000 === 0 && owner > 0 && !existsSync(`/proc/self/task/${owner}`)) {
      if (Atomics.compareExchange(i32, LOCK, owner, me) === owner) {
        debug('took over the allocation table lock of ended thread %d', owner);
        i32[DEPTH] = 1;
        return;
      }
    }
    Atomics.wait((sleeper ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, 0.05);
  }
}

export function unlock(t: Table): void {
  if (--t.i32[DEPTH] === 0) Atomics.store(t.i32, LOCK, 0);
}
