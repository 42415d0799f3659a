/**
 * The test_write_watch cases (Wine's dlls/kernel32/tests/virtual.c, which runs on real Windows, and
 * the rules of WINDOWS-SEMANTICS.md), as one table any host can run through writewatch/win32: the
 * Linux emulation, kernel32 on Windows, kernel32 under Wine. Each case does its calls and returns
 * what it saw (page indexes, return values, last errors); `windows` is Windows' answer. Where a host
 * is known to answer otherwise the case says so in `deviations`, with the answer that host gives and
 * why: a runner asserts exactly that answer there (never "either"), so a host that starts to agree
 * with Windows, or drifts further, fails the case and the table gets corrected.
 */
import type * as W from '../../src/win32/index.js';

export type Win32 = typeof W;
export type Host = 'windows' | 'wine' | 'linux';

/** What a case runs with: the module, the page size, and allocations freed after the case. */
export interface Ctx {
  w: Win32;
  page: number;
  /** VirtualAlloc(NULL, pages, type, protect), asserted to succeed; released after the case. */
  alloc(pages: number, type?: number, protect?: number): bigint;
  /** VirtualFree(MEM_RELEASE) of an allocation made by alloc() (it is not released again). */
  free(base: bigint): boolean;
  /** Keeps `base` (from a direct virtualAlloc) to be released after the case. */
  keep(base: bigint): void;
}

export interface Deviation {
  answer: unknown;
  why: string;
}

export interface Case {
  name: string;
  /** Where Windows' answer comes from: Wine's test items ([W]: they pass on Windows), docs. */
  source: string;
  run(c: Ctx): unknown | Promise<unknown>;
  windows: unknown;
  deviations?: Partial<Record<'wine' | 'linux', Deviation>>;
}

/** The answer to assert on `host`, and the reason when it is not Windows'. */
export function expectedOn(c: Case, host: Host): { answer: unknown; why: string | null } {
  const d = host === 'windows' ? undefined : c.deviations?.[host];
  return d ? { answer: d.answer, why: d.why } : { answer: c.windows, why: null };
}

const WATCH = 0x2000 | 0x1000 | 0x200000; // MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH
const DEADBEEF = 0xdeadbeef;

/** GetWriteWatch as test_write_watch calls it; the pages as indexes from `origin`, or the last error. */
export function get(c: Ctx, flags: number, base: bigint, size: number, cap = 64, origin = base) {
  const { w, page } = c;
  const addrs = new BigUint64Array(cap);
  const count = { value: cap };
  const gran = { value: 0 };
  w.setLastError(DEADBEEF);
  const ret = w.getWriteWatch(flags, base, size, addrs, count, gran);
  if (ret !== 0) return { ret, err: w.getLastError(), gran: gran.value };
  return { ret, pages: [...addrs.subarray(0, count.value)].map((a) => Number((a - origin) / BigInt(page))), gran: gran.value / page, err: w.getLastError() };
}

/** Just the written pages (throws when the call fails). */
export function pages(c: Ctx, base: bigint, size: number, opts: { reset?: boolean; cap?: number; origin?: bigint } = {}): number[] {
  const r = get(c, opts.reset ? 1 : 0, base, size, opts.cap ?? Math.ceil(size / c.page) + 1, opts.origin ?? base);
  if (r.ret !== 0) throw new Error(`GetWriteWatch failed: ${r.err}`);
  return r.pages!;
}

const bytes = (c: Ctx, base: bigint, pagesN: number) => new Uint8Array(c.w.viewMemory(base, pagesN * c.page));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/**
 * GetWriteWatch's and ResetWriteWatch's argument errors (C1-C11 [W]), each on a fresh 16-page
 * allocation: [name, call, last error]. Every one returns 0xFFFFFFFF and leaves the granularity.
 */
export const invalidParameters: [string, (w: Win32, base: bigint, size: number, page: number, gran: { value: number }) => number, number][] = [
  ['count 0', (w, b, s, _p, g) => w.getWriteWatch(0, b, s, new BigUint64Array(64), { value: 0 }, g), 87],
  ['count NULL', (w, b, s, _p, g) => w.getWriteWatch(0, b, s, new BigUint64Array(64), null, g), 998],
  ['granularity NULL', (w, b, s) => w.getWriteWatch(0, b, s, new BigUint64Array(64), { value: 64 }, null), 998],
  ['addresses NULL', (w, b, s, _p, g) => w.getWriteWatch(0, b, s, null, { value: 64 }, g), 998],
  ['addresses NULL, count 0', (w, b, s, _p, g) => w.getWriteWatch(0, b, s, null, { value: 0 }, g), 87],
  ['flags 0xdeadbeef', (w, b, s, _p, g) => w.getWriteWatch(0xdeadbeef, b, s, new BigUint64Array(64), { value: 64 }, g), 87],
  ['size 0', (w, b, _s, _p, g) => w.getWriteWatch(0, b, 0, new BigUint64Array(64), { value: 64 }, g), 87],
  ['size * 2', (w, b, s, _p, g) => w.getWriteWatch(0, b, s * 2, new BigUint64Array(64), { value: 64 }, g), 87],
  ['one byte past the end', (w, b, s, p, g) => w.getWriteWatch(0, b + BigInt(s - p), p + 1, new BigUint64Array(64), { value: 64 }, g), 87],
  ['an array shorter than count', (w, b, s, _p, g) => w.getWriteWatch(0, b, s, new BigUint64Array(3), { value: 4 }, g), 998],
  ['a shorter array, count 0 (the count check comes first)', (w, b, s, _p, g) => w.getWriteWatch(0, b, s, [], { value: 0 }, g), 87],
  ['ResetWriteWatch size 0', (w, b) => w.resetWriteWatch(b, 0), 87],
  ['ResetWriteWatch of unwatched memory (NULL)', (w, _b, s) => w.resetWriteWatch(0n, s), 87],
];

/** The cases with a Windows answer, in test_write_watch's order, then WINDOWS-SEMANTICS.md's. */
export const cases: Case[] = [
  {
    name: 'NULL base fails with 87',
    source: 'A2 [W]',
    run: (c) => get(c, 0, 0n, 16 * c.page),
    windows: { ret: 0xffffffff, err: 87, gran: 0 },
  },
  {
    name: 'a fresh allocation reads clean, granularity one page, the last error untouched',
    source: 'A4 [W]',
    run: (c) => get(c, 0, c.alloc(16), 16 * c.page),
    windows: { ret: 0, pages: [], gran: 1, err: DEADBEEF },
  },
  {
    name: 'one write reports its page; a reset call returns the state before the reset; then clean',
    source: 'A5, A6 [W]',
    run: (c) => {
      const b = c.alloc(16);
      bytes(c, b, 16)[c.page + 1] = 0x44;
      return [pages(c, b, 16 * c.page), pages(c, b, 16 * c.page, { reset: true }), pages(c, b, 16 * c.page)];
    },
    windows: [[1], [1], []],
  },
  {
    name: 'sub-ranges, ResetWriteWatch of a prefix (last error kept), a straddling store, count 1 with reset',
    source: 'A7-A12 [W]',
    run: (c) => {
      const { w, page } = c;
      const b = c.alloc(16);
      const u8 = bytes(c, b, 16);
      u8[2 * page + 3] = 0x11;
      u8[4 * page + 8] = 0x11;
      const all = pages(c, b, 16 * page);
      const sub = pages(c, b + 3n * BigInt(page), 2 * page, { origin: b });
      w.setLastError(DEADBEEF);
      const reset = [w.resetWriteWatch(b, 3 * page), w.getLastError()];
      const afterReset = pages(c, b, 16 * page);
      new DataView(u8.buffer).setUint32(2 * page - 2, 0xdeadbeef, true);
      const straddle = pages(c, b, 16 * page);
      const cap1 = get(c, 1, b, 16 * page, 1);
      return { all, sub, reset, afterReset, straddle, cap1: cap1.pages, after: pages(c, b, 16 * page) };
    },
    windows: { all: [2, 4], sub: [4], reset: [0, DEADBEEF], afterReset: [4], straddle: [1, 2, 4], cap1: [1], after: [2, 4] },
  },
  {
    name: 'changing protections neither writes nor clears; oldProtect is the previous protection',
    source: 'A13 [W]',
    run: (c) => {
      const { w, page } = c;
      const b = c.alloc(16);
      const u8 = bytes(c, b, 16);
      u8[2 * page] = 1;
      u8[4 * page] = 1;
      const old = { value: 0 };
      const olds = [w.virtualProtect(b, 3 * page, w.PAGE_READONLY, old), old.value, w.virtualProtect(b, 3 * page, w.PAGE_READWRITE, old), old.value];
      return { olds, pages: pages(c, b, 16 * page) };
    },
    windows: { olds: [true, 4, true, 2], pages: [2, 4] },
  },
  {
    name: 'MEM_RESERVE | MEM_WRITE_WATCH works; MEM_WRITE_WATCH alone fails with 87',
    source: 'D1, D2 [W]',
    run: (c) => {
      const { w, page } = c;
      const b = w.virtualAlloc(0n, 16 * page, w.MEM_RESERVE | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
      if (b !== 0n) c.keep(b);
      w.setLastError(DEADBEEF);
      const alone = w.virtualAlloc(0n, 16 * page, w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
      if (alone !== 0n) c.keep(alone);
      return { reserved: b !== 0n, alone: alone !== 0n, err: w.getLastError() };
    },
    windows: { reserved: true, alone: false, err: 87 },
  },
  {
    name: 'MEM_COMMIT | MEM_WRITE_WATCH without MEM_RESERVE fails with 87',
    source: 'VirtualAlloc docs (MEM_WRITE_WATCH: "you must also specify MEM_RESERVE"); not in test_write_watch',
    run: (c) => {
      const { w, page } = c;
      w.setLastError(DEADBEEF);
      const b = w.virtualAlloc(0n, 16 * page, w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
      if (b !== 0n) c.keep(b);
      return { allocated: b !== 0n, err: b === 0n ? w.getLastError() : null };
    },
    windows: { allocated: false, err: 87 },
    deviations: {
      wine: {
        answer: { allocated: true, err: null },
        why: "Wine's allocate_virtual_memory takes MEM_COMMIT with no base as a reservation and never asks for MEM_RESERVE with MEM_WRITE_WATCH (measured on 8.0)",
      },
    },
  },
  {
    name: 'initial protect does not matter; a write through a VirtualProtect window counts',
    source: 'D3-D8 [W]',
    run: (c) => {
      const { w, page } = c;
      const b = c.alloc(16, w.MEM_RESERVE | w.MEM_WRITE_WATCH, w.PAGE_NOACCESS);
      const commit = w.virtualAlloc(b, 16 * page, w.MEM_COMMIT, w.PAGE_NOACCESS) === b;
      const clean = pages(c, b, 16 * page);
      const old = { value: 0 };
      const opened = [w.virtualProtect(b, 6 * page, w.PAGE_READWRITE, old), old.value];
      bytes(c, b, 16)[5 * page + 200] = 3;
      const closed = [w.virtualProtect(b, 6 * page, w.PAGE_NOACCESS, old), old.value];
      return { commit, clean, opened, closed, pages: pages(c, b, 16 * page) };
    },
    windows: { commit: true, clean: [], opened: [true, 1], closed: [true, 4], pages: [5] },
  },
  {
    name: 'MEM_DECOMMIT clears the written state; recommitting does not write',
    source: 'D9, D10 [W]',
    run: (c) => {
      const { w, page } = c;
      const b = c.alloc(16);
      bytes(c, b, 16)[5 * page + 200] = 3;
      const before = pages(c, b, 16 * page);
      const decommit = w.virtualFree(b, 16 * page, w.MEM_DECOMMIT);
      const decommitted = pages(c, b, 16 * page);
      const recommit = w.virtualAlloc(b, 16 * page, w.MEM_COMMIT, w.PAGE_READWRITE) === b;
      return { before, decommit, decommitted, recommit, recommitted: pages(c, b, 16 * page) };
    },
    windows: { before: [5], decommit: true, decommitted: [], recommit: true, recommitted: [] },
    deviations: {
      wine: {
        answer: { before: [5], decommit: true, decommitted: [5], recommit: true, recommitted: [5] },
        why: "Wine's mprotect path (the only one before 10.7, Debian's 8.0 and 10.0) keeps VPROT_WRITEWATCH across decommit_pages: test_write_watch marks D9/D10 todo_wine",
      },
    },
  },
  {
    name: 'decommit of part of the range: the other pages keep their state and contents; the decommitted read zero',
    source: 'D9, D10 [W]; WINDOWS-SEMANTICS.md "Lifetime"',
    run: (c) => {
      const { w, page } = c;
      const b = c.alloc(8);
      const u8 = bytes(c, b, 8);
      for (const i of [1, 2, 3, 6]) u8[i * page + 1] = 0x5a;
      const decommit = w.virtualFree(b + 2n * BigInt(page), 2 * page, w.MEM_DECOMMIT);
      const decommitted = pages(c, b, 8 * page);
      const recommit = w.virtualAlloc(b + 2n * BigInt(page), 2 * page, w.MEM_COMMIT, w.PAGE_READWRITE) === b + 2n * BigInt(page);
      const contents = [u8[2 * page + 1], u8[page + 1]];
      const recommitted = pages(c, b, 8 * page);
      u8[3 * page] = 1;
      return { decommit, decommitted, recommit, contents, recommitted, written: pages(c, b, 8 * page) };
    },
    windows: { decommit: true, decommitted: [1, 6], recommit: true, contents: [0, 0x5a], recommitted: [1, 6], written: [1, 3, 6] },
    deviations: {
      wine: {
        answer: { decommit: true, decommitted: [1, 2, 3, 6], recommit: true, contents: [0, 0x5a], recommitted: [1, 2, 3, 6], written: [1, 2, 3, 6] },
        why: "as D9/D10 (todo_wine): Wine's mprotect path drops the contents at decommit but keeps the pages' written state",
      },
    },
  },
  {
    name: 'more written pages than the count: the first ones; with reset only those are reset',
    source: 'A12 [W]',
    run: (c) => {
      const b = c.alloc(32);
      const u8 = bytes(c, b, 32);
      for (const i of [1, 4, 5, 6, 9, 17, 30, 31]) u8[i * c.page] = 1;
      const s = 32 * c.page;
      return [
        pages(c, b, s, { cap: 3 }),
        pages(c, b, s, { cap: 3, reset: true }),
        pages(c, b, s),
        pages(c, b, s, { cap: 4, reset: true }),
        pages(c, b, s),
        pages(c, b, s, { cap: 1, reset: true }),
        pages(c, b, s),
      ];
    },
    windows: [[1, 4, 5], [1, 4, 5], [6, 9, 17, 30, 31], [6, 9, 17, 30], [31], [31], []],
  },
  {
    name: '1500 separate written pages read exactly, twice; a reset call returns them, then clean',
    source: 'WINDOWS-SEMANTICS.md "Results"',
    run: (c) => {
      const n = 3000;
      const b = c.alloc(n);
      const u8 = bytes(c, b, n);
      for (let i = 0; i < n; i += 2) u8[i * c.page + 7] = 1;
      const s = n * c.page;
      const first = pages(c, b, s);
      const same = pages(c, b, s);
      const reset = pages(c, b, s, { reset: true });
      return { count: first.length, exact: first.every((p, i) => p === 2 * i), same: same.join() === first.join(), reset: reset.join() === first.join(), after: pages(c, b, s) };
    },
    windows: { count: 1500, exact: true, same: true, reset: true, after: [] },
  },
  {
    name: 'writes in any order come back ascending',
    source: 'A8, D14, E3 [W]',
    run: (c) => {
      const b = c.alloc(64);
      const u8 = bytes(c, b, 64);
      for (const i of [63, 0, 40, 7, 8, 22, 21, 50, 1]) u8[i * c.page + 100] = 9;
      return pages(c, b, 64 * c.page);
    },
    windows: [0, 1, 7, 8, 21, 22, 40, 50, 63],
  },
  {
    name: 'entries past the count are left alone; a bigint[] works; an array shorter than count is 998',
    source: 'D6, D7 [W]; API.md',
    run: (c) => {
      const { w, page } = c;
      const b = c.alloc(8);
      bytes(c, b, 8)[2 * page] = 1;
      const arr: bigint[] = [1n, 2n, 3n, 4n];
      const count = { value: 4 };
      const ret = w.getWriteWatch(0, b, 8 * page, arr, count, { value: 0 });
      w.setLastError(0);
      const short = [w.getWriteWatch(0, b, 8 * page, new BigUint64Array(3), { value: 4 }, { value: 0 }), w.getLastError()];
      return { ret, count: count.value, arr: arr.map((a, i) => (i === 0 ? Number((a - b) / BigInt(page)) : a)), short };
    },
    windows: { ret: 0, count: 1, arr: [2, 2n, 3n, 4n], short: [0xffffffff, 998] },
  },
  {
    name: 'sub-ranges and unaligned ranges cover every page they touch, up to the allocation end',
    source: 'A9, C8, C9 [W]; WINDOWS-SEMANTICS.md rule 1',
    run: (c) => {
      const { w, page } = c;
      const P = BigInt(page);
      const b = c.alloc(16);
      const u8 = bytes(c, b, 16);
      for (const i of [0, 3, 4, 15]) u8[i * page] = 1;
      const o = { origin: b };
      const r = [
        pages(c, b + 3n * P, 2 * page, o),
        pages(c, b + 3n * P + 1n, 1, o),
        pages(c, b + 3n * P - 1n, 2, o),
        pages(c, b + 4n * P - 1n, 2, o),
        pages(c, b + 15n * P, page, o),
        pages(c, b + 15n * P + P - 1n, 1, o),
      ];
      const past = get(c, 0, b + 15n * P, page + 1);
      const reset = w.resetWriteWatch(b + 3n * P + 10n, page);
      return { r, past: [past.ret, past.err], reset, after: pages(c, b, 16 * page) };
    },
    windows: { r: [[3, 4], [3], [3], [3, 4], [15], [15]], past: [0xffffffff, 87], reset: 0, after: [0, 15] },
  },
  {
    name: 'reads are not writes; protection changes in every direction neither write nor clear',
    source: 'A13, D5 [W]',
    run: (c) => {
      const { w, page } = c;
      const b = c.alloc(8);
      const u8 = bytes(c, b, 8);
      let sum = 0;
      for (let i = 0; i < 8 * page; i += 512) sum += u8[i];
      const readOnly = pages(c, b, 8 * page);
      u8[page] = 1;
      u8[6 * page] = 1;
      const old = { value: 0 };
      const seen: unknown[] = [];
      for (const prot of [w.PAGE_READONLY, w.PAGE_NOACCESS, w.PAGE_READWRITE, w.PAGE_READONLY]) {
        seen.push([w.virtualProtect(b, 8 * page, prot, old), old.value, pages(c, b, 8 * page)]);
      }
      const reset = pages(c, b, 8 * page, { reset: true });
      w.virtualProtect(b, 8 * page, w.PAGE_READWRITE, old);
      const clean = pages(c, b, 8 * page);
      u8[3 * page] = 5;
      return { sum, readOnly, seen, reset, clean, written: pages(c, b, 8 * page) };
    },
    windows: {
      sum: 0,
      readOnly: [],
      seen: [
        [true, 4, [1, 6]],
        [true, 2, [1, 6]],
        [true, 1, [1, 6]],
        [true, 4, [1, 6]],
      ],
      reset: [1, 6],
      clean: [],
      written: [3],
    },
  },
  {
    name: 'reserved-only pages may lie in the range; committing some does not write them',
    source: 'D3, D8 [W]',
    run: (c) => {
      const { w, page } = c;
      const P = BigInt(page);
      const b = c.alloc(16, w.MEM_RESERVE | w.MEM_WRITE_WATCH, w.PAGE_NOACCESS);
      const reserved = pages(c, b, 16 * page);
      const commit = w.virtualAlloc(b + 5n * P, 3 * page, w.MEM_COMMIT, w.PAGE_READWRITE) === b + 5n * P;
      const committed = pages(c, b, 16 * page);
      new Uint8Array(w.viewMemory(b + 5n * P, 3 * page))[page] = 1;
      const written = pages(c, b, 16 * page);
      return { reserved, commit, committed, written, reset: w.resetWriteWatch(b, 16 * page), after: pages(c, b, 16 * page) };
    },
    windows: { reserved: [], commit: true, committed: [], written: [6], reset: 0, after: [] },
  },
  {
    name: 'a read by the system into the memory (fs.readSync) writes every page of the buffer',
    source: 'B3 [W]: ReadFile marks its whole buffer at issue, even when fewer bytes arrive',
    run: async (c) => {
      const { readSync, openSync, closeSync, writeFileSync, rmSync } = await import('node:fs');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const { page } = c;
      const b = c.alloc(16);
      const file = join(tmpdir(), `ww-cases-${process.pid}.bin`);
      writeFileSync(file, Buffer.alloc(2 * page + 3, 0x61));
      const fd = openSync(file, 'r');
      let n: number;
      try {
        n = readSync(fd, new Uint8Array(c.w.viewMemory(b + BigInt(page), 15 * page)), 0, 15 * page, 0);
      } finally {
        closeSync(fd);
        rmSync(file);
      }
      return { read: n / page > 2, pages: pages(c, b, 16 * page) };
    },
    windows: { read: true, pages: range(1, 16) },
    deviations: {
      linux: {
        answer: { read: true, pages: [1, 2, 3] },
        why: 'inexpressible on Linux: read() writes only the bytes that arrive, and those pages are what the kernel marks (WINDOWS-SEMANTICS.md "Where Linux cannot follow")',
      },
    },
  },
  {
    name: 'a range spanning two adjacent allocations fails with 87; each alone works; releasing one leaves the other',
    source: 'WINDOWS-SEMANTICS.md rule 6 ([wine]: one view per call)',
    run: (c) => {
      const { w, page } = c;
      const ADJACENT = adjacentSize(page);
      const [a, d] = adjacentPair(c, ADJACENT);
      const P = BigInt(page);
      const half = ADJACENT / page;
      bytes(c, a, half)[(half - 1) * page] = 1;
      bytes(c, d, half)[0] = 1;
      const span = [get(c, 0, a, 2 * ADJACENT).err, get(c, 0, a + BigInt(half - 1) * P, 2 * page).err];
      w.setLastError(0);
      const reset = [w.resetWriteWatch(a + BigInt(half - 1) * P, 2 * page), w.getLastError()];
      // The first's pages counted from its end (-1: its last page), the second's from its start.
      const alone = [pages(c, a, ADJACENT).map((i) => i - half), pages(c, d, ADJACENT)];
      const freed = c.free(a);
      const gone = get(c, 0, a, ADJACENT).err;
      const neighbour = [pages(c, d, ADJACENT, { reset: true }), pages(c, d, ADJACENT)];
      bytes(c, d, half)[3 * page] = 1;
      return { span, reset, alone, freed, gone, neighbour, later: pages(c, d, ADJACENT) };
    },
    windows: { span: [87, 87], reset: [0xffffffff, 87], alone: [[-1], [0]], freed: true, gone: 87, neighbour: [[0], []], later: [3] },
  },
  {
    name: 'a released allocation fails with 87, memory never watched too, and addresses past user space',
    source: 'A2, A3, C10, C11 [W]; released: [wine]',
    run: (c) => {
      const { w, page } = c;
      const b = c.alloc(4);
      bytes(c, b, 4)[0] = 1;
      c.free(b);
      const released = get(c, 0, b, 4 * page).err;
      w.setLastError(0);
      const reset = [w.resetWriteWatch(b, 4 * page), w.getLastError()];
      const plain = get(c, 0, c.alloc(4, w.MEM_RESERVE | w.MEM_COMMIT), 4 * page).err;
      return { released, reset, plain, high: get(c, 0, 0xffff_ffff_ffff_f000n, page).err };
    },
    windows: { released: 87, reset: [0xffffffff, 87], plain: 87, high: 87 },
  },
  {
    name: 'NtGetWriteWatch / NtResetWriteWatch answer NTSTATUS values and never touch the last error',
    source: 'C1-C11 [W] (GetWriteWatch is set_ntstatus over them)',
    run: (c) => {
      const { w, page } = c;
      const b = c.alloc(16);
      bytes(c, b, 16)[3 * page] = 1;
      w.setLastError(DEADBEEF);
      const addrs = new BigUint64Array(16);
      const count = { value: 16 };
      const ok = [w.ntGetWriteWatch(0, b, 16 * page, addrs, count, { value: 0 }), count.value, Number((addrs[0] - b) / BigInt(page))];
      const statuses = [
        w.ntGetWriteWatch(0, b, 16 * page, addrs, null, { value: 0 }),
        w.ntGetWriteWatch(0, b, 16 * page, addrs, { value: 0 }, { value: 0 }),
        w.ntGetWriteWatch(2, b, 16 * page, addrs, { value: 16 }, { value: 0 }),
        w.ntGetWriteWatch(0, b, 16 * page, null, { value: 16 }, { value: 0 }),
        w.ntGetWriteWatch(0, 0n, page, addrs, { value: 16 }, { value: 0 }),
        w.ntResetWriteWatch(b, 0),
        w.ntResetWriteWatch(b, 16 * page),
      ];
      return { ok, statuses, err: w.getLastError(), after: pages(c, b, 16 * page) };
    },
    windows: {
      ok: [0, 1, 3],
      statuses: [0xc0000005, 0xc000000d, 0xc000000d, 0xc0000005, 0xc000000d, 0xc000000d, 0],
      err: DEADBEEF,
      after: [],
    },
  },
];

/** The size of each of two adjacent allocations: Windows' allocation granularity (64 KiB), and at least 4 pages. */
const adjacentSize = (page: number) => Math.max(0x10000, 4 * page);

/**
 * Two write-watched allocations of ADJACENT bytes back to back. Room is found by reserving and
 * releasing; something else may map into it in between, so that is retried, never assumed.
 */
function adjacentPair(c: Ctx, ADJACENT: number): [bigint, bigint] {
  const { w } = c;
  const type = WATCH;
  for (let attempt = 0; attempt < 100; attempt++) {
    const room = w.virtualAlloc(0n, 2 * ADJACENT, w.MEM_RESERVE, w.PAGE_NOACCESS);
    if (room === 0n) throw new Error(`VirtualAlloc: ${w.getLastError()}`);
    w.virtualFree(room, 0, w.MEM_RELEASE);
    const a = w.virtualAlloc(room, ADJACENT, type, w.PAGE_READWRITE);
    const d = w.virtualAlloc(room + BigInt(ADJACENT), ADJACENT, type, w.PAGE_READWRITE);
    if (a !== 0n) c.keep(a);
    if (d !== 0n) c.keep(d);
    if (a === room && d === room + BigInt(ADJACENT)) return [a, d];
  }
  throw new Error('no room for two adjacent allocations in 100 attempts');
}
