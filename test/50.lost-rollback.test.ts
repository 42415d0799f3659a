/**
 * get/getInto with reset do not check the registration before they scan: the scan itself fails
 * (EPERM) on reaching a lost mapping, after it re-protected the pages before it, and the scanner
 * then un-write-protects exactly those pages. These tests take the registration away at the end of
 * the range and check that no written page is lost, in each of the three ways the walk can fail:
 * in its only ioctl, in the check made when the walk stops early, and in a later ioctl. The
 * negative control runs the same scan with an undo that does nothing, and shows that the kernel
 * really did reset the pages: without the undo they would read as clean.
 *
 * How many regions make a walk stop early is taken from the kernel (PTES_PER_TABLE: one page
 * table's entries, hpage_pmd_size / page), not from the library's own regionsPerCall, and the tests
 * that need an early stop see it happen (the guard's check is called), rather than assume it.
 */
import koffi from 'koffi';
import { afterEach, expect, it } from 'vitest';
import { WriteWatch } from '../src/index.js';
import { selfScanner } from '../src/sys/pagemap/self.js';
import { assertRegisteredAt } from '../src/mechanisms/write-protect/lost.js';
import type { ResetGuard } from '../src/sys/pagemap/written.js';
import { describeKernel, PAGE, PTES_PER_TABLE } from './support/kernel.js';

const lib = koffi.load('libc.so.6');
const mmap = lib.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)') as (
  a: bigint | null, l: number, prot: number, flags: number, fd: number, off: number) => bigint;
const PROT_RW = 3, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20, MAP_FIXED = 0x10;
const LOST = { code: 'ERR_WRITEWATCH_LOST' };
/** Every other page written, two and a half page tables' worth of regions, and the page to lose. */
const MANY = 2 * (2 * PTES_PER_TABLE + PTES_PER_TABLE / 2) + 2;

let live: WriteWatch[] = [];
afterEach(() => {
  for (const ww of live) ww.close();
  live = [];
});

/** `pages` pages with every other page written (one region each), all but the last `tail`. */
function region(pages: number, tail = 1): { ww: WriteWatch; written: number[] } {
  const ww = WriteWatch.allocate(pages * PAGE);
  live.push(ww);
  const u8 = new Uint8Array(ww.buffer);
  const written: number[] = [];
  for (let p = 0; p < pages - tail; p += 2) (u8[p * PAGE + 5] = 1, written.push(p * PAGE));
  expect(ww.get()).toEqual(written);
  return { ww, written };
}

/** MAP_FIXED over the last page: its mapping is no longer registered. */
function loseLastPage(ww: WriteWatch, pages: number): void {
  const at = ww.address + BigInt((pages - 1) * PAGE);
  expect(mmap(at, PAGE, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)).toBe(at);
}

/** Everything before the lost page, read without reset. */
const before = (ww: WriteWatch, pages: number) => ww.get({ length: (pages - 1) * PAGE });

/** The scanner with the library's undo (or another), exactly as getInto drives it. */
function scanWith(ww: WriteWatch, out: Float64Array, guard: ResetGuard, pages: number): () => number {
  return () => {
    const s = selfScanner();
    const a = Number(ww.address);
    s.bounds[0] = a;
    s.bounds[1] = a + pages * PAGE;
    s.bounds[2] = a;
    s.into = out;
    s.count = 0;
    s.guard = guard;
    try {
      return s.scanBounds(true, out.length, null);
    } finally {
      s.into = null;
      s.guard = null;
    }
  };
}

/**
 * Runs `fn` with the guard of every guarded scan wrapped to count its check() calls: the check is
 * made only when a walk stops before the end of its range (its vector full). Returns the count.
 */
function countingChecks(fn: () => void): number {
  let checks = 0;
  const s = selfScanner();
  const original = s.scanBounds;
  s.scanBounds = function (this: typeof s, ...args: Parameters<typeof original>) {
    const g = this.guard;
    if (g === null) return original.apply(this, args);
    const check = g.check;
    g.check = (b) => {
      checks++;
      return check.call(g, b);
    };
    try {
      return original.apply(this, args);
    } finally {
      g.check = check;
    }
  };
  try {
    fn();
  } finally {
    s.scanBounds = original;
  }
  return checks;
}

/** The library's own undo for `ww`: a getInto({ reset }) hands its guard to the scanner; caught there. */
function undoOf(ww: WriteWatch): ResetGuard['undo'] {
  let captured: ResetGuard | null = null;
  const s = selfScanner();
  const original = s.scanBounds;
  s.scanBounds = function (this: typeof s, ...args: Parameters<typeof original>) {
    captured = this.guard;
    return 0;
  };
  try {
    ww.getInto(new Float64Array(1), { reset: true });
  } finally {
    s.scanBounds = original;
  }
  expect(captured).not.toBeNull();
  return captured!.undo;
}

describeKernel('50 lost registration found by the resetting scan itself, its resets undone', () => {
  it('in the walk\'s only ioctl: get/getInto({ reset }) throw and every written page before the loss still reads as written', () => {
    const pages = 64;
    const { ww, written } = region(pages);
    loseLastPage(ww, pages);
    expect(() => ww.get({ reset: true })).toThrow(expect.objectContaining(LOST));
    expect(before(ww, pages)).toEqual(written);
    const out = new Float64Array(pages).fill(-1);
    expect(() => ww.getInto(out, { reset: true })).toThrow(expect.objectContaining(LOST));
    expect(out.every((x) => x === -1)).toBe(true); // the caller's array is untouched
    expect(before(ww, pages)).toEqual(written);
    // And a reset over the good part still works, exactly.
    expect(ww.get({ length: (pages - 1) * PAGE, reset: true })).toEqual(written);
    expect(before(ww, pages)).toEqual([]);
  });

  it('when the walk stops early (more than one vector of regions): the rest is checked before any page reaches the array', () => {
    const pages = MANY; // more separate written pages than one page table has entries
    const { ww, written } = region(pages);
    expect(written.length).toBeGreaterThan(2 * PTES_PER_TABLE);
    // Before the loss, a whole getInto({ reset }) over them stops early and checks (and passes).
    const all = new Float64Array(pages);
    expect(countingChecks(() => expect(ww.getInto(all, { reset: true })).toBe(written.length))).toBeGreaterThanOrEqual(1);
    expect(before(ww, pages)).toEqual([]);
    const u8 = new Uint8Array(ww.buffer);
    for (const o of written) u8[o + 5] = 2;
    expect(before(ww, pages)).toEqual(written);
    loseLastPage(ww, pages);
    const out = new Float64Array(pages).fill(-1);
    // The loss is found by that check: the walk stopped early, and no page reached the array.
    expect(countingChecks(() => expect(() => ww.getInto(out, { reset: true })).toThrow(expect.objectContaining(LOST)))).toBe(1);
    expect(out.every((x) => x === -1)).toBe(true);
    expect(before(ww, pages)).toEqual(written);
    // A cap does not hide the loss either.
    expect(() => ww.getInto(out, { reset: true, maxPages: 3 })).toThrow(expect.objectContaining(LOST));
    expect(() => ww.get({ reset: true })).toThrow(expect.objectContaining(LOST));
    expect(before(ww, pages)).toEqual(written);
  });

  it('in a later ioctl (lost while the walk runs): the pages already in the array and in the vector are un-protected', () => {
    const pages = MANY;
    const { ww, written } = region(pages);
    const out = new Float64Array(pages);
    // The registration is lost right after the check made when the walk stopped early.
    let checks = 0;
    const guard: ResetGuard = {
      check: (b) => {
        assertRegisteredAt(b);
        checks++;
        loseLastPage(ww, pages);
      },
      undo: undoOf(ww),
    };
    expect(scanWith(ww, out, guard, pages)).toThrow(expect.objectContaining(LOST));
    expect(checks).toBe(1);
    expect(out[1]).toBe(2 * PAGE); // the first ioctl's pages had reached the array: undone from there
    expect(before(ww, pages)).toEqual(written);
  });

  it('negative control: with an undo that does nothing, the same failed scan loses the pages it reset', () => {
    const pages = 64;
    const { ww, written } = region(pages);
    loseLastPage(ww, pages);
    const out = new Float64Array(pages);
    let undone = 0;
    const guard: ResetGuard = { check: assertRegisteredAt, undo: () => void undone++ };
    expect(scanWith(ww, out, guard, pages)).toThrow(expect.objectContaining(LOST));
    expect(undone).toBeGreaterThan(0); // the failed ioctl did report regions it had reset
    expect(before(ww, pages)).toEqual([]); // ...and they were lost: this is what the undo prevents
    expect(written.length).toBeGreaterThan(0);
  });

  it('the undo is the library\'s: a control with the real undo over the same failure keeps the pages', () => {
    const pages = 64;
    const { ww, written } = region(pages);
    const undo = undoOf(ww);
    loseLastPage(ww, pages);
    const out = new Float64Array(pages);
    expect(scanWith(ww, out, { check: assertRegisteredAt, undo }, pages)).toThrow(expect.objectContaining(LOST));
    expect(before(ww, pages)).toEqual(written);
  });
});
