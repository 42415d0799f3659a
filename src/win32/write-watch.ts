/**
 * NtGetWriteWatch / NtResetWriteWatch (NTSTATUS, last error untouched, as in Wine where they never
 * call SetLastError) and their kernelbase wrappers GetWriteWatch / ResetWriteWatch (0, or
 * 0xFFFFFFFF with the last error). GetWriteWatch is one scan of the allocation's tracker (the
 * write-protect mechanism: a PAGEMAP_SCAN walk) capped at `*lpdwCount` pages, so with
 * WRITE_WATCH_FLAG_RESET exactly the returned pages are re-armed and dirty pages past the cut stay
 * dirty, as on Windows.
 *
 * Out-parameters that cannot be written (frozen, getter-only, a Proxy whose set throws) are an
 * unwritable pointer: STATUS_ACCESS_VIOLATION (998) with nothing changed, like NULL (args.ts says
 * why this is a Windows failure and not a throw). Boxes are probed before the call acts; a plain
 * array cannot be probed cheaply, so a store into it that throws is undone: the entries written are
 * restored and the pages the call reset are made to read as written again (the tracker's unreset):
 * the next call reports them (overstated at worst, never lost).
 *
 * User code runs in the middle of a call (the boxes' getters and setters, an array's element
 * setters), and it may call these functions again: each call works in a frame of its own (the
 * range, the scratch addresses, the query), lengths are read through the engine's getters, and the
 * caller's typed array is written last, after every setter has run.
 *
 * Tracking lost behind our back (the memory unmapped or mapped over without VirtualFree, a forked
 * child) surfaces from the kernel as PM_SCAN_CHECK_WPASYNC's EPERM, or msync's ENOMEM for a hole.
 * It is answered with STATUS_INVALID_PARAMETER (87): for Windows the range is then no longer inside
 * a write-watched allocation, which is exactly what 87 means here, and a caller can never mistake
 * it for a result (all clean or all written).
 */
import { types } from 'node:util';
import createDebug from 'debug';
import { LostError } from '../errors.js';
import { newQuery, type Query } from '../mechanisms/index.js';
import { getPageSize } from '../sys/platform.js';
import { typedArrayBuffer, typedArrayByteOffset, typedArrayLength } from '../writewatch/intrinsics.js';
import { findAllocation, type Allocation } from './allocations.js';
import { checkAddress, checkAddresses, checkBox, checkCountValue, checkDword, checkSize, probe, UNWRITABLE, writable, type Box } from './args.js';
import { STATUS_ACCESS_VIOLATION, STATUS_INVALID_PARAMETER, WRITE_WATCH_FAILED, WRITE_WATCH_FLAG_RESET } from './constants.js';
import { setNtStatus } from './last-error.js';
import { newRange, roundRange, type PageRange } from './range.js';

const debug = createDebug('writewatch:win32');

/**
 * What one call works with: its rounded range, the page addresses it found (out-parameters are
 * written only on success, so the caller's array is filled after the scan returned), the tracker
 * query (absolute addresses: origin 0). The outermost call reuses one (no allocation); a call made
 * from inside another's user code gets a fresh one, so it cannot overwrite the outer call's state.
 */
interface Frame {
  range: PageRange;
  buf: Float64Array;
  q: Query;
}

const newFrame = (): Frame => ({ range: newRange(), buf: new Float64Array(256), q: newQuery() });
const outer = newFrame();
let depth = 0;

function run<T>(body: (f: Frame) => T): T {
  const f = depth === 0 ? outer : newFrame();
  depth++;
  try {
    return body(f);
  } finally {
    depth--;
  }
}

function reserve(f: Frame, n: number): void {
  if (f.buf.length < n) f.buf = new Float64Array(Math.max(n, f.buf.length * 2));
}

const TWO32 = 4294967296;

// The 32-bit view of the last BigUint64Array written: lets addresses be stored without a BigInt each.
let lastOut: BigUint64Array | null = null;
let lastOut32: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/** Writes the addresses into a BigUint64Array of at least `n` elements: typed-array stores run no user code. */
function copyOutTyped(out: BigUint64Array, buf: Float64Array, n: number): void {
  // Re-derived when the array changes, or its length does (a view that tracks a resizable buffer);
  // through the engine's getters, so a subclass cannot point it past the array.
  const length = typedArrayLength(out);
  if (out !== lastOut || lastOut32.length !== length * 2) {
    lastOut = out;
    lastOut32 = new Uint32Array(typedArrayBuffer(out), typedArrayByteOffset(out), length * 2);
  }
  const u32 = lastOut32;
  // Little-endian halves (x86_64 and arm64 Linux are little-endian); addresses < 2^53 are exact.
  for (let i = 0; i < n; i++) {
    const a = buf[i];
    u32[2 * i] = a >>> 0;
    u32[2 * i + 1] = (a / TWO32) >>> 0;
  }
}

/**
 * Writes the addresses into a plain array, whose stores may throw (frozen, a Proxy, a non-writable
 * index) or run user code; on a throw, restores what it overwrote and rethrows, so the array is as
 * it was. `values` is the call's own copy: user code reached from a store cannot change it.
 */
function copyOutArray(out: bigint[], values: bigint[]): void {
  const saved: unknown[] = [];
  let i = 0;
  try {
    for (; i < values.length; i++) {
      saved.push(out[i]);
      out[i] = values[i];
    }
  } catch (e) {
    for (let k = 0; k < saved.length && k < i; k++) {
      try {
        out[k] = saved[k] as bigint;
      } catch {
        /* best effort: a store that threw once may throw again */
      }
    }
    throw e;
  }
}

/** False for a plain array that cannot take stores: frozen, or a Proxy whose traps throw. */
function storable(out: bigint[]): boolean {
  try {
    return !Object.isFrozen(out);
  } catch {
    return false;
  }
}

/** The length of the addresses array (a typed array's through the engine's getter), or -1 when reading it throws. */
function lengthOf(out: BigUint64Array | bigint[]): number {
  if (types.isBigUint64Array(out)) return typedArrayLength(out);
  try {
    const n = out.length;
    return typeof n === 'number' ? n : -1;
  } catch {
    return -1;
  }
}

/**
 * Undoes the reset of the `n` pages in the frame: the tracker makes each run read as written
 * again, so the next GetWriteWatch reports it.
 */
function unreset(f: Frame, a: Allocation, n: number, page: number): void {
  const buf = f.buf;
  const q = f.q;
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && buf[j] === buf[j - 1] + page) j++;
    q.bounds[0] = buf[i];
    q.bounds[1] = buf[j - 1] + page;
    try {
      a.tracker!.unreset(q);
    } catch (e) {
      // The registration is gone: every later call on the range answers 87, never "clean".
      debug('GetWriteWatch rollback 0x%s: %o', buf[i].toString(16), e);
    }
    i = j;
  }
}

/** The write-watched allocation holding all of the rounded range, or undefined (→ 87). */
function watched(range: PageRange): Allocation | undefined {
  if (range.outside) return undefined;
  const a = findAllocation(range.start, range.end);
  return a && a.tracker ? a : undefined;
}

/**
 * NtGetWriteWatch on the current process. Checks, in Windows' order: NULL count or granularity →
 * STATUS_ACCESS_VIOLATION; `count.value` 0 or rounded size 0 → STATUS_INVALID_PARAMETER; flags
 * other than 0/1 → STATUS_INVALID_PARAMETER; NULL addresses (or one shorter than `count.value`,
 * which on Windows would be an access violation writing it) → STATUS_ACCESS_VIOLATION; range not
 * inside one MEM_WRITE_WATCH allocation → STATUS_INVALID_PARAMETER.
 */
export function ntGetWriteWatch(
  flags: number,
  base: bigint,
  size: number,
  addresses: BigUint64Array | bigint[] | null,
  count: Box | null,
  granularity: Box | null,
): number {
  checkDword('flags', flags);
  const b = checkAddress('base', base);
  checkSize('size', size);
  const out = checkAddresses('addresses', addresses);
  const cnt = checkBox('count', count);
  const gran = checkBox('granularity', granularity);
  return run((f) => getWatch(f, flags, b, size, out, cnt, gran));
}

function getWatch(f: Frame, flags: number, b: bigint, size: number, out: BigUint64Array | bigint[] | null, cnt: Box | null, gran: Box | null): number {
  const page = getPageSize();
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
  const a = watched(range);
  if (!a) return STATUS_INVALID_PARAMETER;
  const { start, end } = range;
  const max = Math.min(cap, (end - start) / page);
  reserve(f, max);
  const reset = (flags & WRITE_WATCH_FLAG_RESET) !== 0;
  const q = f.q;
  q.bounds[0] = start;
  q.bounds[1] = end;
  q.bounds[2] = 0;
  q.reset = reset;
  q.maxPages = max;
  q.into = f.buf;
  q.sink = null;
  q.count = 0;
  try {
    a.tracker!.scan(q);
  } catch (e) {
    if (!(e instanceof LostError)) throw e;
    debug('GetWriteWatch 0x%s: %s', start.toString(16), e.message);
    return STATUS_INVALID_PARAMETER;
  } finally {
    q.into = null;
  }
  const n = q.count;
  const values = typed ? null : Array.from(f.buf.subarray(0, n), (x) => BigInt(x));
  // The boxes were probed, but a getter or setter may still throw (or call in again): each step
  // undoes the ones before it.
  let oldGran: number | undefined;
  let step = 0;
  try {
    oldGran = gran.value;
    cnt.value = n;
    step = 1;
    gran.value = page;
    step = 2;
    if (typed) {
      // After the setters: a resizable buffer they shrank is an unwritable pointer, not a write past it.
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
    if (reset) unreset(f, a, n, page);
    return STATUS_ACCESS_VIOLATION;
  }
}

/**
 * NtResetWriteWatch: rounded size 0 or not inside one write-watched allocation → STATUS_INVALID_PARAMETER.
 * The reset is a PAGEMAP_SCAN with PM_SCAN_WP_MATCHING (and a vector: a vec-less write-protecting
 * scan oopses kernels before the September 2025 fix), not UFFDIO_WRITEPROTECT: on 64 MiB it took
 * 40-48 µs against 73-79 µs with nothing written, 118 µs against 184 µs with 1,000 separate
 * written pages, 545 µs against 1.5-1.6 ms with 8,000 (medians, Linux 6.18 x86_64).
 */
export function ntResetWriteWatch(base: bigint, size: number): number {
  const b = checkAddress('base', base);
  checkSize('size', size);
  return run((f) => {
    const range = roundRange(b, size, getPageSize(), f.range);
    if (range.empty) return STATUS_INVALID_PARAMETER;
    const a = watched(range);
    if (!a) return STATUS_INVALID_PARAMETER;
    const q = f.q;
    q.bounds[0] = range.start;
    q.bounds[1] = range.end;
    q.bounds[2] = 0;
    try {
      a.tracker!.reset(q);
    } catch (e) {
      if (!(e instanceof LostError)) throw e;
      debug('ResetWriteWatch 0x%s: %s', range.start.toString(16), e.message);
      return STATUS_INVALID_PARAMETER;
    }
    return 0;
  });
}

/** GetWriteWatch: 0, or 0xFFFFFFFF with the last error (87, 998) set from the NTSTATUS. */
export function getWriteWatch(
  flags: number,
  base: bigint,
  size: number,
  addresses: BigUint64Array | bigint[] | null,
  count: Box | null,
  granularity: Box | null,
): number {
  return setNtStatus(ntGetWriteWatch(flags, base, size, addresses, count, granularity)) ? 0 : WRITE_WATCH_FAILED;
}

/** ResetWriteWatch: 0, or 0xFFFFFFFF with the last error 87. */
export function resetWriteWatch(base: bigint, size: number): number {
  return setNtStatus(ntResetWriteWatch(base, size)) ? 0 : WRITE_WATCH_FAILED;
}
