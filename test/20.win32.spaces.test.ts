/**
 * One table of Wine's test_write_watch cases (dlls/kernel32/tests/virtual.c, which runs on
 * Windows), run against two spaces: the process's memory (the module functions) and an
 * AddressSpace over a WebAssembly.Memory (issue 20, items 6 and 7). Each case returns a transcript
 * of its answers (addresses relative to the allocation); both spaces must give the expected one,
 * hence the same.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as w from '../src/win32/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

const P = BigInt(PAGE);
const SIZE = 16 * PAGE; // Wine's 0x10000 with 4 KiB pages
const WATCH = w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH;

/** What a case needs of a space: the Win32 calls, and a way to write its memory. */
interface Calls {
  virtualAlloc: typeof w.virtualAlloc;
  virtualFree: typeof w.virtualFree;
  virtualProtect: typeof w.virtualProtect;
  getWriteWatch: typeof w.getWriteWatch;
  resetWriteWatch: typeof w.resetWriteWatch;
  bytes(base: bigint, size: number): Uint8Array;
}

const processCalls: Calls = {
  virtualAlloc: w.virtualAlloc,
  virtualFree: w.virtualFree,
  virtualProtect: w.virtualProtect,
  getWriteWatch: w.getWriteWatch,
  resetWriteWatch: w.resetWriteWatch,
  bytes: (base, size) => new Uint8Array(w.viewMemory(base, size)),
};

const GUEST_BASE = 0x10000n;
function guestCalls(memory: { buffer: ArrayBuffer }, space: w.AddressSpace): Calls {
  return {
    virtualAlloc: (...a) => space.virtualAlloc(...a),
    virtualFree: (...a) => space.virtualFree(...a),
    virtualProtect: (...a) => space.virtualProtect(...a),
    getWriteWatch: (...a) => space.getWriteWatch(...a),
    resetWriteWatch: (...a) => space.resetWriteWatch(...a),
    bytes: (base, size) => new Uint8Array(memory.buffer, Number(base - GUEST_BASE), size),
  };
}

type Transcript = unknown[];

/** GetWriteWatch → [ret, pages relative to `base` | last error]. */
function ww(s: Calls, flags: number, base: bigint, size: number, cap = 64): unknown {
  const addrs = new BigUint64Array(cap);
  const count = { value: cap };
  const gran = { value: 0 };
  w.setLastError(0xdeadbeef);
  const ret = s.getWriteWatch(flags, base, size, addrs, count, gran);
  if (ret !== 0) return { ret, err: w.getLastError(), gran: gran.value };
  return { pages: [...addrs.subarray(0, count.value)].map((a) => Number((a - base) / P)), gran: gran.value, err: w.getLastError() };
}

function err<T>(f: () => T): { r: T; err: number } {
  w.setLastError(0xdeadbeef);
  const r = f();
  return { r, err: w.getLastError() };
}

/** The cases: each allocates, acts, releases, and returns its transcript. */
const cases: Record<string, { run: (s: Calls) => Transcript; expected: Transcript }> = {
  'fresh is clean; a write reports its page; a reset call returns the state before it': {
    run(s) {
      const b = s.virtualAlloc(0n, SIZE, WATCH, w.PAGE_READWRITE);
      const t: Transcript = [b % 0x10000n, ww(s, 0, b, SIZE)];
      s.bytes(b, SIZE)[PAGE + 1] = 0x44;
      t.push(ww(s, 0, b, SIZE), ww(s, w.WRITE_WATCH_FLAG_RESET, b, SIZE), ww(s, 0, b, SIZE));
      t.push(s.virtualFree(b, 0, w.MEM_RELEASE));
      return t;
    },
    expected: [
      0n,
      { pages: [], gran: PAGE, err: 0xdeadbeef },
      { pages: [1], gran: PAGE, err: 0xdeadbeef },
      { pages: [1], gran: PAGE, err: 0xdeadbeef },
      { pages: [], gran: PAGE, err: 0xdeadbeef },
      true,
    ],
  },
  'sub-ranges, ResetWriteWatch of a prefix, a straddling store, a count cap with partial reset (A1-A12)': {
    run(s) {
      const b = s.virtualAlloc(0n, SIZE, WATCH, w.PAGE_READWRITE);
      const bytes = s.bytes(b, SIZE);
      bytes[2 * PAGE + 3] = 0x11;
      bytes[4 * PAGE + 8] = 0x11;
      const t: Transcript = [ww(s, 0, b, SIZE), ww(s, 0, b + 3n * P, 2 * PAGE)];
      t.push(err(() => s.resetWriteWatch(b, 3 * PAGE)), ww(s, 0, b, SIZE));
      new DataView(bytes.buffer, bytes.byteOffset).setUint32(2 * PAGE - 2, 0xdeadbeef, true);
      t.push(ww(s, 0, b, SIZE), ww(s, w.WRITE_WATCH_FLAG_RESET, b, SIZE, 1), ww(s, 0, b, SIZE));
      t.push(ww(s, 0, b + BigInt(SIZE) - P, PAGE)); // a sub-range ending at the allocation's end
      s.virtualFree(b, 0, w.MEM_RELEASE);
      return t;
    },
    expected: [
      { pages: [2, 4], gran: PAGE, err: 0xdeadbeef },
      { pages: [1], gran: PAGE, err: 0xdeadbeef }, // page 4, relative to base + 3 pages
      { r: 0, err: 0xdeadbeef },
      { pages: [4], gran: PAGE, err: 0xdeadbeef },
      { pages: [1, 2, 4], gran: PAGE, err: 0xdeadbeef },
      { pages: [1], gran: PAGE, err: 0xdeadbeef },
      { pages: [2, 4], gran: PAGE, err: 0xdeadbeef },
      { pages: [], gran: PAGE, err: 0xdeadbeef },
    ],
  },
  'protection changes neither write nor clear (A13)': {
    run(s) {
      const b = s.virtualAlloc(0n, SIZE, WATCH, w.PAGE_READWRITE);
      const bytes = s.bytes(b, SIZE);
      bytes[2 * PAGE] = 1;
      bytes[4 * PAGE] = 1;
      const old = { value: 0 };
      const t: Transcript = [s.virtualProtect(b, 3 * PAGE, w.PAGE_READONLY, old), old.value];
      t.push(s.virtualProtect(b, 3 * PAGE, w.PAGE_READWRITE, old), old.value, ww(s, 0, b, SIZE));
      s.virtualFree(b, 0, w.MEM_RELEASE);
      return t;
    },
    expected: [true, w.PAGE_READWRITE, true, w.PAGE_READONLY, { pages: [2, 4], gran: PAGE, err: 0xdeadbeef }],
  },
  'invalid parameters, each with its error, granularity untouched': {
    run(s) {
      const b = s.virtualAlloc(0n, SIZE, WATCH, w.PAGE_READWRITE);
      const plain = s.virtualAlloc(0n, SIZE, w.MEM_RESERVE | w.MEM_COMMIT, w.PAGE_READWRITE);
      const addrs = new BigUint64Array(64);
      const gran = { value: 0 };
      const calls: [string, () => number][] = [
        ['NULL base', () => s.getWriteWatch(0, 0n, SIZE, addrs, { value: 64 }, gran)],
        ['count 0', () => s.getWriteWatch(0, b, SIZE, addrs, { value: 0 }, gran)],
        ['count NULL', () => s.getWriteWatch(0, b, SIZE, addrs, null, gran)],
        ['granularity NULL', () => s.getWriteWatch(0, b, SIZE, addrs, { value: 64 }, null)],
        ['addresses NULL', () => s.getWriteWatch(0, b, SIZE, null, { value: 64 }, gran)],
        ['addresses NULL, count 0', () => s.getWriteWatch(0, b, SIZE, null, { value: 0 }, gran)],
        ['flags 0xdeadbeef', () => s.getWriteWatch(0xdeadbeef, b, SIZE, addrs, { value: 64 }, gran)],
        ['size 0', () => s.getWriteWatch(0, b, 0, addrs, { value: 64 }, gran)],
        ['size * 2', () => s.getWriteWatch(0, b, SIZE * 2, addrs, { value: 64 }, gran)],
        ['one byte past the end', () => s.getWriteWatch(0, b + BigInt(SIZE) - P, PAGE + 1, addrs, { value: 64 }, gran)],
        ['not MEM_WRITE_WATCH', () => s.getWriteWatch(0, plain, SIZE, addrs, { value: 64 }, gran)],
        ['ResetWriteWatch size 0', () => s.resetWriteWatch(b, 0)],
        ['ResetWriteWatch of unwatched memory', () => s.resetWriteWatch(plain, SIZE)],
      ];
      const t: Transcript = calls.map(([name, call]) => [name, err(call), gran.value]);
      s.virtualFree(b, 0, w.MEM_RELEASE);
      s.virtualFree(plain, 0, w.MEM_RELEASE);
      t.push(['released', err(() => s.resetWriteWatch(b, SIZE))]);
      return t;
    },
    expected: [
      ['NULL base', { r: 0xffffffff, err: 87 }, 0],
      ['count 0', { r: 0xffffffff, err: 87 }, 0],
      ['count NULL', { r: 0xffffffff, err: 998 }, 0],
      ['granularity NULL', { r: 0xffffffff, err: 998 }, 0],
      ['addresses NULL', { r: 0xffffffff, err: 998 }, 0],
      ['addresses NULL, count 0', { r: 0xffffffff, err: 87 }, 0],
      ['flags 0xdeadbeef', { r: 0xffffffff, err: 87 }, 0],
      ['size 0', { r: 0xffffffff, err: 87 }, 0],
      ['size * 2', { r: 0xffffffff, err: 87 }, 0],
      ['one byte past the end', { r: 0xffffffff, err: 87 }, 0],
      ['not MEM_WRITE_WATCH', { r: 0xffffffff, err: 87 }, 0],
      ['ResetWriteWatch size 0', { r: 0xffffffff, err: 87 }, 0],
      ['ResetWriteWatch of unwatched memory', { r: 0xffffffff, err: 87 }, 0],
      ['released', { r: 0xffffffff, err: 87 }],
    ],
  },
  'allocation flavours: MEM_RESERVE | MEM_WRITE_WATCH; MEM_WRITE_WATCH alone; initial protect; the latch; decommit': {
    run(s) {
      const r = s.virtualAlloc(0n, SIZE, w.MEM_RESERVE | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
      const t: Transcript = [r !== 0n, s.virtualFree(r, 0, w.MEM_RELEASE), err(() => s.virtualAlloc(0n, SIZE, w.MEM_WRITE_WATCH, w.PAGE_READWRITE))];
      const b = s.virtualAlloc(0n, SIZE, w.MEM_RESERVE | w.MEM_WRITE_WATCH, w.PAGE_NOACCESS);
      t.push(s.virtualAlloc(b, SIZE, w.MEM_COMMIT, w.PAGE_NOACCESS) === b, ww(s, 0, b, SIZE));
      const old = { value: 0 };
      t.push(s.virtualProtect(b, 6 * PAGE, w.PAGE_READWRITE, old), old.value);
      s.bytes(b, SIZE)[5 * PAGE + 200] = 3;
      t.push(s.virtualProtect(b, 6 * PAGE, w.PAGE_NOACCESS, old), old.value, ww(s, 0, b, SIZE));
      // Windows: page 5, written before the VirtualProtect that covered it, survives the decommit.
      t.push(s.virtualFree(b, SIZE, w.MEM_DECOMMIT), ww(s, 0, b, SIZE));
      t.push(s.virtualAlloc(b, SIZE, w.MEM_COMMIT, w.PAGE_READWRITE) === b, ww(s, 0, b, SIZE));
      const bytes = s.bytes(b, SIZE);
      t.push(bytes[5 * PAGE + 200]); // decommit dropped the contents
      bytes[PAGE] = 1;
      bytes[9 * PAGE] = 1;
      bytes[12 * PAGE] = 1;
      t.push(ww(s, 0, b, SIZE));
      s.virtualFree(b, 0, w.MEM_RELEASE);
      return t;
    },
    expected: [
      true,
      true,
      { r: 0n, err: 87 },
      true,
      { pages: [], gran: PAGE, err: 0xdeadbeef },
      true,
      w.PAGE_NOACCESS,
      true,
      w.PAGE_READWRITE,
      { pages: [5], gran: PAGE, err: 0xdeadbeef },
      true,
      { pages: [5], gran: PAGE, err: 0xdeadbeef }, // Windows: 1 (Wine: 0, todo_wine)
      true,
      { pages: [5], gran: PAGE, err: 0xdeadbeef },
      0,
      { pages: [1, 5, 9, 12], gran: PAGE, err: 0xdeadbeef },
    ],
  },
};

describeKernel('win32: test_write_watch against two spaces', () => {
  // 4 MiB of guest RAM; its byte 0 is guest address 0x10000.
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 256 });
  const space = new w.AddressSpace(memory, { base: GUEST_BASE });
  const guest = guestCalls(memory, space);
  afterAll(() => space.close());

  for (const [name, c] of Object.entries(cases)) {
    describe(name, () => {
      let fromProcess: Transcript | undefined;
      it('process', () => {
        fromProcess = c.run(processCalls);
        expect(fromProcess).toEqual(c.expected);
      });
      it('AddressSpace over a WebAssembly.Memory, and the same answers', () => {
        const t = c.run(guest);
        expect(t).toEqual(c.expected);
        if (fromProcess) expect(t).toEqual(fromProcess);
      });
    });
  }

  it('negative control: a transcript with one page dropped is caught', () => {
    const c = cases['sub-ranges, ResetWriteWatch of a prefix, a straddling store, a count cap with partial reset (A1-A12)'];
    const broken: Calls = {
      ...processCalls,
      getWriteWatch: (flags, base, size, addrs, count, gran) => {
        const r = w.getWriteWatch(flags, base, size, addrs, count, gran);
        if (r === 0 && count && count.value > 1) count.value--; // drops the last page
        return r;
      },
    };
    expect(c.run(broken)).not.toEqual(c.expected);
  });

  it('guest allocations are 64 KiB-aligned guest addresses inside the memory; a guest write is a guest page', () => {
    const b = space.virtualAlloc(0n, 3 * PAGE, WATCH, w.PAGE_READWRITE);
    const c = space.virtualAlloc(0n, PAGE, WATCH, w.PAGE_READWRITE);
    expect(b % 0x10000n).toBe(0n);
    expect(c % 0x10000n).toBe(0n);
    expect(c).toBeGreaterThan(b);
    expect(b).toBeGreaterThanOrEqual(GUEST_BASE);
    expect(c + P).toBeLessThanOrEqual(GUEST_BASE + BigInt(memory.buffer.byteLength));
    new Uint8Array(memory.buffer)[Number(c - GUEST_BASE)] = 1;
    expect(ww(guest, 0, c, PAGE)).toMatchObject({ pages: [0] });
    expect(ww(guest, 0, b, 3 * PAGE)).toMatchObject({ pages: [] });
    // Explicit addresses: rounded down to 64 KiB; occupied → 487; outside the memory → 487.
    expect(space.virtualAlloc(b + 0x1234n, PAGE, w.MEM_RESERVE, w.PAGE_NOACCESS)).toBe(0n);
    expect(w.getLastError()).toBe(w.ERROR_INVALID_ADDRESS);
    const end = GUEST_BASE + BigInt(memory.buffer.byteLength);
    expect(space.virtualAlloc(end - 0x10000n + 0x1234n, PAGE, w.MEM_RESERVE, w.PAGE_NOACCESS)).toBe(end - 0x10000n);
    expect(space.virtualFree(end - 0x10000n, 0, w.MEM_RELEASE)).toBe(true);
    expect(space.virtualAlloc(end, PAGE, w.MEM_RESERVE, w.PAGE_NOACCESS)).toBe(0n);
    // The memory grows: the space follows.
    memory.grow(1);
    expect(space.virtualAlloc(end, PAGE, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE)).toBe(end);
    new Uint8Array(memory.buffer)[Number(end - GUEST_BASE) + 5] = 1;
    expect(ww(guest, 0, end, PAGE)).toMatchObject({ pages: [0] });
    for (const a of [b, c, end]) expect(space.virtualFree(a, 0, w.MEM_RELEASE)).toBe(true);
  });

  it('AddressSpace over an ArrayBuffer and a SharedArrayBuffer; close() releases the space, never the memory', () => {
    for (const buf of [new ArrayBuffer(1 << 20, { maxByteLength: 4 << 20 } as never), new SharedArrayBuffer(1 << 20, { maxByteLength: 4 << 20 } as never)]) {
      const s = new w.AddressSpace(buf as ArrayBuffer, { base: 0x400000n });
      const b = s.virtualAlloc(0n, 2 * PAGE, WATCH, w.PAGE_READWRITE);
      expect(b).toBe(0x400000n);
      new Uint8Array(buf)[PAGE + 1] = 9;
      const addrs = new BigUint64Array(4);
      const count = { value: 4 };
      expect(s.getWriteWatch(0, b, 2 * PAGE, addrs, count, { value: 0 })).toBe(0);
      expect([...addrs.subarray(0, count.value)]).toEqual([b + P]);
      const si = {} as Record<string, unknown>;
      s.getSystemInfo(si);
      expect(si).toMatchObject({ pageSize: PAGE, allocationGranularity: 0x10000, minimumApplicationAddress: 0x400000n, maximumApplicationAddress: 0x400000n + BigInt(buf.byteLength) - 1n });
      s.close();
      expect(() => s.virtualAlloc(0n, PAGE, WATCH, w.PAGE_READWRITE)).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_CLOSED' }));
      expect(new Uint8Array(buf)[PAGE + 1]).toBe(9); // the memory is the caller's
    }
    expect(() => new w.AddressSpace({} as ArrayBuffer)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => new w.AddressSpace(new ArrayBuffer(PAGE), { base: 0x1234n })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
});
