/**
 * Which pages a cell writes: `k = round(fraction × pages)` pages, either spread at random (seeded,
 * so C and JS and every repetition write the same pages) or as one run. Page indexes, ascending.
 */

/** mulberry32: small, seedable, good enough to scatter pages. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pageCount(pages, fraction) {
  return fraction === 0 ? 0 : Math.max(1, Math.round(pages * fraction));
}

/** `k` distinct random pages of `pages` (Floyd's algorithm through a bitmap), ascending. */
export function randomPages(pages, k, seed) {
  const rand = rng(seed);
  const taken = new Uint8Array(pages);
  for (let j = pages - k; j < pages; j++) {
    const t = Math.floor(rand() * (j + 1));
    taken[taken[t] ? j : t] = 1;
  }
  const out = new Uint32Array(k);
  for (let i = 0, n = 0; i < pages; i++) if (taken[i]) out[n++] = i;
  return out;
}

/** One run of `k` pages at a random start. */
export function runPages(pages, k, seed) {
  const first = Math.floor(rng(seed)() * (pages - k + 1));
  const out = new Uint32Array(k);
  for (let i = 0; i < k; i++) out[i] = first + i;
  return out;
}

export function pattern(kind, pages, fraction, seed) {
  const k = pageCount(pages, fraction);
  if (k === pages) return runPages(pages, k, seed);
  return kind === 'random' ? randomPages(pages, k, seed) : runPages(pages, k, seed);
}

/** The 32-bit word each page's store goes to: scattered, so a shadow compare stops mid-page on average. */
export function wordOf(page, wordsPerPage) {
  return (Math.imul(page, 2654435761) >>> 22) % wordsPerPage;
}

/** JS stores, one per listed page, into a Uint32Array over the region (the same words as the C touch). */
export function touch(u32, pages, value, wordsPerPage) {
  for (let i = 0; i < pages.length; i++) {
    const p = pages[i];
    u32[p * wordsPerPage + ((Math.imul(p, 2654435761) >>> 22) % wordsPerPage)] = value;
  }
}
