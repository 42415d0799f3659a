/**
 * The tracked regions one scan cell compares, each behind the same small interface:
 * `dirty(pages, value)` (untimed stores), `time(reset)` → { ns, pages }, `reset()` (untimed).
 * A WriteWatch's ArrayBuffer cannot exceed 4 GiB on Node 20 (buffer.constants.MAX_LENGTH), so a
 * larger JS region is several WriteWatches side by side, each asked in turn.
 */
import { WriteWatch } from 'writewatch';
import { now, since } from './clock.mjs';
import { touch } from './patterns.mjs';

export const MAX_WW = 2 ** 32;
const RESET = Object.freeze({ reset: true });
const GET = Object.freeze({ reset: false });

/** Splits ascending page indexes among chunks of `per` pages: [chunk, local pages][]. */
function split(pages, per) {
  const parts = [];
  let i = 0;
  while (i < pages.length) {
    const chunk = Math.floor(pages[i] / per);
    let j = i;
    while (j < pages.length && pages[j] < (chunk + 1) * per) j++;
    parts.push([chunk, pages.subarray(i, j).map((p) => p - chunk * per)]);
    i = j;
  }
  return parts;
}

export class JsRegion {
  constructor(length, page) {
    this.page = page;
    this.words = page / 4;
    const n = Math.ceil(length / MAX_WW);
    this.per = Math.min(length, MAX_WW) / page;
    this.wws = [];
    try {
      for (let i = 0; i < n; i++) this.wws.push(WriteWatch.allocate(Math.min(MAX_WW, length - i * MAX_WW)));
    } catch (e) {
      this.close();
      throw e;
    }
    this.u32 = this.wws.map((w) => new Uint32Array(w.buffer));
    this.outs = null;
  }

  dirty(pages, value) {
    if (this.wws.length === 1) touch(this.u32[0], pages, value, this.words);
    else for (const [c, local] of split(pages, this.per)) touch(this.u32[c], local, value, this.words);
  }

  /** Float64Arrays for getInto, sized for the largest answer expected. */
  prepareInto(maxPages) {
    const per = Math.min(Math.max(maxPages, 1), this.per);
    if (!this.outs || this.outs[0].length < per) this.outs = this.wws.map(() => new Float64Array(per));
  }

  timeGet(reset) {
    const wws = this.wws, opts = reset ? RESET : GET;
    const t0 = now();
    let pages = 0;
    for (let i = 0; i < wws.length; i++) pages += wws[i].get(opts).length;
    return { ns: since(t0), pages };
  }

  timeGetInto(reset) {
    const wws = this.wws, outs = this.outs, opts = reset ? RESET : GET;
    const t0 = now();
    let pages = 0;
    for (let i = 0; i < wws.length; i++) pages += wws[i].getInto(outs[i], opts);
    return { ns: since(t0), pages };
  }

  timeReset() {
    const t0 = now();
    for (const w of this.wws) w.reset();
    return since(t0);
  }

  reset() {
    for (const w of this.wws) w.reset();
  }

  close() {
    for (const w of this.wws) w.close();
    this.wws = [];
    this.u32 = [];
  }
}

/** The C loop's own region (mapped and armed in C). */
export class CRegion {
  constructor(native, length, page) {
    this.r = native.region(length);
    this.page = page;
  }
  dirty(pages, value) {
    this.r.touch(pages, value);
  }
  time(reset) {
    return this.r.scan(reset);
  }
  reset() {
    this.r.reset(0);
  }
  close() {
    this.r.close();
  }
}
