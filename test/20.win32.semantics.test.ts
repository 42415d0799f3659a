/**
 * GetWriteWatch results on the real kernel: what counts as a write, what does not, and which pages
 * come back in which order (WINDOWS-SEMANTICS.md "Results").
 */
import { closeSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { libc } from '../src/sys/libc/libc.js';
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/sys/libc/abi.js';
import * as w from '../src/win32/index.js';
import { describeKernel, PAGE, PTES_PER_TABLE } from './support/kernel.js';

const P = BigInt(PAGE);
const madvise = (address: bigint, size: number, advice: number) => libc().madvise(address, size, advice);
const live: bigint[] = [];

function alloc(pages: number, type = w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, protect = w.PAGE_READWRITE): bigint {
  const b = w.virtualAlloc(0n, pages * PAGE, type, protect);
  expect(b, `VirtualAlloc failed with ${w.getLastError()}`).not.toBe(0n);
  live.push(b);
  return b;
}

function free(b: bigint): void {
  expect(w.virtualFree(b, 0, w.MEM_RELEASE)).toBe(true);
  live.splice(live.indexOf(b), 1);
}

/** Page indexes written in [base, base + size), as GetWriteWatch reports them; throws on failure. */
function written(base: bigint, size: number, { reset = false, cap = Math.ceil(size / PAGE) + 1, origin = base } = {}): number[] {
  const addrs = new BigUint64Array(cap);
  const count = { value: cap };
  const gran = { value: 0 };
  const ret = w.getWriteWatch(reset ? w.WRITE_WATCH_FLAG_RESET : 0, base, size, addrs, count, gran);
  if (ret !== 0) throw new Error(`GetWriteWatch failed: ${w.getLastError()}`);
  expect(gran.value).toBe(PAGE);
  return [...addrs.subarray(0, count.value)].map((a) => Number((a - origin) / P));
}

function fail(base: bigint, size: number): number {
  const addrs = new BigUint64Array(16);
  w.setLastError(0);
  expect(w.getWriteWatch(0, base, size, addrs, { value: 16 }, { value: 0 })).toBe(0xffffffff);
  return w.getLastError();
}

afterEach(() => {
  for (const b of live.splice(0)) w.virtualFree(b, 0, w.MEM_RELEASE);
});

type GetWriteWatch = typeof w.getWriteWatch;

/** A12: a count cap returns the first pages, and with reset resets exactly those, through `getWriteWatch`. */
function cappedReset(getWriteWatch: GetWriteWatch): void {
  const b = alloc(32);
  const view = new Uint8Array(w.viewMemory(b, 32 * PAGE));
  const dirty = [1, 4, 5, 6, 9, 17, 30, 31];
  for (const i of dirty) view[i * PAGE] = 1;
  const pages = (cap: number, reset = false): number[] => {
    const addrs = new BigUint64Array(cap);
    const count = { value: cap };
    expect(getWriteWatch(reset ? w.WRITE_WATCH_FLAG_RESET : 0, b, 32 * PAGE, addrs, count, { value: 0 })).toBe(0);
    return [...addrs.subarray(0, count.value)].map((a) => Number((a - b) / P));
  };
  expect(pages(3)).toEqual([1, 4, 5]);
  expect(pages(3, true)).toEqual([1, 4, 5]);
  expect(pages(33)).toEqual([6, 9, 17, 30, 31]);
  expect(pages(4, true)).toEqual([6, 9, 17, 30]);
  expect(pages(33)).toEqual([31]);
  // count == the number of dirty pages exactly
  expect(pages(1, true)).toEqual([31]);
  expect(pages(33)).toEqual([]);
}

describeKernel('win32: GetWriteWatch results', () => {
  it('separate written pages for three PAGEMAP_SCAN vectors and more, read twice without reset, exactly and identically', () => {
    // One region per written page, more than three page tables' worth on every page size.
    const n = 3 * PTES_PER_TABLE + 2;
    const pages = 2 * n;
    const b = alloc(pages);
    const view = new Uint8Array(w.viewMemory(b, pages * PAGE));
    const expected: number[] = [];
    for (let i = 0; i < pages; i += 2) {
      view[i * PAGE + 7] = 1;
      expected.push(i);
    }
    expect(expected.length).toBe(n);
    const first = written(b, pages * PAGE);
    expect(first).toEqual(expected);
    expect(written(b, pages * PAGE)).toEqual(first);
    // Reset returns the pre-reset state, then everything is clean.
    expect(written(b, pages * PAGE, { reset: true })).toEqual(expected);
    expect(written(b, pages * PAGE)).toEqual([]);
  });

  it('a count cap returns the first pages; with reset only those are reset (A12)', () => {
    cappedReset(w.getWriteWatch);
  });

  it('negative controls: a capped GetWriteWatch(RESET) that resets the whole range, or nothing, fails the A12 check', () => {
    // Built over the public functions: the call without its reset, then ResetWriteWatch over all of it (or not at all).
    const resetsAll: GetWriteWatch = (flags, base, size, addrs, count, gran) => {
      const ret = w.getWriteWatch(flags & ~w.WRITE_WATCH_FLAG_RESET, base, size, addrs, count, gran);
      if (ret === 0 && flags & w.WRITE_WATCH_FLAG_RESET) expect(w.resetWriteWatch(base, size)).toBe(0);
      return ret;
    };
    const resetsNone: GetWriteWatch = (flags, ...rest) => w.getWriteWatch(flags & ~w.WRITE_WATCH_FLAG_RESET, ...rest);
    expect(() => cappedReset(resetsAll)).toThrow(/expected/);
    expect(() => cappedReset(resetsNone)).toThrow(/expected/);
  });

  it('entries past the returned count are untouched; a bigint[] works too', () => {
    const b = alloc(8);
    new Uint8Array(w.viewMemory(b, 8 * PAGE))[2 * PAGE] = 1;
    const arr: bigint[] = [1n, 2n, 3n, 4n];
    const count = { value: 4 };
    expect(w.getWriteWatch(0, b, 8 * PAGE, arr, count, { value: 0 })).toBe(0);
    expect(count.value).toBe(1);
    expect(arr).toEqual([b + 2n * P, 2n, 3n, 4n]);
    // an array shorter than *lpdwCount is an access violation, even when the result would fit
    w.setLastError(0);
    expect(w.getWriteWatch(0, b, 8 * PAGE, new BigUint64Array(3), { value: 4 }, { value: 0 })).toBe(0xffffffff);
    expect(w.getLastError()).toBe(w.ERROR_NOACCESS);
  });

  it('an addresses array over a resizable buffer is written in full after it grows', () => {
    const b = alloc(16);
    const view = new Uint8Array(w.viewMemory(b, 16 * PAGE));
    const buf = new (ArrayBuffer as any)(8 * 2, { maxByteLength: 8 * 16 }) as ArrayBuffer & { resize(n: number): void };
    const arr = new BigUint64Array(buf); // length-tracking
    view[PAGE] = 1;
    const count = { value: 2 };
    expect(w.getWriteWatch(0, b, 16 * PAGE, arr, count, { value: 0 })).toBe(0);
    expect([...arr]).toEqual([b + P, 0n]);
    for (const i of [3, 5, 7, 9, 11]) view[i * PAGE] = 1;
    buf.resize(8 * 16);
    count.value = 16;
    expect(w.getWriteWatch(0, b, 16 * PAGE, arr, count, { value: 0 })).toBe(0);
    expect(count.value).toBe(6);
    expect([...arr.subarray(0, 6)]).toEqual([1, 3, 5, 7, 9, 11].map((i) => b + BigInt(i) * P));
  });

  it('write order is irrelevant: output is ascending', () => {
    const b = alloc(64);
    const view = new Uint8Array(w.viewMemory(b, 64 * PAGE));
    const order = [63, 0, 40, 7, 8, 22, 21, 50, 1];
    for (const i of order) view[i * PAGE + 100] = 9;
    expect(written(b, 64 * PAGE)).toEqual([...order].sort((x, y) => x - y));
  });

  it('sub-ranges and unaligned ranges cover every page they touch, up to the allocation end', () => {
    const b = alloc(16);
    const view = new Uint8Array(w.viewMemory(b, 16 * PAGE));
    for (const i of [0, 3, 4, 15]) view[i * PAGE] = 1;
    const o = { origin: b };
    expect(written(b + 3n * P, 2 * PAGE, o)).toEqual([3, 4]);
    expect(written(b + 3n * P + 1n, 1, o)).toEqual([3]);
    expect(written(b + 3n * P - 1n, 2, o)).toEqual([3]); // pages 2 and 3; only 3 written
    expect(written(b + 4n * P - 1n, 2, o)).toEqual([3, 4]);
    expect(written(b + 15n * P, PAGE, o)).toEqual([15]); // ends exactly at the end
    expect(written(b + 15n * P + P - 1n, 1, o)).toEqual([15]);
    expect(fail(b + 15n * P, PAGE + 1)).toBe(87); // one byte past the end
    // A reset of an unaligned sub-range resets every page it touches.
    expect(w.resetWriteWatch(b + 3n * P + 10n, PAGE)).toBe(0);
    expect(written(b, 16 * PAGE)).toEqual([0, 15]);
  });

  it('a 4-byte store straddling two pages writes both', () => {
    const b = alloc(4);
    new DataView(w.viewMemory(b, 4 * PAGE)).setUint32(2 * PAGE - 2, 0xdeadbeef, true);
    expect(written(b, 4 * PAGE)).toEqual([1, 2]);
  });

  it('reads are not writes; protection changes in every direction neither write nor clear', () => {
    const b = alloc(8);
    const view = new Uint8Array(w.viewMemory(b, 8 * PAGE));
    let sum = 0;
    for (let i = 0; i < 8 * PAGE; i += 512) sum += view[i];
    expect(sum).toBe(0);
    expect(written(b, 8 * PAGE)).toEqual([]);
    view[PAGE] = 1;
    view[6 * PAGE] = 1;
    const old = { value: 0 };
    for (const [prot, was] of [
      [w.PAGE_READONLY, w.PAGE_READWRITE],
      [w.PAGE_NOACCESS, w.PAGE_READONLY],
      [w.PAGE_READWRITE, w.PAGE_NOACCESS],
      [w.PAGE_READONLY, w.PAGE_READWRITE],
    ]) {
      expect(w.virtualProtect(b, 8 * PAGE, prot, old)).toBe(true);
      expect(old.value).toBe(was);
      expect(written(b, 8 * PAGE)).toEqual([1, 6]);
    }
    // Reset while read-only, then make it writable again: still clean until a real write.
    expect(written(b, 8 * PAGE, { reset: true })).toEqual([1, 6]);
    expect(w.virtualProtect(b, 8 * PAGE, w.PAGE_READWRITE, old)).toBe(true);
    expect(written(b, 8 * PAGE)).toEqual([]);
    view[3 * PAGE] = 5;
    expect(written(b, 8 * PAGE)).toEqual([3]);
  });

  /** The decommit claim, run against `decommit` (VirtualFree's own, or a broken variant below). */
  function expectDecommitClears(decommit: (address: bigint, size: number) => void): void {
    const b = alloc(8);
    const view = new Uint8Array(w.viewMemory(b, 8 * PAGE));
    for (const i of [1, 2, 3, 6]) view[i * PAGE + 1] = 0x5a;
    decommit(b + 2n * P, 2 * PAGE);
    expect(written(b, 8 * PAGE)).toEqual([1, 6]);
    expect(w.virtualAlloc(b + 2n * P, 2 * PAGE, w.MEM_COMMIT, w.PAGE_READWRITE)).toBe(b + 2n * P);
    expect(written(b, 8 * PAGE)).toEqual([1, 6]);
    expect(view[2 * PAGE + 1]).toBe(0); // fresh zero page, and reading it is not a write
    expect(view[1 * PAGE + 1]).toBe(0x5a); // its neighbour kept its contents
    expect(written(b, 8 * PAGE)).toEqual([1, 6]);
    view[3 * PAGE] = 1;
    expect(written(b, 8 * PAGE)).toEqual([1, 3, 6]);
    // Decommit everything, recommit: all clean.
    decommit(b, 8 * PAGE);
    expect(written(b, 8 * PAGE)).toEqual([]);
    expect(w.virtualAlloc(b, 8 * PAGE, w.MEM_COMMIT, w.PAGE_READWRITE)).toBe(b);
    expect(written(b, 8 * PAGE)).toEqual([]);
  }

  it('decommit clears the written state and the contents; recommit does not write', () => {
    expectDecommitClears((address, size) => expect(w.virtualFree(address, size, w.MEM_DECOMMIT)).toBe(true));
    // Size 0 at the base decommits the whole allocation.
    const b = alloc(4);
    new Uint8Array(w.viewMemory(b, 4 * PAGE))[PAGE] = 1;
    expect(w.virtualFree(b, 0, w.MEM_DECOMMIT)).toBe(true);
    expect(written(b, 4 * PAGE)).toEqual([]);
  });

  it('negative controls: a decommit that skips clearing is caught (protect only; zap without re-arming)', () => {
    const old = { value: 0 };
    // Only makes the pages inaccessible: contents and written state stay.
    const protectOnly = (address: bigint, size: number) => expect(w.virtualProtect(address, size, w.PAGE_NOACCESS, old)).toBe(true);
    expect(() => expectDecommitClears(protectOnly)).toThrow(/expected/);
    // Drops the contents (MADV_DONTNEED) but does not re-arm: zapped pages read as written.
    const zapOnly = (address: bigint, size: number) => {
      protectOnly(address, size);
      expect(madvise(address, size, MADV_DONTNEED)).toBe(0);
    };
    expect(() => expectDecommitClears(zapOnly)).toThrow(/expected/);
  });

  it('reserved-only pages may lie in the range; committing some does not write them', () => {
    const b = alloc(16, w.MEM_RESERVE | w.MEM_WRITE_WATCH, w.PAGE_NOACCESS);
    expect(written(b, 16 * PAGE)).toEqual([]);
    expect(w.virtualAlloc(b + 5n * P, 3 * PAGE, w.MEM_COMMIT, w.PAGE_READWRITE)).toBe(b + 5n * P);
    expect(written(b, 16 * PAGE)).toEqual([]);
    new Uint8Array(w.viewMemory(b + 5n * P, 3 * PAGE))[PAGE] = 1;
    expect(written(b, 16 * PAGE)).toEqual([6]);
    expect(w.resetWriteWatch(b, 16 * PAGE)).toBe(0);
    expect(written(b, 16 * PAGE)).toEqual([]);
  });

  it('writes by the kernel (fs.readSync into the memory) are reported, exactly the pages written', () => {
    const b = alloc(16);
    const file = join(tmpdir(), `ww-win32-${process.pid}.bin`);
    writeFileSync(file, Buffer.alloc(2 * PAGE + 3, 0x61));
    const fd = openSync(file, 'r');
    try {
      const n = readSync(fd, new Uint8Array(w.viewMemory(b + P, 15 * PAGE)), 0, 15 * PAGE, 0);
      expect(n).toBe(2 * PAGE + 3);
    } finally {
      closeSync(fd);
      rmSync(file);
    }
    // Windows marks the whole buffer at ReadFile's issue; Linux reports the pages the kernel wrote.
    expect(written(b, 16 * PAGE)).toEqual([1, 2, 3]);
  });

  /**
   * Two 64 KiB MEM_WRITE_WATCH allocations back to back (a reservation's base is 64 KiB-aligned, so
   * one granule each). Room is found by reserving and releasing; another thread may map into it in
   * between, so that is retried, never assumed to work first time.
   */
  const G = 0x10000;
  function adjacentPair(): [bigint, bigint] {
    const type = w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH;
    for (let attempt = 0; attempt < 100; attempt++) {
      const room = w.virtualAlloc(0n, 2 * G, w.MEM_RESERVE, w.PAGE_NOACCESS);
      expect(room).not.toBe(0n);
      expect(w.virtualFree(room, 0, w.MEM_RELEASE)).toBe(true);
      const a = w.virtualAlloc(room, G, type, w.PAGE_READWRITE);
      const c = w.virtualAlloc(room + BigInt(G), G, type, w.PAGE_READWRITE);
      if (a !== 0n) live.push(a);
      if (c !== 0n) live.push(c);
      if (a === room && c === room + BigInt(G)) return [a, c];
    }
    throw new Error('no room for two adjacent allocations in 100 attempts');
  }

  it('a range spanning two adjacent allocations fails with 87; each alone works', () => {
    const [a, c] = adjacentPair();
    const aTail = c - 4n * P; // a's last 4 pages
    new Uint8Array(w.viewMemory(aTail, 4 * PAGE))[3 * PAGE] = 1;
    new Uint8Array(w.viewMemory(c, 4 * PAGE))[0] = 1;
    expect(fail(a, 2 * G)).toBe(87);
    expect(fail(c - P, 2 * PAGE)).toBe(87);
    w.setLastError(0);
    expect(w.resetWriteWatch(c - P, 2 * PAGE)).toBe(0xffffffff);
    expect(w.getLastError()).toBe(87);
    expect(written(aTail, 4 * PAGE)).toEqual([3]);
    expect(written(c, 4 * PAGE)).toEqual([0]);
  });

  it("releasing one allocation leaves its neighbour's registration intact", () => {
    const [a, c] = adjacentPair();
    new Uint8Array(w.viewMemory(a, 4 * PAGE))[PAGE] = 1;
    new Uint8Array(w.viewMemory(c, 4 * PAGE))[2 * PAGE] = 1;
    free(a);
    expect(fail(a, 4 * PAGE)).toBe(87);
    // c still answers exactly, resets, and records new writes: its registration was not touched.
    expect(written(c, 4 * PAGE)).toEqual([2]);
    expect(written(c, 4 * PAGE, { reset: true })).toEqual([2]);
    expect(written(c, 4 * PAGE)).toEqual([]);
    new Uint8Array(w.viewMemory(c, 4 * PAGE))[3 * PAGE] = 1;
    expect(written(c, 4 * PAGE)).toEqual([3]);
    // And the kernel still has c registered for async write-protect (smaps VmFlags "uw").
    const smaps = readFileSync('/proc/self/smaps', 'utf8');
    const block = smaps.slice(smaps.indexOf(`\n${c.toString(16)}-`) + 1);
    expect(/^VmFlags:(.*)$/m.exec(block)![1].split(' ')).toContain('uw');
  });

  it('a released allocation fails with 87, and memory never watched too', () => {
    const b = alloc(4);
    new Uint8Array(w.viewMemory(b, 4 * PAGE))[0] = 1;
    free(b);
    expect(fail(b, 4 * PAGE)).toBe(87);
    w.setLastError(0);
    expect(w.resetWriteWatch(b, 4 * PAGE)).toBe(0xffffffff);
    expect(w.getLastError()).toBe(87);
    const plain = alloc(4, w.MEM_RESERVE | w.MEM_COMMIT);
    expect(fail(plain, 4 * PAGE)).toBe(87);
    expect(fail(0n, PAGE)).toBe(87);
    expect(fail(0xffff_ffff_ffff_f000n, PAGE)).toBe(87);
  });

  it('tracking lost behind our back (memory mapped over) fails with 87, never a wrong answer', () => {
    const b = alloc(8);
    new Uint8Array(w.viewMemory(b, 8 * PAGE))[2 * PAGE] = 1;
    expect(written(b, 8 * PAGE)).toEqual([2]);
    // Map fresh, unregistered memory over page 4, as a buggy native library could.
    const p = libc().mmap(b + 4n * P, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    expect(p).toBe(b + 4n * P);
    expect(fail(b, 8 * PAGE)).toBe(87);
    w.setLastError(0);
    expect(w.resetWriteWatch(b, 8 * PAGE)).toBe(0xffffffff);
    expect(w.getLastError()).toBe(87);
    // The untouched part still answers; decommit and release still work.
    expect(written(b, 3 * PAGE)).toEqual([2]);
    expect(w.virtualFree(b + 3n * P, 2 * PAGE, w.MEM_DECOMMIT)).toBe(true);
    expect(fail(b, 8 * PAGE)).toBe(87);
    free(b);
  });

  it('tracking lost to munmap behind our back fails with 87', () => {
    const b = alloc(8);
    expect(libc().munmap(b + 6n * P, PAGE)).toBe(0);
    expect(fail(b, 8 * PAGE)).toBe(87);
    expect(written(b, 6 * PAGE)).toEqual([]);
    free(b);
  });
});
