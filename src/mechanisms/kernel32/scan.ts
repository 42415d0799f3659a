/**
 * GetWriteWatch into preallocated buffers, shared by every tracker of this thread (JS runs one call
 * at a time per isolate): lpAddresses is a BigUint64Array read through a Uint32Array (addresses are
 * below 2^47, so lo + hi * 2^32 is exact and no BigInt is made), *lpdwCount is written through its
 * low 32 bits. The address buffer grows geometrically up to CHUNK entries, then never again: a range
 * with more dirty pages than that is read in several calls, each starting after the last page the
 * previous one returned (as the .NET GC reads a full array), so with WRITE_WATCH_FLAG_RESET exactly
 * the pages returned are re-armed, chunk by chunk.
 */
import { WRITE_WATCH_FLAG_RESET } from '../../sys/kernel32/abi.js';
import { kernel32 } from '../../sys/kernel32/raw.js';

/** The most addresses one call returns (128 KiB of buffer). */
export const CHUNK = 16384;
const TWO32 = 4294967296;

let addresses = new BigUint64Array(new ArrayBuffer(256 * 8));
let addresses32 = new Uint32Array(addresses.buffer);
const count = new BigUint64Array(new ArrayBuffer(8));
const count32 = new Uint32Array(count.buffer);
const granularity = new Uint32Array(new ArrayBuffer(4));

/** Receives the n page addresses one GetWriteWatch returned, ascending: addressAt(0 … n-1), valid until the next call. */
export type Batch = (n: number) => void;

/** The i-th address of the last batch. */
export function addressAt(i: number): number {
  return addresses32[2 * i] + addresses32[2 * i + 1] * TWO32;
}

/**
 * Reads at most `cap` written pages of [start, end) (absolute, page-aligned), in order, handing
 * each batch to `batch`. Returns the number of pages read, or -1 when a call failed (GetLastError
 * says why; when the first one fails nothing changed).
 */
export function getWriteWatch(reset: boolean, start: number, end: number, page: number, cap: number, batch: Batch): number {
  const k = kernel32();
  const flags = reset ? WRITE_WATCH_FLAG_RESET : 0;
  let from = start;
  let total = 0;
  while (total < cap && from < end) {
    const want = Math.min(cap - total, CHUNK);
    if (addresses.length < want) grow(want);
    count32[0] = want;
    count32[1] = 0;
    // A later chunk can fail only if the allocation went away mid-call (another thread freed it):
    // what the earlier chunks re-armed went with it, so that is a failure as well.
    if (k.GetWriteWatch(flags, from, end - from, addresses, count, granularity) !== 0) return -1;
    const n = count32[0];
    if (n > 0) batch(n);
    total += n;
    if (n < want) break;
    from = addressAt(n - 1) + page;
  }
  return total;
}

function grow(n: number): void {
  const size = Math.min(CHUNK, Math.max(n, addresses.length * 2));
  addresses = new BigUint64Array(new ArrayBuffer(size * 8));
  addresses32 = new Uint32Array(addresses.buffer);
}

/** GetWriteWatch(0, start, end - start) with room for one address: true iff the range is one live write-watch allocation. */
export function stillWatched(start: number, end: number): boolean {
  count32[0] = 1;
  count32[1] = 0;
  return kernel32().GetWriteWatch(0, start, end - start, addresses, count, granularity) === 0;
}

/** The granularity the last successful call wrote (4096 on x64 Windows and Wine). */
export function lastGranularity(): number {
  return granularity[0];
}
