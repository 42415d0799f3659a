/**
 * A compare tracker: the pages of [start, end) whose bytes differ from their baseline (the
 * shadow). Only pages that can differ are read: a page neither populated in memory nor in the
 * shadow reads as zeros on both sides (sys/pagemap/populated.ts), so a fresh 1 GiB allocation costs
 * a page-table walk, not a GiB of reads, and its untouched pages are never faulted in.
 */
import koffi from 'koffi';
import { assertMapped } from '../../memory/mapped.js';
import { populatedRuns, RUNS_ARE_ALL_READABLE } from '../../memory/populated.js';
import type { Query, Tracker } from '../contract.js';
import { diff, type DiffOut } from './diff.js';
import { Shadow } from './shadow.js';

/** Runs to compare, as [start, end) pairs, shared by the thread's trackers (grown, never shrunk). */
const liveRuns = { out: new Float64Array(64) };
const shadowRuns = { out: new Float64Array(64) };
const merged = { out: new Float64Array(64) };
/** The runs #runs() chose: liveRuns.out, merged.out, or the whole range. */
let runs = liveRuns.out;

export class CompareTracker implements Tracker {
  readonly #start: number;
  #end: number;
  readonly #page: number;
  readonly #shadow: Shadow;
  readonly #owns: () => boolean;
  readonly #out: DiffOut = { into: null, sink: null, count: 0 };
  /** msync's arguments for the last range checked, as bigints made once per range. */
  #checked = { start: 0, end: 0, addr: 0n, len: 0n, b: new Float64Array(2) };

  /**
   * A shadow for [start, end). `baseline`: copy the memory's current content into it (track);
   * without, the memory is known to be all zeros, as the fresh shadow is (allocate). `owns` answers
   * Tracker.owns() with the evidence the memory's kind offers.
   */
  constructor(start: number, end: number, page: number, baseline: boolean, owns: () => boolean) {
    this.#start = start;
    this.#end = end;
    this.#page = page;
    this.#owns = owns;
    // At least a page: a growable target may start empty, and its shadow grows with it.
    this.#shadow = Shadow.map(Math.max(end - start, page), start);
    if (baseline) {
      try {
        // Copies only what differs from the zero-filled shadow: zero pages of the target cost no RSS.
        this.#diff(start, end, 0, true, null, 0);
      } catch (e) {
        this.#shadow.release();
        throw e;
      }
    }
  }

  scan(q: Query): void {
    const b = q.bounds;
    q.count += this.#diff(b[0], b[1], b[2], q.reset, q, q.maxPages);
  }

  reset(q: Query): void {
    const b = q.bounds;
    this.#diff(b[0], b[1], b[2], true, null, 0);
  }

  /** Returns how many differing pages it reported. */
  #diff(s: number, e: number, origin: number, reset: boolean, q: Query | null, cap: number): number {
    // Never past what the target covers now: a growable buffer's reservation beyond it is PROT_NONE.
    if (e > this.#end) e = this.#end;
    if (s < this.#start) s = this.#start;
    if (s >= e) return 0;
    const shadow = this.#shadow;
    // A tracked target grown past the shadow (past its maxByteLength): the new part compares against zeros.
    if (this.#end - this.#start > shadow.length) shadow.grow(this.#end - this.#start);
    // memcmp on memory unmapped behind our back would be a SIGSEGV: msync finds the hole first.
    let p = this.#checked;
    if (p.start !== s || p.end !== e) p = this.#checked = { start: s, end: e, addr: BigInt(s), len: BigInt(e - s), b: Float64Array.of(s, e) };
    assertMapped(p.b, p.addr, p.len);
    const delta = shadow.address - this.#start;
    const n = this.#runs(s, e, delta);
    const out = this.#out;
    out.into = q?.into ?? null;
    out.sink = q !== null && q.into === null ? q.sink : null;
    out.count = q?.count ?? 0;
    const before = out.count;
    try {
      diff(runs, n, delta, origin, this.#page, cap > 0 ? before + cap : 0, reset, out);
      return out.count - before;
    } finally {
      out.into = null;
      out.sink = null;
    }
  }

  /**
   * The runs of [s, e) that can differ: populated in memory or in the shadow, merged. The whole
   * range when the kernel cannot say (no PAGEMAP_SCAN).
   */
  #runs(s: number, e: number, delta: number): number {
    const a = populatedRuns(s, e, 0, liveRuns, 0);
    const b = a < 0 ? -1 : RUNS_ARE_ALL_READABLE ? 0 : populatedRuns(s + delta, e + delta, delta, shadowRuns, 0);
    if (a < 0 || b < 0) {
      runs = merged.out;
      runs[0] = s;
      runs[1] = e;
      return 2;
    }
    if (b === 0) {
      runs = liveRuns.out;
      return a;
    }
    const n = union(a, b);
    runs = merged.out;
    return n;
  }

  /** A re-baseline: what was dropped (zeros now) becomes the baseline. */
  rearm(q: Query): void {
    this.reset(q);
  }

  /**
   * Makes the shadow of each page of the bounds differ from the memory (its first byte inverted),
   * so the next call reports the page as changed whatever is stored there.
   */
  unreset(q: Query): void {
    const s = Math.max(q.bounds[0], this.#start);
    const e = Math.min(q.bounds[1], this.#end);
    const delta = this.#shadow.address - this.#start;
    for (let p = s; p < e; p += this.#page) {
      const live = new Uint8Array(koffi.view(BigInt(p), 1))[0];
      new Uint8Array(koffi.view(BigInt(p + delta), 1))[0] = ~live & 0xff;
    }
  }

  grow(end: number): void {
    if (end > this.#end) this.#end = end;
  }

  owns(): boolean {
    return this.#owns();
  }

  close(): void {
    this.#shadow.release();
  }
}

/** Merges liveRuns.out[0, a) and shadowRuns.out[0, b) (each ascending) into merged.out; returns the count. */
function union(a: number, b: number): number {
  const x = liveRuns.out;
  const y = shadowRuns.out;
  let out = merged.out;
  if (out.length < a + b) out = merged.out = new Float64Array(Math.max(a + b, out.length * 2));
  let i = 0, j = 0, n = 0;
  while (i < a || j < b) {
    let s: number, e: number;
    if (j >= b || (i < a && x[i] <= y[j])) (s = x[i]), (e = x[i + 1]), (i += 2);
    else (s = y[j]), (e = y[j + 1]), (j += 2);
    if (n > 0 && s <= out[n - 1]) {
      if (e > out[n - 1]) out[n - 1] = e;
    } else {
      out[n++] = s;
      out[n++] = e;
    }
  }
  return n;
}
