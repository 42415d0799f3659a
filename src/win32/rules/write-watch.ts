/**
 * GetWriteWatch's and ResetWriteWatch's rules (NtGetWriteWatch, NtResetWriteWatch), over any Space:
 * Windows' check order, one tracker scan capped at *lpdwCount (with reset: exactly the pages
 * returned), out-parameters written last and put back if one refuses the store.
 */
import { types } from 'node:util';
import createDebug from 'debug';
import { LostError } from '../../errors.js';
import { typedArrayLength } from '../../writewatch/intrinsics.js';
import { checkCountValue, probe, UNWRITABLE, writable, type Box } from '../args.js';
import { STATUS_ACCESS_VIOLATION, STATUS_INVALID_PARAMETER, WRITE_WATCH_FLAG_RESET } from '../constants.js';
import { copyOutArray, copyOutTyped, lengthOf, storable } from '../out-params.js';
import { roundRange, type PageRange } from '../range.js';
import { LATCHED, STICKY, type Region, type Space } from '../space.js';
import { clearFlags, clearRange, pageOf, setFlags, setQuery, type Frame } from './frame.js';

const debug = createDebug('writewatch:win32');

/** The watched region holding all of the rounded range, or undefined (→ 87). */
function watched(space: Space, range: PageRange): Region | undefined {
  if (range.outside) return undefined;
  const a = space.find(range.start, range.end);
  return a && a.watched ? a : undefined;
}

/**
 * NtGetWriteWatch. Checks, in Windows' order: NULL count or granularity → STATUS_ACCESS_VIOLATION;
 * `count.value` 0 or rounded size 0 → STATUS_INVALID_PARAMETER; flags other than 0/1 →
 * STATUS_INVALID_PARAMETER; NULL addresses (or one shorter than `count.value`, which on Windows
 * would be an access violation writing it) → STATUS_ACCESS_VIOLATION; range not inside one
 * MEM_WRITE_WATCH allocation → STATUS_INVALID_PARAMETER.
 */
export function getWatch(
  space: Space,
  f: Frame,
  flags: number,
  b: bigint,
  size: number,
  out: BigUint64Array | bigint[] | null,
  cnt: Box | null,
  gran: Box | null,
): number {
  const page = space.pageSize;
  const range = roundRange(b, size, page, f.range);
  // NULL or unwritable, as Windows probes its out-pointers before acting.
  if (!cnt || !gran) return STATUS_ACCESS_VIOLATION;
  const value = probe(cnt);
  if (value === UNWRITABLE || !writable(gran)) return STATUS_ACCESS_VIOLATION;
  const cap = checkCountValue('count', value);
  if (cap === 0 || range.empty) return STATUS_INVALID_PARAMETER;
  if (flags & ~WRITE_WATCH_FLAG_RESET) return STATUS_INVALID_PARAMETER;
  if (!out || lengthOf(out) < cap) return STATUS_ACCESS_VIOLATION;
  const typed = types.isBigUint64Array(out);
  if (!typed && !storable(out)) return STATUS_ACCESS_VIOLATION;
  // The last user code before the scan has run: from here on, only this call's frame is read.
  const { start, end } = range;
  const reset = (flags & WRITE_WATCH_FLAG_RESET) !== 0;
  let region: Region | undefined;
  let slow = false;
  const n = space.locked(() => {
    const a = watched(space, range);
    if (!a) return -1;
    region = a;
    const max = Math.min(cap, (end - start) / page);
    if (f.buf.length < max) f.buf = new Float64Array(Math.max(max, f.buf.length * 2));
    try {
      if (a.flagged === 0) {
        setQuery(f.q, start, end, reset, max, f.buf);
        space.watch(a).scan(f.q);
        return f.q.count;
      }
      slow = true;
      return collectFlagged(space, f, a, start, end, max, reset);
    } catch (e) {
      if (!(e instanceof LostError)) throw e;
      debug('GetWriteWatch 0x%s: %s', start.toString(16), e.message);
      return -1;
    } finally {
      f.q.into = null;
    }
  });
  if (n < 0) return STATUS_INVALID_PARAMETER;
  const values = typed ? null : Array.from(f.buf.subarray(0, n), (x) => BigInt(x));
  // The boxes were probed, but a getter or setter may still throw (or call in again): each step
  // undoes the ones before it.
  let oldGran: number | undefined;
  let step = 0;
  try {
    oldGran = gran.value;
    // The step is counted before each store: a setter that stored and then threw is put back too.
    step = 1;
    cnt.value = n;
    step = 2;
    gran.value = page;
    if (typed) {
      // After the setters: a resizable buffer they shrank (or detached) is an unwritable pointer,
      // not a write past it, and the answer is not delivered.
      if (typedArrayLength(out as BigUint64Array) < n) throw new RangeError('the addresses array shrank below the count');
      copyOutTyped(out as BigUint64Array, f.buf, n);
    } else copyOutArray(out as bigint[], values!);
    return 0;
  } catch (e) {
    debug('GetWriteWatch 0x%s: an out-parameter refused the store: %o', start.toString(16), e);
    try {
      if (step >= 1) cnt.value = cap;
      if (step >= 2) gran.value = oldGran as number;
    } catch {
      /* best effort */
    }
    if (reset && n > 0) undo(space, f, region!, n, slow);
    return STATUS_ACCESS_VIOLATION;
  }
}

/**
 * The slow path, while the region has LATCHED or STICKY pages: the tracker's written pages merged
 * with the STICKY ones, ascending, capped; with reset, exactly the pages returned are re-armed and
 * lose their flags (kept in f.flags, for undo).
 */
function collectFlagged(space: Space, f: Frame, a: Region, start: number, end: number, max: number, reset: boolean): number {
  const page = space.pageSize;
  const total = (end - start) / page;
  if (f.tmp.length < total) f.tmp = new Float64Array(total);
  const q = f.q;
  setQuery(q, start, end, false, 0, f.tmp);
  space.watch(a).scan(q);
  const m = q.count;
  q.into = null;
  let n = 0;
  let k = 0;
  const first = pageOf(a, start, page);
  for (let i = first; i < first + total && n < max; i++) {
    const addr = a.base + i * page;
    while (k < m && f.tmp[k] < addr) k++;
    if ((k < m && f.tmp[k] === addr) || a.pages[i] & STICKY) f.buf[n++] = addr;
  }
  if (!reset || n === 0) return n;
  if (f.flags.length < n) f.flags = new Uint16Array(Math.max(n, 2 * f.flags.length));
  for (let j = 0; j < n; ) {
    let e = j + 1;
    while (e < n && f.buf[e] === f.buf[e - 1] + page) e++;
    setQuery(q, f.buf[j], f.buf[e - 1] + page, true, 0, f.tmp);
    space.watch(a).scan(q); // re-arms what is written in the run (pages only STICKY have nothing to re-arm)
    q.into = null;
    j = e;
  }
  for (let j = 0; j < n; j++) {
    const i = pageOf(a, f.buf[j], page);
    f.flags[j] = a.pages[i] & (LATCHED | STICKY);
    clearFlags(a, i, LATCHED | STICKY);
  }
  return n;
}

/**
 * Undoes the reset of the `n` pages in the frame, whose answer could not be delivered: each reads
 * as written again (STICKY: the next GetWriteWatch reports it, overstated at worst, never lost) and
 * gets back the flags it had.
 */
function undo(space: Space, f: Frame, a: Region, n: number, slow: boolean): void {
  space.locked(() => {
    if (space.find(a.base, a.base) !== a) return; // released by the user code that refused the store
    const page = space.pageSize;
    for (let j = 0; j < n; j++) {
      const i = pageOf(a, f.buf[j], page);
      setFlags(a, i, STICKY | (slow ? f.flags[j] : 0));
    }
  });
}

/** NtResetWriteWatch: rounded size 0 or not inside one write-watched allocation → STATUS_INVALID_PARAMETER. */
export function resetWatch(space: Space, f: Frame, b: bigint, size: number): number {
  const range = roundRange(b, size, space.pageSize, f.range);
  if (range.empty) return STATUS_INVALID_PARAMETER;
  return space.locked(() => {
    const a = watched(space, range);
    if (!a) return STATUS_INVALID_PARAMETER;
    const q = f.q;
    setQuery(q, range.start, range.end, true, 0, f.buf);
    q.into = null;
    try {
      space.watch(a).reset(q);
    } catch (e) {
      if (!(e instanceof LostError)) throw e;
      debug('ResetWriteWatch 0x%s: %s', range.start.toString(16), e.message);
      return STATUS_INVALID_PARAMETER;
    }
    clearRange(a, pageOf(a, range.start, space.pageSize), pageOf(a, range.end, space.pageSize));
    return 0;
  });
}
