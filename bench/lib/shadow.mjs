/**
 * What a JavaScript program does without this library: keep a copy of the memory, compare it page
 * by page with `Buffer#compare` (memcmp, the fastest compare Node offers), and copy each page that
 * changed into the copy, so the next call sees only newer writes. Costs a second copy of the memory.
 */
import { now, since } from './clock.mjs';

export class Shadow {
  /** `buffer`: the live memory (read only here). */
  constructor(buffer, page) {
    this.live = Buffer.from(buffer);
    this.copy = Buffer.allocUnsafeSlow(this.live.length);
    this.live.copy(this.copy);
    this.page = page;
    this.out = new Float64Array(this.live.length / page);
  }

  /** Brings the copy up to date without timing it (after writes the timed calls did not see). */
  sync() {
    this.live.copy(this.copy);
  }

  /** The diff: offsets of changed pages into `out`, copy refreshed; timed. */
  time() {
    const { live, copy, page, out } = this;
    const len = live.length;
    const t0 = now();
    let k = 0;
    for (let off = 0; off < len; off += page) {
      const end = off + page;
      if (live.compare(copy, off, end, off, end) !== 0) {
        live.copy(copy, off, off, end);
        out[k++] = off;
      }
    }
    return { ns: since(t0), pages: k };
  }

  close() {
    this.live = this.copy = null;
  }
}
