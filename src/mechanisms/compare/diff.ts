/**
 * The page diff: which pages of live memory differ from their shadow, at memory bandwidth. Large
 * blocks are compared first, with one memcmp each: a block equal to its shadow (most of them,
 * when few pages change) costs one call, and memcmp stops at the first differing byte of one that
 * is not. Only inside a differing block are smaller blocks, then pages, compared.
 *
 * With `reset`, each run of differing pages (within the smallest block) is copied into the shadow
 * right after it was compared: a store that lands between the compare and the copy is in a page
 * this call reports, and a store
 * the copy misses (or copies torn) leaves the page differing from its shadow, so the next call
 * reports it. Pages that compared equal are never copied: a store landing after their compare
 * stays visible to the next call. That is why the diff never copies a page it did not report.
 */
import type { RegionSink } from '../../sys/pagemap/written.js';
import { memops } from '../../sys/memops.js';


/**
 * Block sizes compared before pages, largest first. On populated memory any choice runs at memory
 * bandwidth; on sparse memory (the zero page, cache-hot) fewer calls win (bench/lib/compare.mjs,
 * "Blocks compared before pages"). Exported for that sweep.
 */
export const BLOCKS = [256 * 1024, 16 * 1024];

/** Where the diff's findings go; reused across calls. */
export interface DiffOut {
  /** Offsets (address - origin) of differing pages, when non-null; `count` says how many. */
  into: Float64Array | null;
  /** Runs of differing pages, as [start, end) offsets, when non-null. */
  sink: RegionSink | null;
  count: number;
}

/**
 * Compares the pages of each run [runs[i], runs[i + 1]) (absolute, page-aligned, ascending, for i
 * even and below `n`) with the shadow at `+ delta`, stopping after `cap` differing pages (0: no
 * cap). Offsets are reported relative to `origin`.
 */
export function diff(
  runs: Float64Array,
  n: number,
  delta: number,
  origin: number,
  page: number,
  cap: number,
  reset: boolean,
  out: DiffOut,
): void {
  const d = new Differ(delta, origin, page, cap, reset, out);
  for (let i = 0; i < n; i += 2) if (!d.walk(runs[i], runs[i + 1], 0)) break;
  d.flush();
}

class Differ {
  readonly #m = memops();
  /** Start of the run of differing pages not yet flushed, or -1. */
  #run = -1;
  #runEnd = -1;
  constructor(
    readonly delta: number,
    readonly origin: number,
    readonly page: number,
    readonly cap: number,
    readonly reset: boolean,
    readonly out: DiffOut,
  ) {}

  /** Walks [from, to) in blocks of BLOCKS[level] (pages past the last level); false once capped. */
  walk(from: number, to: number, level: number): boolean {
    const m = this.#m, delta = this.delta;
    const size = level < BLOCKS.length ? BLOCKS[level] : this.page;
    if (size <= this.page) return this.pages(from, to);
    for (let x = from; x < to; ) {
      let e = x + size;
      if (e > to) e = to;
      if (m.memcmp(x, x + delta, e - x) !== 0) {
        if (!this.walk(x, e, level + 1)) return false;
      }
      x = e;
    }
    return true;
  }

  pages(from: number, to: number): boolean {
    const m = this.#m, delta = this.delta, page = this.page, out = this.out;
    for (let p = from; p < to; p += page) {
      if (m.memcmp(p, p + delta, page) === 0) continue;
      if (this.#run >= 0 && this.#runEnd !== p) this.flush();
      if (this.#run < 0) this.#run = p;
      this.#runEnd = p + page;
      if (out.into !== null) out.into[out.count] = p - this.origin;
      out.count++;
      if (out.count === this.cap) return false;
    }
    // Copy now, while the pages are still in the cache from their comparison: a run left pending
    // to the end would be read from memory a second time (measured: 100 % changed, 1 GiB).
    this.flush();
    return true;
  }

  /** Re-baselines and reports the pending run. */
  flush(): void {
    const s = this.#run;
    if (s < 0) return;
    const e = this.#runEnd;
    this.#run = this.#runEnd = -1;
    if (this.reset) this.#m.memcpy(s + this.delta, s, e - s);
    this.out.sink?.region(s - this.origin, e - this.origin);
  }
}
