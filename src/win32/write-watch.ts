/**
 * NtGetWriteWatch / NtResetWriteWatch (NTSTATUS, last error untouched, as in Wine where they never
 * call SetLastError) and their kernelbase wrappers GetWriteWatch / ResetWriteWatch (0, or
 * 0xFFFFFFFF with the last error). GetWriteWatch is one PAGEMAP_SCAN walk (src/pagemap/written.ts)
 * capped at `*lpdwCount` pages, so with WRITE_WATCH_FLAG_RESET exactly the returned pages are
 * re-armed and dirty pages past the cut stay dirty, as on Windows.
 *
 * Out-parameters that cannot be written (frozen, getter-only, a Proxy whose set throws) are an
 * unwritable pointer: STATUS_ACCESS_VIOLATION (998) with nothing changed, like NULL (args.ts says
 * why this is a Windows failure and not a throw). Boxes are probed before the call acts; a plain
 * array cannot be probed cheaply, so a store into it that throws is undone: the entries written are
 * restored and the pages the call reset are un-write-protected (UFFDIO_WRITEPROTECT mode 0), which
 * makes them read as written again: the next call reports them (overstated at worst, never lost).
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
import { getPageSize } from '../sys/libc/libc.js';
import type { RegionSink } from '../sys/pagemap/written.js';
import { pagemapStillOurs, selfScanner } from '../sys/pagemap/self.js';
import { assertTracked, pagemapReplaced } from '../writewatch/lost.js';
import { findAllocation, type Allocation } from './allocations.js';
import { checkAddress, checkAddresses, checkBox, checkCountValue, checkDword, checkSize, probe, UNWRITABLE, writable, type Box } from './args.js';
import { STATUS_ACCESS_VIOLATION, STATUS_INVALID_PARAMETER, WRITE_WATCH_FAILED, WRITE_WATCH_FLAG_RESET } from './constants.js';
import { setNtStatus } from './last-error.js';
import { newRange, roundRange } from './range.js';

const debug = createDebug('writewatch:win32');

/**
 * Collects page addresses in a scratch array: out-parameters are written only on success, so the
 * caller's array is filled after the scan returned. Grows geometrically, then allocates nothing.
 */
class ScratchSink implements RegionSink {
  buf = new Float64Array(256);
  count = 0;
  page = 4096;
  region(start: number, end: number): void {
    const { buf, page } = this;
    let k = this.count;
    for (let a = start; a < end; a += page) buf[k++] = a;
    this.count = k;
  }
  reserve(n: number): void {
    if (this.buf.length < n) this.buf = new Float64Array(Math.max(n, this.buf.length * 2));
  }
}

const sink = new ScratchSink();
/** ResetWriteWatch wants the re-arming, not the list. */
const discard: RegionSink = { region() {} };
const range = newRange();
const TWO32 = 4294967296;
// The 32-bit view of the last BigUint64Array written: lets addresses be stored without a BigInt each.
let lastOut: BigUint64Array | null = null;
let lastOut32: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/** Writes the addresses into a BigUint64Array: typed-array stores cannot throw. */
function copyOutTyped(out: BigUint64Array, n: number): void {
  const buf = sink.buf;
  // Re-derived when the array changes, or its length does (a view that tracks a resizable buffer).
  if (out !== lastOut || lastOut32.length !== out.length * 2) {
    lastOut = out;
    lastOut32 = new Uint32Array(out.buffer, out.byteOffset, out.length * 2);
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
 * index); on a throw, restores what it overwrote and rethrows, so the array is as it was.
 */
function copyOutArray(out: bigint[], n: number): void {
  const buf = sink.buf;
  const saved: unknown[] = [];
  let i = 0;
  try {
    for (; i < n; i++) {
      saved.push(out[i]);
      out[i] = BigInt(buf[i]);
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

/** out.length, or -1 when reading it throws (a Proxy): an unreadable pointer. */
function lengthOf(out: BigUint64Array | bigint[]): number {
  try {
    const n = out.length;
    return typeof n === 'number' ? n : -1;
  } catch {
    return -1;
  }
}

/**
 * Undoes the reset of the `n` pages in sink.buf: un-write-protecting a page (UFFDIO_WRITEPROTECT
 * mode 0) makes it read as written, so the next GetWriteWatch reports it again.
 */
function unreset(a: Allocation, n: number, page: number): void {
  const buf = sink.buf;
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && buf[j] === buf[j - 1] + page) j++;
    try {
      a.uffd!.writeProtect(buf[i], buf[j - 1] + page - buf[i], false);
    } catch (e) {
      // The registration is gone: every later call on the range answers 87, never "clean".
      debug('GetWriteWatch rollback 0x%s: %o', buf[i].toString(16), e);
    }
    i = j;
  }
}

/** The write-watched allocation holding all of the rounded range, or undefined (→ 87). */
function watched(): Allocation | undefined {
  if (range.outside) return undefined;
  const a = findAllocation(range.start, range.end);
  return a && a.uffd ? a : undefined;
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
  const page = getPageSize();
  roundRange(b, size, page, range);
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
  const a = watched();
  if (!a) return STATUS_INVALID_PARAMETER;
  const { start, end } = range;
  const max = Math.min(cap, (end - start) / page);
  sink.reserve(max);
  sink.page = page;
  sink.count = 0;
  const reset = (flags & WRITE_WATCH_FLAG_RESET) !== 0;
  let checked = false;
  try {
    // A get without reset changes nothing, and fails whole by itself (EPERM) if tracking was lost.
    assertTracked(start, end, reset);
    checked = true;
    selfScanner().scan(start, end, reset, max, sink);
    // "Nothing written" is also what a number dup2'ed to another process's pagemap answers.
    if (sink.count === 0 && !pagemapStillOurs()) return ntGetWriteWatch(flags, base, size, addresses, count, granularity);
  } catch (e) {
    // Our pagemap fd was closed or replaced behind our back: nothing was reset yet, so again on a fresh one.
    if ((!checked || !reset) && pagemapReplaced(e)) return ntGetWriteWatch(flags, base, size, addresses, count, granularity);
    if (!(e instanceof LostError)) throw e;
    debug('GetWriteWatch 0x%s: %s', start.toString(16), e.message);
    return STATUS_INVALID_PARAMETER;
  }
  const n = sink.count;
  // The boxes were probed, but a getter or setter may still throw: each step undoes the ones before it.
  let oldGran: number | undefined;
  let step = 0;
  try {
    oldGran = gran.value;
    cnt.value = n;
    step = 1;
    gran.value = page;
    step = 2;
    if (typed) copyOutTyped(out as BigUint64Array, n);
    else copyOutArray(out as bigint[], n);
    return 0;
  } catch (e) {
    debug('GetWriteWatch 0x%s: an out-parameter refused the store: %o', start.toString(16), e);
    try {
      if (step >= 1) cnt.value = cap;
      if (step >= 2) gran.value = oldGran as number;
    } catch {
      /* best effort */
    }
    if (reset) unreset(a, n, page);
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
  roundRange(b, size, getPageSize(), range);
  if (range.empty) return STATUS_INVALID_PARAMETER;
  const a = watched();
  if (!a) return STATUS_INVALID_PARAMETER;
  const { start, end } = range;
  let checked = false;
  try {
    // Checked first: the scan re-arms mapping by mapping and would fail only on reaching a lost one.
    assertTracked(start, end);
    checked = true;
    selfScanner().scan(start, end, true, 0, discard);
  } catch (e) {
    if (!checked && pagemapReplaced(e)) return ntResetWriteWatch(base, size);
    if (!(e instanceof LostError)) throw e;
    debug('ResetWriteWatch 0x%s: %s', start.toString(16), e.message);
    return STATUS_INVALID_PARAMETER;
  }
  return 0;
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
