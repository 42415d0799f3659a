/**
 * What every rule shares: the per-call frame (user code may call in again mid-call, and a nested
 * call must not overwrite the outer one's state), the tracker query, and the per-page flags
 * (space.ts: LATCHED, STICKY) with their count.
 */
import { newQuery, type Query } from '../../mechanisms/contract.js';
import { newRange, type PageRange } from '../range.js';
import { LATCHED, STICKY, type Region } from '../space.js';


/**
 * What one call works with: its rounded range, the page addresses it found (out-parameters are
 * written only on success, so the caller's array is filled after the scan returned), the flags the
 * returned pages had, the tracker query. The outermost call reuses one (no allocation); a call made
 * from inside another's user code gets a fresh one, so it cannot overwrite the outer call's state.
 */
export interface Frame {
  range: PageRange;
  buf: Float64Array;
  /** The slow path's tracker answer (pages written per the tracker) before merging with STICKY pages. */
  tmp: Float64Array;
  /** Per returned page, its flags before a reset cleared them (restored if the answer is not delivered). */
  flags: Uint16Array;
  q: Query;
}

const newFrame = (): Frame => ({
  range: newRange(),
  buf: new Float64Array(256),
  tmp: new Float64Array(0),
  flags: new Uint16Array(0),
  q: newQuery(),
});
const outer = newFrame();
let depth = 0;

/** Runs one call in a frame of its own (see Frame): every function that can reach user code runs in one. */
export function run<T>(body: (f: Frame) => T): T {
  const f = depth === 0 ? outer : newFrame();
  depth++;
  try {
    return body(f);
  } finally {
    depth--;
  }
}

export function setQuery(q: Query, start: number, end: number, reset: boolean, maxPages: number, into: Float64Array): void {
  q.bounds[0] = start;
  q.bounds[1] = end;
  q.bounds[2] = 0;
  q.reset = reset;
  q.maxPages = maxPages;
  q.into = into;
  q.sink = null;
  q.count = 0;
}


export function pageOf(r: Region, address: number, page: number): number {
  return (address - r.base) / page;
}

export function setFlags(r: Region, i: number, bits: number): void {
  const v = r.pages[i];
  if ((v & (LATCHED | STICKY)) === 0) r.flagged++;
  r.pages[i] = v | bits;
}

export function clearFlags(r: Region, i: number, bits: number): void {
  const v = r.pages[i];
  if ((v & (LATCHED | STICKY)) === 0) return;
  const n = v & ~bits;
  r.pages[i] = n;
  if ((n & (LATCHED | STICKY)) === 0) r.flagged--;
}

export function clearRange(r: Region, first: number, last: number): void {
  if (r.flagged === 0) return;
  for (let i = first; i < last; i++) clearFlags(r, i, LATCHED | STICKY);
}
