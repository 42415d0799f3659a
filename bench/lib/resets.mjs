/**
 * ResetWriteWatch implementation choices, timed in C on the same region: UFFDIO_WRITEPROTECT over
 * the range (what WriteWatch.reset does), PAGEMAP_SCAN WP_MATCHING|CHECK_WPASYNC with vec_len 0
 * (the kernel's exclusive-WP fast path; safe here because tracked memory is MADV_NOHUGEPAGE: on
 * kernels before Sep 2025 that form oopses on a partly covered THP), and the same scan with a
 * vector. Plus WriteWatch.reset() from JS. Each reset is checked: the region must then read clean.
 */
import { pattern, pageCount } from './patterns.mjs';
import { evictCaches } from './evict.mjs';
import { median } from './stats.mjs';

export const RESET_METHODS = ['UFFDIO_WRITEPROTECT', 'PAGEMAP_SCAN vec_len 0', 'PAGEMAP_SCAN + vector'];

export function resetChoices(ctx, { native, fractions, reps, seed }) {
  const rows = [];
  if (!native) return rows;
  const c = ctx.c.r, js = ctx.js;
  for (const fraction of fractions) {
    const pages = pattern('random', ctx.pages, fraction, seed);
    const t = Object.fromEntries([...RESET_METHODS, 'WriteWatch.reset()'].map((n) => [n, []]));
    const bad = [];
    for (let r = 0; r < reps; r++) {
      for (let i = 0; i < RESET_METHODS.length + 1; i++) {
        const m = (i + r) % (RESET_METHODS.length + 1);
        const v = r * 8 + i + 2;
        if (m < RESET_METHODS.length) {
          c.touch(pages, v);
          evictCaches();
          t[RESET_METHODS[m]].push(c.reset(m));
          const left = c.scan(false).pages;
          if (left) bad.push(`${RESET_METHODS[m]} left ${left} pages written`);
        } else {
          js.dirty(pages, v);
          evictCaches();
          t['WriteWatch.reset()'].push(js.timeReset());
          if (js.timeGet(false).pages) bad.push('WriteWatch.reset() left pages written');
        }
      }
    }
    rows.push({ size: ctx.length, fraction, k: pageCount(ctx.pages, fraction), ns: Object.fromEntries(Object.entries(t).map(([n, x]) => [n, median(x)])), bad });
  }
  return rows;
}
