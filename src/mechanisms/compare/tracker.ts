/**
 * The compare mechanism's answers to get/getInto/ranges/reset: the pages whose bytes differ from
 * their baseline (the shadow). Bounds follow WriteWatch's (every page a byte range touches,
 * clipped to what is tracked) and are also clipped to the pages the buffer covers now, so that a
 * growable buffer's reservation past its length (PROT_NONE) is never read.
 */
import type { GetOptions, Request } from '../../writewatch/args.js';
import { assertTracked } from '../../writewatch/lost.js';
import { RangeSink, type ByteRange } from '../../writewatch/sinks.js';
import type { Watched } from '../../writewatch/write-watch.js';
import { diff, type DiffOut } from './diff.js';
import { Shadow } from './shadow.js';

export type { GetOptions };

export class CompareTracker {
  readonly #w: Watched;
  readonly #page: number;
  readonly #shadow: Shadow;
  readonly #out: DiffOut = { into: null, sink: null, count: 0 };
  readonly #ranges = new RangeSink();
  /** The page range of the last #bounds(). */
  #s = 0;
  #e = 0;

  /**
   * A shadow for `w`'s [start, end). `baseline`: copy the memory's current content into it (track);
   * without, the memory is known to be all zeros, as the fresh shadow is (allocate).
   */
  constructor(w: Watched, page: number, baseline: boolean) {
    this.#w = w;
    this.#page = page;
    this.#shadow = Shadow.map(w.end - w.start, w.start);
    if (baseline) {
      try {
        // Copy only what differs from the zero-filled shadow: zero pages of the target cost no RSS.
        this.reset(0, w.byteLength);
      } catch (e) {
        this.#shadow.release();
        throw e;
      }
    }
  }

  /** Puts the tracked, present pages that [offset, offset + length) touches in #s/#e; false if none. */
  #bounds(offset: number, length: number): boolean {
    if (length === 0) return false;
    const w = this.#w, page = this.#page;
    let s = Math.floor((w.base + offset) / page) * page;
    let e = Math.ceil((w.base + offset + length) / page) * page;
    const present = Math.ceil((w.base + w.byteLength) / page) * page;
    if (s < w.start) s = w.start;
    if (e > w.end) e = w.end;
    if (e > present) e = present;
    if (s >= e) return false;
    // A tracked target grown past the shadow (past its maxByteLength): the new part compares against zeros.
    if (w.end - w.start > this.#shadow.length) this.#shadow.grow(w.end - w.start);
    // memcmp on memory unmapped behind our back would be a SIGSEGV: msync finds the hole first.
    assertTracked(s, e, false);
    this.#s = s;
    this.#e = e;
    return true;
  }

  #diff(r: Request, into: Float64Array | null, sink: RangeSink | null): number {
    const out = this.#out;
    out.into = into;
    out.sink = sink;
    out.count = 0;
    try {
      const w = this.#w;
      diff(this.#s, this.#e, this.#shadow.address - w.start, w.base, this.#page, r.maxPages, r.reset, out);
      return out.count;
    } finally {
      out.into = null;
      out.sink = null;
    }
  }

  get(r: Request): number[] {
    if (!this.#bounds(r.offset, r.length)) return [];
    let cap = (this.#e - this.#s) / this.#page;
    if (r.maxPages > 0 && r.maxPages < cap) cap = r.maxPages;
    if (scratch.length < cap) scratch = new Float64Array(cap);
    const n = this.#diff(r, scratch, null);
    const out: number[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = scratch[i];
    return out;
  }

  /** `r.maxPages` is already capped at `out.length` by the caller. */
  getInto(out: Float64Array, r: Request): number {
    if (!this.#bounds(r.offset, r.length)) return 0;
    return this.#diff(r, out, null);
  }

  ranges(r: Request): ByteRange[] {
    if (!this.#bounds(r.offset, r.length)) return [];
    const sink = this.#ranges;
    const out: ByteRange[] = [];
    sink.out = out;
    try {
      this.#diff(r, null, sink);
    } finally {
      sink.out = [];
    }
    return out;
  }

  /** Re-baselines every page the range touches: copies the ones that differ, which is all a copy would change. */
  reset(offset: number, length: number): void {
    if (!this.#bounds(offset, length)) return;
    this.#diff({ offset, length, maxPages: 0, reset: true }, null, null);
  }

  close(): void {
    this.#shadow.release();
  }
}

/** get()'s offsets before they become an array, shared by every compare tracker of the thread. */
let scratch = new Float64Array(0);
