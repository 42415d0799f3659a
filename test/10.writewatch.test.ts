/**
 * WriteWatch.allocate on the real kernel: what reads as written, exactly, and what each call resets.
 * Every expectation is derived from the writes the test itself made. Runs once per mechanism: every
 * write here changes the bytes it lands on (touch() stores a new value each call), so written and
 * changed pages are the same set; where the two differ (a store of the value already there) the
 * case says which.
 */
import { closeSync, openSync, readSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, expect, it } from 'vitest';
import { WriteWatch, type GetOptions } from '../src/index.js';
import { PAGE, PTES_PER_TABLE } from './support/kernel.js';
import { describeEachMechanism, type TestMechanism } from './support/mechanisms.js';

const open: WriteWatch[] = [];
afterEach(() => {
  for (const ww of open.splice(0)) ww.close();
});

/** A value no touch() stored just before: 1..255, never 0 (fresh memory's value). */
let value = 0;
/** Writes one byte in each listed page (at `at` within it), in the order given; each call a new value. */
function touch(ww: WriteWatch, pages: Iterable<number>, at = 0): void {
  const u8 = new Uint8Array(ww.buffer);
  value = (value % 255) + 1;
  for (const p of pages) u8[p * PAGE + at] = value;
}
const offsets = (pages: Iterable<number>) => [...new Set(pages)].sort((a, b) => a - b).map((p) => p * PAGE);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describeEachMechanism('WriteWatch.allocate', (mechanism: TestMechanism) => {
  function alloc(byteLength: number): WriteWatch {
    const ww = WriteWatch.allocate(byteLength, { mechanism });
    open.push(ww);
    expect(ww.mechanism).toBe(mechanism);
    return ww;
  }

  it('rounds byteLength up to whole pages and reports the page size as granularity', () => {
    for (const [asked, pages] of [
      [1, 1],
      [PAGE - 1, 1],
      [PAGE, 1],
      [PAGE + 1, 2],
      [5 * PAGE - 7, 5],
    ] as const) {
      const ww = alloc(asked);
      expect(ww.byteLength).toBe(pages * PAGE);
      expect(ww.buffer.byteLength).toBe(pages * PAGE);
      expect(ww.granularity).toBe(PAGE);
      expect(typeof ww.address).toBe('bigint');
      expect(ww.address % BigInt(PAGE)).toBe(0n);
      expect(ww.address).not.toBe(0n);
      expect(ww.closed).toBe(false);
      // The tail beyond the requested length is usable and tracked too.
      new Uint8Array(ww.buffer)[pages * PAGE - 1] = 1;
      expect(ww.get()).toEqual([(pages - 1) * PAGE]);
    }
  });

  it('the API.md example: 64 MiB, one byte at 5000', () => {
    const ww = alloc(64 << 20);
    new Uint8Array(ww.buffer)[5000] = 1;
    const page = Math.floor(5000 / PAGE) * PAGE;
    expect(ww.get()).toEqual([page]);
    expect(ww.get({ reset: true })).toEqual([page]);
    expect(ww.get()).toEqual([]);
    // One write per 2 MiB (where a transparent huge page would begin): still one page each.
    const step = (2 << 20) / PAGE;
    const pages = range(0, (64 << 20) / PAGE / step).map((i) => i * step + 3);
    touch(ww, pages);
    expect(ww.get({ reset: true })).toEqual(offsets(pages));
    expect(ww.get()).toEqual([]);
  });

  it('fresh memory reads clean, zero-filled, and stays clean after every page was read', () => {
    const ww = alloc(64 * PAGE);
    expect(ww.get()).toEqual([]);
    const u8 = new Uint8Array(ww.buffer);
    let sum = 0;
    for (let i = 0; i < u8.length; i += 64) sum += u8[i];
    const f64 = new Float64Array(ww.buffer);
    for (let i = 0; i < f64.length; i++) sum += f64[i];
    expect(sum).toBe(0);
    expect(ww.get()).toEqual([]);
    expect(ww.ranges()).toEqual([]);
  });

  it('reports exactly the written pages, ascending, one per page, whatever the write order', () => {
    const pages = 96;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: pages - 1 }), fc.integer({ min: 0, max: PAGE - 1 })), { maxLength: 200 }),
        (writes) => {
          const ww = alloc(pages * PAGE);
          const u8 = new Uint8Array(ww.buffer);
          for (const [p, at] of writes) u8[p * PAGE + at] = 1 + (at & 0x7f);
          const expected = offsets(writes.map(([p]) => p));
          expect(ww.get()).toEqual(expected);
          // Without reset, reading again changes nothing.
          expect(ww.get()).toEqual(expected);
          ww.close();
        },
      ),
      { numRuns: 40 },
    );
  });

  it(`a store of the value already there (zero over zero) ${mechanism === 'compare' ? 'changes nothing: not reported' : 'is a write'}`, () => {
    const ww = alloc(4 * PAGE);
    new Uint8Array(ww.buffer)[2 * PAGE + 17] = 0;
    // Written pages (write-protect) against changed pages (compare): the one place they differ.
    expect(ww.get()).toEqual(mechanism === 'compare' ? [] : [2 * PAGE]);
  });

  it('get({ reset: true }) returns the state before the reset, then nothing until written again', () => {
    const ww = alloc(16 * PAGE);
    touch(ww, [9, 1, 4]);
    expect(ww.get({ reset: true })).toEqual(offsets([1, 4, 9]));
    expect(ww.get()).toEqual([]);
    expect(ww.get({ reset: true })).toEqual([]);
    touch(ww, [4]);
    expect(ww.get({ reset: true })).toEqual([4 * PAGE]);
    expect(ww.get()).toEqual([]);
  });

  it('offset/length select every page the byte range touches, and reset only those', () => {
    const pages = 40;
    const ww = alloc(pages * PAGE);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: pages - 1 }), { maxLength: pages }),
        fc.integer({ min: 0, max: pages * PAGE }),
        fc.integer({ min: 0, max: pages * PAGE }),
        fc.boolean(),
        (written, a, b, reset) => {
          ww.reset();
          touch(ww, written, 3);
          const offset = Math.min(a, b);
          const length = Math.max(a, b) - offset;
          const inside = (p: number) => length > 0 && p * PAGE < offset + length && (p + 1) * PAGE > offset;
          const expected = offsets(written.filter(inside));
          expect(ww.get({ offset, length, reset })).toEqual(expected);
          const after = reset ? written.filter((p) => !inside(p)) : written;
          expect(ww.get()).toEqual(offsets(after));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('length 0 selects no page (even with reset), and a range ending at byteLength is valid', () => {
    const ww = alloc(8 * PAGE);
    touch(ww, range(0, 8));
    expect(ww.get({ offset: 3 * PAGE + 5, length: 0, reset: true })).toEqual([]);
    expect(ww.get({ offset: 8 * PAGE, length: 0 })).toEqual([]);
    expect(ww.get({ offset: 8 * PAGE })).toEqual([]);
    expect(ww.get({ offset: 8 * PAGE - 1 })).toEqual([7 * PAGE]);
    expect(ww.get({ offset: 6 * PAGE, length: 2 * PAGE, reset: true })).toEqual([6 * PAGE, 7 * PAGE]);
    expect(ww.get()).toEqual(offsets(range(0, 6)));
  });

  /** The maxPages claim, run against `get` (WriteWatch's own, or a broken variant below). */
  function expectMaxPagesResetsOnlyThose(ww: WriteWatch, get: (o: GetOptions) => number[]): void {
    // Separate runs, and a run of 10 that the cut falls inside (the kernel splits the region).
    touch(ww, [1, 3, 5, ...range(10, 20), 25]);
    expect(get({ maxPages: 2 })).toEqual(offsets([1, 3]));
    expect(get({ maxPages: 100 })).toEqual(offsets([1, 3, 5, ...range(10, 20), 25]));
    expect(get({ maxPages: 2, reset: true })).toEqual(offsets([1, 3]));
    expect(get({})).toEqual(offsets([5, ...range(10, 20), 25]));
    expect(get({ maxPages: 4, reset: true })).toEqual(offsets([5, 10, 11, 12]));
    expect(get({})).toEqual(offsets([...range(13, 20), 25]));
    expect(get({ maxPages: 1, offset: 16 * PAGE, reset: true })).toEqual([16 * PAGE]);
    expect(get({})).toEqual(offsets([13, 14, 15, 17, 18, 19, 25]));
    expect(get({ maxPages: 7, reset: true })).toEqual(offsets([13, 14, 15, 17, 18, 19, 25]));
    expect(get({})).toEqual([]);
  }

  it('maxPages returns the first pages and, with reset, resets only those', () => {
    const ww = alloc(32 * PAGE);
    expectMaxPagesResetsOnlyThose(ww, (o) => ww.get(o));
  });

  it('negative control: a get that resets every page of the range, ignoring maxPages, is caught', () => {
    const ww = alloc(32 * PAGE);
    const resetsAll = (o: GetOptions) => {
      const pages = ww.get({ ...o, reset: false });
      if (o.reset) ww.reset(o.offset ?? 0, o.length);
      return pages;
    };
    expect(() => expectMaxPagesResetsOnlyThose(ww, resetsAll)).toThrow(/expected/);
  });

  it('separate written pages for two and a half PAGEMAP_SCAN vectors, read twice without reset: exact, no duplicates (walk_end quirk)', () => {
    // One region per written page, more than two page tables' worth on every page size (2,048 a
    // table with 16 KiB pages): the walk takes at least three ioctls, and resumes from walk_end.
    const n = 2 * PTES_PER_TABLE + PTES_PER_TABLE / 2 + 3;
    const ww = alloc(2 * n * PAGE);
    const written = range(0, n).map((i) => 2 * i + 1);
    touch(ww, written);
    const expected = offsets(written);
    const first = ww.get();
    expect(first).toHaveLength(n);
    expect(new Set(first).size).toBe(n);
    expect(first).toEqual(expected);
    expect(ww.get()).toEqual(expected);
    expect(ww.ranges()).toHaveLength(n);
    const from = PTES_PER_TABLE + 100; // an offset inside the second vector's pages
    expect(ww.get({ offset: PAGE * from + 1 })).toEqual(expected.filter((o) => o >= from * PAGE));
    const cap = PTES_PER_TABLE + 88; // a cap past the first vector
    expect(ww.get({ maxPages: cap, reset: true })).toEqual(expected.slice(0, cap));
    expect(ww.get()).toEqual(expected.slice(cap));
    expect(ww.get({ reset: true })).toEqual(expected.slice(cap));
    expect(ww.get()).toEqual([]);
  });

  it('getInto writes the count into the caller array, caps at its length, leaves the rest untouched', () => {
    const ww = alloc(32 * PAGE);
    touch(ww, [2, 4, 6]);
    const out = new Float64Array(8).fill(-1);
    expect(ww.getInto(out)).toBe(3);
    expect([...out]).toEqual([2 * PAGE, 4 * PAGE, 6 * PAGE, -1, -1, -1, -1, -1]);

    touch(ww, range(10, 20));
    const small = new Float64Array(4).fill(-7);
    expect(ww.getInto(small, { reset: true })).toBe(4);
    expect([...small]).toEqual(offsets([2, 4, 6, 10]));
    expect(ww.get()).toEqual(offsets(range(11, 20)));

    // maxPages below the array length is the cap.
    out.fill(-2);
    expect(ww.getInto(out, { maxPages: 2, reset: true })).toBe(2);
    expect([...out]).toEqual([11 * PAGE, 12 * PAGE, -2, -2, -2, -2, -2, -2]);
    // maxPages above it: the array length still caps.
    expect(ww.getInto(small, { maxPages: 1000 })).toBe(4);
    expect([...small]).toEqual(offsets(range(13, 17)));
    // A sub-range.
    out.fill(-3);
    expect(ww.getInto(out, { offset: 15 * PAGE + 1, length: 2 * PAGE })).toBe(3);
    expect([...out]).toEqual([15 * PAGE, 16 * PAGE, 17 * PAGE, -3, -3, -3, -3, -3]);
  });

  it('getInto with an empty array is an error and resets nothing; nothing written returns 0 and writes nothing', () => {
    const ww = alloc(8 * PAGE);
    touch(ww, [3, 5]);
    expect(() => ww.getInto(new Float64Array(0), { reset: true })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(ww.get()).toEqual(offsets([3, 5]));
    ww.reset();
    const out = new Float64Array(4).fill(42);
    expect(ww.getInto(out, { reset: true })).toBe(0);
    expect([...out]).toEqual([42, 42, 42, 42]);
  });

  it('ranges() coalesces adjacent pages, across kernel calls too, and agrees with get()', () => {
    const ww = alloc(2048 * PAGE);
    touch(ww, [1, 2, 3, 7, 9, 10]);
    expect(ww.ranges()).toEqual([
      { offset: PAGE, length: 3 * PAGE },
      { offset: 7 * PAGE, length: PAGE },
      { offset: 9 * PAGE, length: 2 * PAGE },
    ]);
    expect(ww.ranges({ offset: 2 * PAGE, length: 6 * PAGE })).toEqual([
      { offset: 2 * PAGE, length: 2 * PAGE },
      { offset: 7 * PAGE, length: PAGE },
    ]);
    expect(ww.ranges({ maxPages: 2, reset: true })).toEqual([{ offset: PAGE, length: 2 * PAGE }]);
    expect(ww.get()).toEqual(offsets([3, 7, 9, 10]));
    // Every page written: one run over the whole buffer, whatever the kernel's per-call limits.
    touch(ww, range(0, 2048));
    expect(ww.ranges()).toEqual([{ offset: 0, length: 2048 * PAGE }]);
    expect(ww.get()).toEqual(offsets(range(0, 2048)));
  });

  it('reset(offset, length) resets every page the range touches and nothing else', () => {
    const ww = alloc(8 * PAGE);
    touch(ww, range(0, 8));
    ww.reset(PAGE + 1, PAGE); // bytes [PAGE+1, 2*PAGE+1) touch pages 1 and 2
    expect(ww.get()).toEqual(offsets([0, 3, 4, 5, 6, 7]));
    ww.reset(5 * PAGE, 0);
    expect(ww.get()).toEqual(offsets([0, 3, 4, 5, 6, 7]));
    ww.reset(6 * PAGE); // to the end
    expect(ww.get()).toEqual(offsets([0, 3, 4, 5]));
    ww.reset(4 * PAGE - 1, 1);
    expect(ww.get()).toEqual(offsets([0, 4, 5]));
    ww.reset();
    expect(ww.get()).toEqual([]);
    touch(ww, [6]);
    expect(ww.get()).toEqual([6 * PAGE]);
  });

  it('a store straddling two pages dirties both', () => {
    const ww = alloc(4 * PAGE);
    new DataView(ww.buffer).setUint32(2 * PAGE - 2, 0xdeadbeef, true);
    expect(ww.get({ reset: true })).toEqual([PAGE, 2 * PAGE]);
    new DataView(ww.buffer).setFloat64(3 * PAGE - 1, Math.PI);
    expect(ww.get({ reset: true })).toEqual([2 * PAGE, 3 * PAGE]);
    new Uint8Array(ww.buffer).set([1, 2, 3, 4], PAGE - 2);
    expect(ww.get()).toEqual([0, PAGE]);
  });

  it('writes made by the kernel (fs.readSync into the buffer) are reported', () => {
    const dir = mkdtempSync(join(tmpdir(), 'writewatch-'));
    try {
      const file = join(dir, 'data');
      const data = new Uint8Array(3 * PAGE).map((_, i) => (i * 7) & 0xff);
      writeFileSync(file, data);
      const ww = alloc(8 * PAGE);
      const fd = openSync(file, 'r');
      try {
        expect(readSync(fd, new Uint8Array(ww.buffer), 2 * PAGE + 100, 3 * PAGE, 0)).toBe(3 * PAGE);
      } finally {
        closeSync(fd);
      }
      // Bytes [2P+100, 5P+100): pages 2, 3, 4, 5.
      expect(ww.get()).toEqual(offsets([2, 3, 4, 5]));
      expect(new Uint8Array(ww.buffer, 2 * PAGE + 100, 3 * PAGE)).toEqual(data);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('instances are independent: a reset or write in one does not show in another', () => {
    const a = alloc(4 * PAGE);
    const b = alloc(4 * PAGE);
    touch(a, [1]);
    touch(b, [2]);
    expect(a.get()).toEqual([PAGE]);
    expect(b.get({ reset: true })).toEqual([2 * PAGE]);
    expect(a.get()).toEqual([PAGE]);
    a.close();
    touch(b, [3]);
    expect(b.get()).toEqual([3 * PAGE]);
  });
});
