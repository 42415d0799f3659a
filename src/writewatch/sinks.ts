/**
 * Region sinks that turn the scanner's absolute [start, end) runs into what each method returns.
 * One instance per WriteWatch, re-targeted per call, so the hot path allocates nothing.
 */
import type { RegionSink } from '../pagemap/written.js';

/** One byte offset per page, into a number[] (get). */
export class OffsetArraySink implements RegionSink {
  out: number[] = [];
  base = 0;
  page = 4096;
  region(start: number, end: number): void {
    const { out, page } = this;
    for (let a = start - this.base, e = end - this.base; a < e; a += page) out.push(a);
  }
}

/** One byte offset per page, into a caller's Float64Array (getInto). */
export class OffsetFloat64Sink implements RegionSink {
  out: Float64Array = new Float64Array(0);
  count = 0;
  base = 0;
  page = 4096;
  region(start: number, end: number): void {
    const { out, page } = this;
    let k = this.count;
    for (let a = start - this.base, e = end - this.base; a < e; a += page) out[k++] = a;
    this.count = k;
  }
}

export interface ByteRange {
  offset: number;
  length: number;
}

/** Coalesced `{ offset, length }` runs (ranges): the kernel merges within one call, this across calls. */
export class RangeSink implements RegionSink {
  out: ByteRange[] = [];
  base = 0;
  region(start: number, end: number): void {
    const offset = start - this.base;
    const last = this.out[this.out.length - 1];
    if (last && last.offset + last.length === offset) last.length += end - start;
    else this.out.push({ offset, length: end - start });
  }
}
