/**
 * The sink of ranges(): the scanner hands it each written run as byte offsets [start, end) from
 * byte 0 of the buffer. (get and getInto need no sink: the scanner writes their offsets itself.)
 */
import type { RegionSink } from '../sys/pagemap/written.js';

export interface ByteRange {
  offset: number;
  length: number;
}

/** Coalesced `{ offset, length }` runs (ranges): the kernel merges within one call, this across calls. */
export class RangeSink implements RegionSink {
  out: ByteRange[] = [];
  region(start: number, end: number): void {
    const last = this.out[this.out.length - 1];
    if (last && last.offset + last.length === start) last.length += end - start;
    else this.out.push({ offset: start, length: end - start });
  }
}
