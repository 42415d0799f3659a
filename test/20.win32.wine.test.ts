/**
 * The essence of Wine's test_write_watch (dlls/kernel32/tests/virtual.c), which runs on real
 * Windows: the facts it pins, re-expressed against writewatch/win32.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import * as w from '../src/win32/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

const P = BigInt(PAGE);
const SIZE = 16 * PAGE; // Wine's 0x10000 with 4 KiB pages

function getWW(flags: number, base: bigint, size: number, cap = 64) {
  const addrs = new BigUint64Array(cap);
  const count = { value: cap };
  const gran = { value: 0 };
  w.setLastError(0xdeadbeef);
  const ret = w.getWriteWatch(flags, base, size, addrs, count, gran);
  return { ret, count: count.value, gran: gran.value, addrs: [...addrs.subarray(0, ret === 0 ? count.value : 0)], err: w.getLastError() };
}

describeKernel('win32: Wine test_write_watch, ported', () => {
  let base = 0n;
  let bytes: Uint8Array;
  beforeEach(() => {
    base = w.virtualAlloc(0n, SIZE, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
    expect(base).not.toBe(0n);
    bytes = new Uint8Array(w.viewMemory(base, SIZE));
  });
  afterEach(() => {
    expect(w.virtualFree(base, 0, w.MEM_RELEASE)).toBe(true);
  });

  it('NULL base fails with 87', () => {
    const r = getWW(0, 0n, SIZE);
    expect(r.ret).toBe(0xffffffff);
    expect(r.err).toBe(w.ERROR_INVALID_PARAMETER);
  });

  it('a fresh allocation reads clean; one write reports its page; reset returns the pre-reset state', () => {
    let r = getWW(0, base, SIZE);
    expect(r).toMatchObject({ ret: 0, count: 0, gran: PAGE });
    expect(r.err).toBe(0xdeadbeef); // success leaves the last error alone

    bytes[PAGE + 1] = 0x44;
    r = getWW(0, base, SIZE);
    expect(r.ret).toBe(0);
    expect(r.addrs).toEqual([base + P]);

    r = getWW(w.WRITE_WATCH_FLAG_RESET, base, SIZE);
    expect(r.addrs).toEqual([base + P]);
    expect(getWW(0, base, SIZE).count).toBe(0);
  });

  it('sub-ranges, ResetWriteWatch of a prefix, a straddling store, a count cap with partial reset (A1-A12)', () => {
    bytes[2 * PAGE + 3] = 0x11;
    bytes[4 * PAGE + 8] = 0x11;
    expect(getWW(0, base, SIZE).addrs).toEqual([base + 2n * P, base + 4n * P]);
    expect(getWW(0, base + 3n * P, 2 * PAGE).addrs).toEqual([base + 4n * P]);

    w.setLastError(0xdeadbeef);
    expect(w.resetWriteWatch(base, 3 * PAGE)).toBe(0);
    expect(w.getLastError()).toBe(0xdeadbeef);
    expect(getWW(0, base, SIZE).addrs).toEqual([base + 4n * P]);

    // A 4-byte store that straddles pages 1 and 2 writes both.
    new DataView(bytes.buffer).setUint32(2 * PAGE - 2, 0xdeadbeef, true);
    expect(getWW(0, base, SIZE).addrs).toEqual([base + P, base + 2n * P, base + 4n * P]);

    // count 1 with reset: the first page only, and only it is reset.
    const r = getWW(w.WRITE_WATCH_FLAG_RESET, base, SIZE, 1);
    expect(r).toMatchObject({ ret: 0, count: 1 });
    expect(r.addrs).toEqual([base + P]);
    expect(getWW(0, base, SIZE).addrs).toEqual([base + 2n * P, base + 4n * P]);
  });

  it('changing protections does not affect watches (and is not a write)', () => {
    bytes[2 * PAGE] = 1;
    bytes[4 * PAGE] = 1;
    const old = { value: 0 };
    expect(w.virtualProtect(base, 3 * PAGE, w.PAGE_READONLY, old)).toBe(true);
    expect(old.value).toBe(w.PAGE_READWRITE);
    expect(w.virtualProtect(base, 3 * PAGE, w.PAGE_READWRITE, old)).toBe(true);
    expect(old.value).toBe(w.PAGE_READONLY);
    expect(getWW(0, base, SIZE).addrs).toEqual([base + 2n * P, base + 4n * P]);
  });

  it('invalid parameters, each with its error', () => {
    const addrs = new BigUint64Array(64);
    const gran = { value: 0 };
    const cases: [string, () => number, number][] = [
      ['count 0', () => w.getWriteWatch(0, base, SIZE, addrs, { value: 0 }, gran), 87],
      ['count NULL', () => w.getWriteWatch(0, base, SIZE, addrs, null, gran), 998],
      ['granularity NULL', () => w.getWriteWatch(0, base, SIZE, addrs, { value: 64 }, null), 998],
      ['addresses NULL', () => w.getWriteWatch(0, base, SIZE, null, { value: 64 }, gran), 998],
      ['addresses NULL, count 0', () => w.getWriteWatch(0, base, SIZE, null, { value: 0 }, gran), 87],
      ['flags 0xdeadbeef', () => w.getWriteWatch(0xdeadbeef, base, SIZE, addrs, { value: 64 }, gran), 87],
      ['size 0', () => w.getWriteWatch(0, base, 0, addrs, { value: 64 }, gran), 87],
      ['size * 2', () => w.getWriteWatch(0, base, SIZE * 2, addrs, { value: 64 }, gran), 87],
      ['one byte past the end', () => w.getWriteWatch(0, base + BigInt(SIZE - PAGE), PAGE + 1, addrs, { value: 64 }, gran), 87],
      ['ResetWriteWatch size 0', () => w.resetWriteWatch(base, 0), 87],
      ['ResetWriteWatch of unwatched memory', () => w.resetWriteWatch(0x10000n, SIZE), 87],
    ];
    for (const [name, call, err] of cases) {
      w.setLastError(0xdeadbeef);
      expect(call(), name).toBe(0xffffffff);
      expect(w.getLastError(), name).toBe(err);
      expect(gran.value, `${name}: granularity untouched on failure`).toBe(0);
    }
  });
});

describeKernel('win32: Wine test_write_watch, allocation flavours', () => {
  it('MEM_RESERVE | MEM_WRITE_WATCH works; MEM_WRITE_WATCH alone fails with 87', () => {
    const b = w.virtualAlloc(0n, SIZE, w.MEM_RESERVE | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
    expect(b).not.toBe(0n);
    expect(w.virtualFree(b, 0, w.MEM_RELEASE)).toBe(true);
    w.setLastError(0xdeadbeef);
    expect(w.virtualAlloc(0n, SIZE, w.MEM_WRITE_WATCH, w.PAGE_READWRITE)).toBe(0n);
    expect(w.getLastError()).toBe(w.ERROR_INVALID_PARAMETER);
  });

  it('initial protect does not matter; writes through a VirtualProtect window count; the latch; decommit clears', () => {
    const b = w.virtualAlloc(0n, SIZE, w.MEM_RESERVE | w.MEM_WRITE_WATCH, w.PAGE_NOACCESS);
    expect(b).not.toBe(0n);
    expect(w.virtualAlloc(b, SIZE, w.MEM_COMMIT, w.PAGE_NOACCESS)).toBe(b);
    expect(getWW(0, b, SIZE)).toMatchObject({ ret: 0, count: 0 });

    const old = { value: 0 };
    expect(w.virtualProtect(b, 6 * PAGE, w.PAGE_READWRITE, old)).toBe(true);
    expect(old.value).toBe(w.PAGE_NOACCESS);
    new Uint8Array(w.viewMemory(b, SIZE))[5 * PAGE + 200] = 3;
    expect(w.virtualProtect(b, 6 * PAGE, w.PAGE_NOACCESS, old)).toBe(true);
    expect(old.value).toBe(w.PAGE_READWRITE);
    expect(getWW(0, b, SIZE).addrs).toEqual([b + 5n * P]);

    // Windows (the test's last check): page 5 was written before the VirtualProtect that covered it,
    // so it stays reported through the decommit (the "latch"), and through a recommit.
    expect(w.virtualFree(b, SIZE, w.MEM_DECOMMIT)).toBe(true);
    expect(getWW(0, b, SIZE).addrs).toEqual([b + 5n * P]);
    expect(w.virtualAlloc(b, SIZE, w.MEM_COMMIT, w.PAGE_READWRITE)).toBe(b);
    expect(getWW(0, b, SIZE).addrs).toEqual([b + 5n * P]);
    // A page written after the last VirtualProtect is cleared by a decommit (D9/D10), and a reset
    // ends the latch.
    new Uint8Array(w.viewMemory(b, SIZE))[7 * PAGE] = 1;
    expect(getWW(w.WRITE_WATCH_FLAG_RESET, b, SIZE).addrs).toEqual([b + 5n * P, b + 7n * P]);
    new Uint8Array(w.viewMemory(b, SIZE))[7 * PAGE] = 1;
    expect(w.virtualFree(b, SIZE, w.MEM_DECOMMIT)).toBe(true);
    expect(getWW(0, b, SIZE).count).toBe(0);
    expect(w.virtualFree(b, 0, w.MEM_RELEASE)).toBe(true);
  });
});
