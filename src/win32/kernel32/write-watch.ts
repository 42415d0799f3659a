/**
 * GetWriteWatch / ResetWriteWatch (kernel32: 0, or 0xFFFFFFFF with the last error) and
 * NtGetWriteWatch / NtResetWriteWatch (ntdll, on GetCurrentProcess()'s pseudo-handle -1: an
 * NTSTATUS, the last error untouched) on Windows, with writewatch/win32's JS shapes.
 *
 * What kernel32 is given is what a C caller would pass: the caller's BigUint64Array itself when it
 * holds `count.value` entries (Windows writes it in place, nothing copied), a scratch
 * BigUint64Array for a bigint[] (copied out after success), scratch cells for `*lpdwCount` and
 * `*lpdwGranularity` (stored into the boxes after success). What C cannot express is mapped onto
 * what Windows already answers, so the error and its place in the check order are Windows' own:
 * an array shorter than `count.value` (a buffer overrun in C), a frozen array or an unwritable box
 * are passed as NULL pointers, which Windows answers with STATUS_ACCESS_VIOLATION (998).
 *
 * User code runs only before the call (the boxes are probed: their `value` read once and written
 * back) and after it (the stores, last, from locals: a setter that calls in again cannot disturb
 * this call's results). A store that throws all the same is undone (the boxes and array entries
 * get their values back) and the call fails with 998, with nothing reset: Windows cannot make a
 * page read as written again without writing it, so when a store could throw (a bigint[], a box
 * with a setter or a Proxy) WRITE_WATCH_FLAG_RESET is done in two steps: the get without reset,
 * the stores, then ResetWriteWatch of exactly the pages returned, run by run. A write racing with
 * that is still never lost: it lands either on a page this call returns (whose contents the
 * caller reads after the call) or on one it does not reset (reported by the next call).
 */
import { types } from 'node:util';
import { kernel32 } from '../../sys/kernel32/raw.js';
import { typedArrayLength } from '../../writewatch/intrinsics.js';
import { checkAddress, checkCountValue, checkGetWatchArgs, checkSize, probe, UNWRITABLE, writable, type Box } from '../args.js';
import { ERROR_NOACCESS, STATUS_ACCESS_VIOLATION, WRITE_WATCH_FAILED, WRITE_WATCH_FLAG_RESET } from '../constants.js';
import { copyOutArray, lengthOf, storable } from '../out-params.js';
import { plainBox } from './out-params.js';
import { heldOverlaps } from './regions.js';

/** x64 Windows' page: GetWriteWatch's granularity there. */
const PAGE = 4096;
/** GetCurrentProcess(): the pseudo-handle of the calling process. */
const CURRENT_PROCESS = -1;
const TWO32 = 4294967296;
/** A scratch array past this many entries is made for the call and not kept. */
const KEEP_SCRATCH = 1 << 16;

// *lpdwCount (a ULONG_PTR, read and written through 32-bit halves: no BigInt per call) and *lpdwGranularity.
const countCell = new BigUint64Array(1);
const count32 = new Uint32Array(countCell.buffer);
const granCell = new Uint32Array(1);
let scratch = new BigUint64Array(256);

/**
 * One forwarded get: `nt` selects NtGetWriteWatch (returns the NTSTATUS) or kernel32's
 * GetWriteWatch (returns 0 or 0xFFFFFFFF, the last error Windows'). Arguments already type-checked.
 */
function forward(nt: boolean, flags: number, base: bigint, size: number, out: BigUint64Array | bigint[] | null, cnt: Box | null, gran: Box | null): number {
  // Inputs, read once; user code (getters) runs here and nowhere until kernel32 returned.
  let cap = -1;
  if (cnt && gran) {
    const v = probe(cnt);
    if (v !== UNWRITABLE && writable(gran)) cap = checkCountValue('count', v);
  }
  const typed = out !== null && types.isBigUint64Array(out);
  let addresses: BigUint64Array | null = null;
  if (cap >= 0 && out !== null && lengthOf(out) >= cap && (typed || storable(out as bigint[]))) {
    if (typed) addresses = out as BigUint64Array;
    else {
      // Windows probes the whole array it is told of: the scratch holds `cap` entries, as the caller's.
      if (scratch.length >= cap) addresses = scratch;
      else if (cap <= KEEP_SCRATCH) addresses = scratch = new BigUint64Array(Math.max(cap, scratch.length * 2));
      else addresses = new BigUint64Array(cap);
    }
  }
  // Stores that cannot throw: the caller's typed array (written by Windows) and plain boxes.
  const safe = addresses !== null && typed && plainBox(cnt!) && plainBox(gran!);
  // The typed array is written in place by Windows: what to put back should a box's store throw.
  const before = typed && addresses !== null && !safe ? (out as BigUint64Array).slice(0, cap) : null;
  // Reset after the stores succeeded, and only then (see the header): flags 0 to Windows now.
  const resetAfter = !safe && addresses !== null && flags === WRITE_WATCH_FLAG_RESET;
  if (resetAfter) flags = 0;
  if (cap >= 0) {
    count32[0] = cap % TWO32;
    count32[1] = Math.floor(cap / TWO32);
  }
  const k = kernel32();
  // Memory released but held for views is free for Windows: NULL gets its answer, in its order.
  if (heldOverlaps(base, size)) base = 0n;
  const countPtr = cap >= 0 ? countCell : null;
  const granPtr = cap >= 0 ? granCell : null;
  const r = nt
    ? k.NtGetWriteWatch(CURRENT_PROCESS, flags, base, size, addresses, countPtr, granPtr)
    : k.GetWriteWatch(flags, base, size, addresses, countPtr, granPtr);
  if (r !== 0) return r;
  // Success: the results into locals before any user code can run (and call in again).
  const n = count32[0] + count32[1] * TWO32;
  const g = granCell[0];
  const values = typed ? null : Array.from(addresses!.subarray(0, n));
  // The pages to reset, kept apart from the caller's array, which a setter may reach and change.
  const toReset = resetAfter ? (values ?? Array.from(addresses!.subarray(0, n))) : null;
  let oldGran: number | undefined;
  let step = 0;
  try {
    oldGran = gran!.value;
    cnt!.value = n;
    step = 1;
    gran!.value = g;
    step = 2;
    if (values) copyOutArray(out as bigint[], values);
  } catch {
    try {
      if (step >= 1) cnt!.value = cap;
      if (step >= 2) gran!.value = oldGran as number;
    } catch {
      /* best effort */
    }
    if (before) (out as BigUint64Array).set(before.subarray(0, Math.min(before.length, typedArrayLength(out as BigUint64Array))));
    if (nt) return STATUS_ACCESS_VIOLATION;
    k.SetLastError(ERROR_NOACCESS);
    return WRITE_WATCH_FAILED;
  }
  if (toReset) resetPages(toReset);
  return 0;
}

/**
 * ResetWriteWatch of the pages given (ascending page addresses), one call per run of adjacent
 * pages. The last error is kept: this is the tail of a call that succeeded.
 */
function resetPages(pages: bigint[]): void {
  const k = kernel32();
  const saved = k.GetLastError();
  for (let i = 0; i < pages.length; ) {
    let j = i + 1;
    while (j < pages.length && pages[j] === pages[j - 1] + BigInt(PAGE)) j++;
    k.ResetWriteWatch(pages[i], (j - i) * PAGE);
    i = j;
  }
  k.SetLastError(saved);
}

/** NtGetWriteWatch(GetCurrentProcess(), …): an NTSTATUS; the last error is not touched. */
export function ntGetWriteWatch(
  flags: number,
  base: bigint,
  size: number,
  addresses: BigUint64Array | bigint[] | null,
  count: Box | null,
  granularity: Box | null,
): number {
  const a = checkGetWatchArgs(flags, base, size, addresses, count, granularity);
  return forward(true, a.flags, a.base, a.size, a.out, a.cnt, a.gran);
}

/** GetWriteWatch: 0, or 0xFFFFFFFF with Windows' last error (87, 998). */
export function getWriteWatch(
  flags: number,
  base: bigint,
  size: number,
  addresses: BigUint64Array | bigint[] | null,
  count: Box | null,
  granularity: Box | null,
): number {
  const a = checkGetWatchArgs(flags, base, size, addresses, count, granularity);
  return forward(false, a.flags, a.base, a.size, a.out, a.cnt, a.gran);
}

/** NtResetWriteWatch(GetCurrentProcess(), …): an NTSTATUS. */
export function ntResetWriteWatch(base: bigint, size: number): number {
  const b = checkAddress('base', base);
  checkSize('size', size);
  return kernel32().NtResetWriteWatch(CURRENT_PROCESS, heldOverlaps(b, size) ? 0n : b, size);
}

/** ResetWriteWatch: 0, or 0xFFFFFFFF with the last error 87. */
export function resetWriteWatch(base: bigint, size: number): number {
  const b = checkAddress('base', base);
  checkSize('size', size);
  return kernel32().ResetWriteWatch(heldOverlaps(b, size) ? 0n : b, size);
}
