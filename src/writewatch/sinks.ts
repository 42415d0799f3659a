/**
 * The sink of ranges(): the tracker hands it each written run as byte offsets [start, end) from
 * byte 0 of the buffer. (get and getInto need no sink: the tracker writes their offsets itself.)
 */
import type { Sink } from '../mechanisms/index.js';

export interface ByteRange {
  offset: number;
  length: number;
}

/**
 * Coalesced `{ offset, length }` runs (ranges): the kernel merges within one call, this across
 * calls. Runs are clipped to the target's own bytes [lo, hi): a partial first or last page is the
 * target's only in part.
 */
export class RangeSink implements Sink {
  out: ByteRange[] = [];
  lo = 0;
  hi = Infinity;
  region(start: number, end: number): void {
    if (start < this.lo) start = this.lo;
    if (end > this.hi) end = this.hi;
    if (end <= start) return;
    const last = this.out[this.out.length - 1];
    if (last && last.offset + last.length === start) last.length += end - start;
    else this.out.push({ offset: start, length: end - start });
  }
  restart(): void {
    this.out.length = 0;
  }
}
