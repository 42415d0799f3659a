/**
 * The same-process, same-memory comparison (issue 13's table): one WriteWatch, and the C loop
 * (bench/c/scan.c, through koffi) walking that WriteWatch's very own pages, alternating call by
 * call with getInto and get, all three with reset. Strided writes (every 1/fraction-th page),
 * stored before each call's clock starts. No cache eviction: calls back to back, as a loop of
 * frames that does little else; the order rotates every repetition so no method always follows
 * the same one. Every ratio is the median of ratios taken within one repetition; p25–p75 says how
 * wide the spread was on a loaded machine.
 */
import { WriteWatch } from 'writewatch';
import { now, since } from './clock.mjs';
import { median } from './stats.mjs';

const RESET = Object.freeze({ reset: true });

/** Every `1 / fraction`-th page, ascending (all pages at 100 %). */
export function stridedPages(pages, fraction) {
  const stride = Math.max(1, Math.round(1 / fraction));
  const out = new Uint32Array(Math.floor((pages - 1) / stride) + 1);
  for (let i = 0; i < out.length; i++) out[i] = i * stride;
  return out;
}

export function quantile(xs, q) {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const i = (v.length - 1) * q, lo = Math.floor(i), hi = Math.ceil(i);
  return v[lo] + (v[hi] - v[lo]) * (i - lo);
}

/** Per-repetition ratios a / b: { median, p25, p75 }. */
export function ratioStats(times, a, b) {
  const r = times[a].map((x, i) => x / times[b][i]);
  return { median: median(r), p25: quantile(r, 0.25), p75: quantile(r, 0.75) };
}

/**
 * One cell per (size, fraction). `native` is the C loop (required). Returns
 * [{ length, fraction, k, ns: {C, getInto, get}, times, ratios: {getInto, get}, bad }].
 */
export function sameProcess({ native, page, sizes, fractions, reps, log = () => {} }) {
  const warm = warmUp(page);
  try {
    return cellsOf({ native, page, sizes, fractions, reps, log, warm });
  } finally {
    warm.close();
  }
}

function cellsOf({ native, page, sizes, fractions, reps, log, warm }) {
  const cells = [];
  for (const length of sizes) {
    const pages = length / page;
    const ww = WriteWatch.allocate(length);
    // The C side only lends its vector and offset array; it scans the WriteWatch's pages.
    const c = native.region(length);
    try {
      const u32 = new Uint32Array(ww.buffer);
      const words = page / 4;
      // Populate once, so every cell walks present PTEs (as a program's working memory).
      for (let p = 0; p < pages; p++) u32[p * words] = 1;
      ww.reset();
      const addr = Number(ww.address);
      for (const fraction of fractions) {
        const list = stridedPages(pages, fraction);
        const k = list.length;
        const out = new Float64Array(k);
        let value = 1;
        const dirty = () => {
          const v = ++value;
          for (let i = 0; i < k; i++) u32[list[i] * words + 1] = v;
        };
        const methods = {
          C: () => c.scanAt(addr, length, true),
          getInto: () => {
            const t0 = now();
            const n = ww.getInto(out, RESET);
            return { ns: since(t0), pages: n };
          },
          get: () => {
            const t0 = now();
            const n = ww.get(RESET).length;
            return { ns: since(t0), pages: n };
          },
        };
        const names = Object.keys(methods);
        const times = Object.fromEntries(names.map((n) => [n, []]));
        const bad = [];
        // Warm-up: first touch of the output arrays, and enough calls for the JIT to (re-)optimize
        // the library's path: closing any WriteWatch detaches its buffer, which throws away every
        // optimized function that reads a typed array, once per process; until re-optimized, getInto
        // ran 1.5× slower (measured: 30 calls at 64 MiB, 1 %).
        const w0 = Date.now();
        for (let w = 0; w < 200 && (w < 10 || Date.now() - w0 < 300); w++) for (const n of names) (dirty(), methods[n]());
        // A path first taken just now (this size's setup, its first long walk) deoptimizes the
        // function it is in; cheap calls get it optimized again before the clock starts.
        warm.spin();
        for (let r = 0; r < reps; r++) {
          for (let i = 0; i < names.length; i++) {
            const n = names[(i + r) % names.length];
            dirty();
            const { ns, pages: got } = methods[n]();
            if (got !== k) bad.push(`${n} found ${got} of ${k} pages`);
            times[n].push(ns);
          }
        }
        const cell = {
          length,
          fraction,
          k,
          ns: Object.fromEntries(names.map((n) => [n, median(times[n])])),
          times,
          ratios: { getInto: ratioStats(times, 'getInto', 'C'), get: ratioStats(times, 'get', 'C') },
          bad,
        };
        if (process.env.WW_BENCH_TRACE) for (const n of names) process.stderr.write(`${n}: ${times[n].map((t) => (t / 1e3).toFixed(0)).join(' ')}\n`);
        cells.push(cell);
        log(cell);
      }
    } finally {
      c.close();
      ww.close();
    }
  }
  return cells;
}

/**
 * The JIT's steady state before anything is timed. Closing a WriteWatch detaches its buffer, which
 * (once per process) throws away every optimized function that reads a typed array: one is closed
 * first, then 3,000 calls of each method, two pages written each time, get the library's whole
 * path optimized (a program calling getInto once a frame is there within a minute).
 */
function warmUp(page) {
  WriteWatch.allocate(page).close();
  const pages = 4096;
  const ww = WriteWatch.allocate(pages * page);
  const u8 = new Uint8Array(ww.buffer);
  const small = new Float64Array(64), big = new Float64Array(pages);
  // Every path the cells take: a few pages, more regions than one ioctl returns (2,048), a whole
  // run of pages, an answer cut by the array's length, nothing written; reset() too.
  const shapes = [(i) => [i % pages, (i * 7) % pages], () => range(0, pages, 2), () => range(0, pages, 1), () => []];
  for (let i = 0; i < 600; i++) {
    const shape = shapes[i % shapes.length](i);
    for (const p of shape) u8[p * page] = 1;
    ww.getInto(i % 3 ? big : small, RESET);
    for (const p of shape) u8[p * page] = 2;
    ww.get(RESET);
    ww.getInto(big, RESET);
    for (const p of shape) u8[p * page] = 3;
    ww.reset();
  }
  // Then many cheap calls: V8 optimizes a function once it has run enough bytecode, and the
  // wrappers around the scan (getInto, its checks) are short.
  const spin = () => {
    for (let i = 0; i < 20000; i++) {
      u8[(i % pages) * page] = 1;
      ww.getInto(small, RESET);
      if (i % 4 === 0) ww.get(RESET);
    }
  };
  spin();
  return { spin, close: () => ww.close() };
}

function range(from, to, step) {
  const out = [];
  for (let p = from; p < to; p += step) out.push(p);
  return out;
}
