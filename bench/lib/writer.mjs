/**
 * The writer's side: what the first store to a page costs after a reset, in tracked memory (the
 * async write-protect fault) versus the same stores to untracked, already populated memory.
 * One 32-bit store per page; every page in order ("seq") or 10 % of them in random order.
 */
import koffi from 'koffi';
import { WriteWatch } from 'writewatch';
import { now, since } from './clock.mjs';
import { median } from './stats.mjs';
import { randomPages, rng } from './patterns.mjs';

function shuffled(pages, seed) {
  const rand = rng(seed);
  for (let i = pages.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [pages[i], pages[j]] = [pages[j], pages[i]];
  }
  return pages;
}

/** JS stores, timed. Kept apart from patterns.touch so that its JIT feedback is only this loop's. */
function timedTouch(u32, pages, value, words) {
  const t0 = now();
  for (let i = 0; i < pages.length; i++) {
    const p = pages[i];
    u32[p * words + ((Math.imul(p, 2654435761) >>> 22) % words)] = value;
  }
  return since(t0);
}

export function writer({ native, page, length, reps }) {
  const n = length / page, words = page / 4;
  const patterns = {
    seq: Uint32Array.from({ length: n }, (_, i) => i),
    rand10: shuffled(randomPages(n, Math.round(n / 10), 7), 8),
  };
  const ww = WriteWatch.allocate(length);
  const tracked = new Uint32Array(ww.buffer);
  const plainBuf = new ArrayBuffer(length);
  const plain = new Uint32Array(plainBuf);
  plain.fill(1);
  tracked.fill(1);
  ww.reset();
  const c = native?.region(length);
  if (c) (c.touch(patterns.seq, 1), c.reset(0));
  const rows = [];
  let v = 1;
  for (const [name, pages] of Object.entries(patterns)) {
    const t = { 'JS untracked': [], 'JS tracked': [], 'C untracked': [], 'C tracked': [] };
    for (let r = 0; r < reps; r++) {
      v++;
      ww.reset();
      t['JS tracked'].push(timedTouch(tracked, pages, v, words) / pages.length);
      t['JS untracked'].push(timedTouch(plain, pages, v, words) / pages.length);
      if (c) {
        c.reset(0);
        t['C tracked'].push(c.touch(pages, v) / pages.length);
        t['C untracked'].push(native.touchAt(addressOfPlain(plain), pages, v) / pages.length);
      }
    }
    const found = ww.get().length;
    const ns = Object.fromEntries(Object.entries(t).map(([k, x]) => [k, median(x)]));
    rows.push({
      pattern: name,
      pages: pages.length,
      found,
      ns,
      ratio: median(t['JS tracked'].map((x, i) => x / t['JS untracked'][i])),
    });
  }
  ww.close();
  c?.close();
  return rows;
}

function addressOfPlain(u32) {
  return Number(koffi.address(u32));
}
