/**
 * VirtualQuery and GetSystemInfo (issue 20, item 2), the 64 KiB granularity (item 3), every
 * protection and type Windows accepts (item 4): the cases of Wine's dlls/kernel32/tests/virtual.c
 * (test_VirtualAlloc, which runs on Windows) that Linux can express, on the process space and, where
 * they do not depend on the host's mappings, on an AddressSpace too.
 */
import { readFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import * as w from '../src/win32/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

const live: bigint[] = [];
afterEach(() => {
  for (const b of live.splice(0)) w.virtualFree(b, 0, w.MEM_RELEASE);
});

/** The rwxp field of the /proc/self/maps line that holds `addr`. */
function perms(addr: bigint): string | undefined {
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(line);
    if (m && BigInt('0x' + m[1]) <= addr && addr < BigInt('0x' + m[2])) return m[3];
  }
  return undefined;
}

type Info = w.MemoryBasicInformation;
interface Space {
  virtualAlloc: typeof w.virtualAlloc;
  virtualFree: typeof w.virtualFree;
  virtualProtect: typeof w.virtualProtect;
  virtualQuery: typeof w.virtualQuery;
}

function query(s: Space, address: bigint): Info {
  const info = {} as Info;
  w.setLastError(0xdeadbeef);
  expect(s.virtualQuery(address, info)).toBe(48);
  expect(w.getLastError()).toBe(0xdeadbeef);
  return info;
}

/** Wine's test_VirtualAlloc, the parts about private memory (64 KiB pages: 0x10000 is 16 of 4 KiB). */
function testVirtualAlloc(s: Space): void {
  const G = 0x10000;
  w.setLastError(0xdeadbeef);
  expect(s.virtualAlloc(0n, 0, w.MEM_RESERVE, w.PAGE_NOACCESS)).toBe(0n);
  expect(w.getLastError()).toBe(87);

  const a = s.virtualAlloc(0n, 0xfffc, w.MEM_RESERVE, w.PAGE_NOACCESS);
  expect(a).not.toBe(0n);
  expect(a % BigInt(G)).toBe(0n);
  expect(query(s, a)).toEqual({ baseAddress: a, allocationBase: a, allocationProtect: w.PAGE_NOACCESS, regionSize: 0x10000, state: w.MEM_RESERVE, protect: 0, type: w.MEM_PRIVATE });
  const old = { value: 0 };
  w.setLastError(0xdeadbeef);
  expect(s.virtualProtect(a, 0xfffc, w.PAGE_READONLY, old)).toBe(false);
  expect(w.getLastError()).toBe(w.ERROR_INVALID_ADDRESS);

  expect(s.virtualAlloc(a, PAGE, w.MEM_COMMIT, w.PAGE_NOACCESS)).toBe(a);
  expect(query(s, a)).toEqual({ baseAddress: a, allocationBase: a, allocationProtect: w.PAGE_NOACCESS, regionSize: PAGE, state: w.MEM_COMMIT, protect: w.PAGE_NOACCESS, type: w.MEM_PRIVATE });
  // The rest of the reservation: its own region, starting at the next page.
  expect(query(s, a + BigInt(PAGE) + 5n)).toMatchObject({ baseAddress: a + BigInt(PAGE), allocationBase: a, regionSize: G - PAGE, state: w.MEM_RESERVE, protect: 0 });
  expect(s.virtualProtect(a, 0xfffc, w.PAGE_READONLY, old)).toBe(false);
  expect(w.getLastError()).toBe(w.ERROR_INVALID_ADDRESS);
  expect(s.virtualProtect(a, PAGE, w.PAGE_READONLY, old)).toBe(true);
  expect(old.value).toBe(w.PAGE_NOACCESS);
  expect(s.virtualProtect(a, PAGE, w.PAGE_READWRITE, old)).toBe(true);
  expect(old.value).toBe(w.PAGE_READONLY);
  expect(query(s, a)).toMatchObject({ regionSize: PAGE, state: w.MEM_COMMIT, protect: w.PAGE_READWRITE });

  // MEM_RESET: a committed page, a reserved one; running past the allocation → 487.
  expect(s.virtualAlloc(a, PAGE, w.MEM_RESET, w.PAGE_NOACCESS)).toBe(a);
  expect(query(s, a)).toMatchObject({ regionSize: PAGE, state: w.MEM_COMMIT, protect: w.PAGE_READWRITE });
  expect(s.virtualAlloc(a + BigInt(PAGE), PAGE, w.MEM_RESET, w.PAGE_NOACCESS)).toBe(a + BigInt(PAGE));
  expect(query(s, a + BigInt(PAGE))).toMatchObject({ regionSize: G - PAGE, state: w.MEM_RESERVE, protect: 0 });
  w.setLastError(0xdeadbeef);
  expect(s.virtualAlloc(a + BigInt(G - PAGE), 2 * PAGE, w.MEM_RESET, w.PAGE_NOACCESS)).toBe(0n);
  expect(w.getLastError()).toBe(w.ERROR_INVALID_ADDRESS);

  // Invalid protections.
  const bad: [() => unknown, string][] = [
    [() => s.virtualAlloc(0n, PAGE, w.MEM_RESERVE, 0), 'reserve, protect 0'],
    [() => s.virtualAlloc(0n, PAGE, w.MEM_COMMIT, 0), 'commit, protect 0'],
    [() => s.virtualAlloc(a, PAGE, w.MEM_COMMIT, w.PAGE_READONLY | w.PAGE_EXECUTE), 'two base protections'],
    [() => s.virtualProtect(a, PAGE, w.PAGE_READWRITE | w.PAGE_EXECUTE_WRITECOPY, old), 'two base protections (protect)'],
    [() => s.virtualProtect(a, PAGE, 0, old), 'protect 0'],
    [() => s.virtualFree(a, G, 0), 'free type 0'],
    [() => s.virtualFree(a, 0, w.MEM_FREE), 'free type MEM_FREE'],
  ];
  for (const [f, name] of bad) {
    w.setLastError(0xdeadbeef);
    expect(f(), name).toBeFalsy();
    expect(w.getLastError(), name).toBe(87);
  }
  expect(s.virtualFree(a, G, w.MEM_DECOMMIT)).toBe(true);
  expect(query(s, a)).toMatchObject({ regionSize: G, state: w.MEM_RESERVE, protect: 0 });
  w.setLastError(0xdeadbeef);
  expect(s.virtualFree(a, 1, w.MEM_RELEASE)).toBe(false); // MEM_RELEASE needs size 0
  expect(w.getLastError()).toBe(87);
  expect(s.virtualFree(a, 0, w.MEM_RELEASE)).toBe(true);

  // PAGE_NOCACHE is recorded and reported.
  const n = s.virtualAlloc(0n, 2 * PAGE, w.MEM_COMMIT, w.PAGE_READWRITE | w.PAGE_NOCACHE);
  expect(n).not.toBe(0n);
  expect(query(s, n)).toEqual({ baseAddress: n, allocationBase: n, allocationProtect: w.PAGE_READWRITE | w.PAGE_NOCACHE, regionSize: 2 * PAGE, state: w.MEM_COMMIT, protect: w.PAGE_READWRITE | w.PAGE_NOCACHE, type: w.MEM_PRIVATE });
  expect(s.virtualProtect(n, PAGE, w.PAGE_READONLY | w.PAGE_NOCACHE, old)).toBe(true);
  expect(old.value).toBe(w.PAGE_READWRITE | w.PAGE_NOCACHE);
  expect(s.virtualFree(n, 0, w.MEM_RELEASE)).toBe(true);

  // Memory returned by VirtualAlloc is 64 KiB-aligned, and can be had again at that address.
  const x = s.virtualAlloc(0n, 2 * PAGE, w.MEM_RESERVE | w.MEM_COMMIT, w.PAGE_EXECUTE_READWRITE);
  expect(x % BigInt(G)).toBe(0n);
  expect(s.virtualFree(x, 0, w.MEM_RELEASE)).toBe(true);
  const y = s.virtualAlloc(x, PAGE, w.MEM_RESERVE | w.MEM_COMMIT, w.PAGE_EXECUTE_READWRITE);
  if (y !== 0n) {
    expect(y).toBe(x);
    expect(s.virtualFree(y, 0, w.MEM_RELEASE)).toBe(true);
  } else expect(w.getLastError()).toBe(w.ERROR_INVALID_ADDRESS); // another thread took the address meanwhile
}

describeKernel('win32: VirtualQuery, GetSystemInfo, 64 KiB, protections', () => {
  it("Wine's test_VirtualAlloc on the process space", () => {
    testVirtualAlloc(w);
  });

  it("Wine's test_VirtualAlloc on an AddressSpace over a WebAssembly.Memory", () => {
    const memory = new WebAssembly.Memory({ initial: 16 });
    const space = new w.AddressSpace(memory);
    testVirtualAlloc(space);
    // Free guest space: from the address to the next allocation, or the memory's end.
    const a = space.virtualAlloc(0x40000n, PAGE, w.MEM_RESERVE, w.PAGE_NOACCESS);
    expect(a).toBe(0x40000n);
    expect(query(space, 0x20000n)).toEqual({ baseAddress: 0x20000n, allocationBase: 0n, allocationProtect: 0, regionSize: 0x20000, state: w.MEM_FREE, protect: w.PAGE_NOACCESS, type: 0 });
    const past = 0x40000 + PAGE; // the first page after a's one
    expect(query(space, BigInt(past))).toMatchObject({ state: w.MEM_FREE, regionSize: 0x10000 + memory.buffer.byteLength - past });
    const info = {};
    w.setLastError(0);
    expect(space.virtualQuery(0x10000n + BigInt(memory.buffer.byteLength), info)).toBe(0);
    expect(w.getLastError()).toBe(87);
    space.close();
  });

  it('GetSystemInfo; VirtualQuery above the user range is 0 with 87, free space is MEM_FREE up to the next mapping', () => {
    const si = {} as w.SystemInfo;
    w.getSystemInfo(si);
    expect(si.pageSize).toBe(PAGE);
    expect(si.allocationGranularity).toBe(0x10000);
    expect(si.minimumApplicationAddress).toBe(0x10000n);
    // The top of the user range, less a granule, as Windows' 0x7ffffffeffff on x64.
    if (process.arch === 'x64') expect(si.maximumApplicationAddress).toBe(0x7ffffffeffffn);
    expect((si.maximumApplicationAddress + 1n) % 0x10000n).toBe(0n);
    expect(si.numberOfProcessors).toBeGreaterThanOrEqual(1);
    const info = {};
    w.setLastError(0);
    expect(w.virtualQuery(si.maximumApplicationAddress + 1n, info)).toBe(0);
    expect(w.getLastError()).toBe(87);
    expect(w.virtualQuery(si.maximumApplicationAddress, info)).toBe(48); // the last user address is fine
    // A released range is free (retried: another thread may map there meanwhile).
    for (let attempt = 0; ; attempt++) {
      const b = w.virtualAlloc(0n, 4 * PAGE, w.MEM_RESERVE, w.PAGE_NOACCESS);
      expect(w.virtualFree(b, 0, w.MEM_RELEASE)).toBe(true);
      const q = query(w, b);
      if (q.state !== w.MEM_FREE && attempt < 20) continue;
      expect(q).toMatchObject({ baseAddress: b, allocationBase: 0n, state: w.MEM_FREE, protect: w.PAGE_NOACCESS, type: 0 });
      expect(q.regionSize).toBeGreaterThanOrEqual(4 * PAGE);
      expect(perms(b + BigInt(q.regionSize) - 1n)).toBeUndefined();
      break;
    }
    // Memory the library did not allocate (this process's stack, its code) is reported as committed.
    const stack = readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => l.endsWith('[stack]'))!;
    const top = BigInt('0x' + stack.split('-')[0]);
    expect(query(w, top)).toMatchObject({ baseAddress: top, allocationBase: top, state: w.MEM_COMMIT, protect: w.PAGE_READWRITE, type: w.MEM_PRIVATE });
  });

  it('an explicit reservation address is rounded down to 64 KiB; sizes stay page-granular', () => {
    for (let attempt = 0; ; attempt++) {
      const room = w.virtualAlloc(0n, 0x20000, w.MEM_RESERVE, w.PAGE_NOACCESS);
      expect(w.virtualFree(room, 0, w.MEM_RELEASE)).toBe(true);
      const b = w.virtualAlloc(room + 0x1234n, 0x10, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
      if (b === 0n && attempt < 20) continue;
      live.push(b);
      expect(b).toBe(room);
      // From the 64 KiB base to the end of the page holding the last byte asked for (0x1243):
      // 0x2000 with 4 KiB pages, 0x4000 with 16 KiB.
      const size = Math.ceil(0x1244 / PAGE) * PAGE;
      expect(query(w, b)).toMatchObject({ baseAddress: b, allocationBase: b, regionSize: size, state: w.MEM_COMMIT });
      expect(perms(b + BigInt(size))).toBeUndefined();
      break;
    }
  });

  it('execute protections map executable memory; PAGE_GUARD is recorded, reported, and not enforced for JS', () => {
    const cases: [number, string][] = [
      [w.PAGE_EXECUTE, 'r-xp'],
      [w.PAGE_EXECUTE_READ, 'r-xp'],
      [w.PAGE_EXECUTE_READWRITE, 'rwxp'],
      [w.PAGE_READWRITE | w.PAGE_GUARD, 'rw-p'],
      [w.PAGE_READONLY | w.PAGE_WRITECOMBINE, 'r--p'],
    ];
    for (const [protect, p] of cases) {
      const b = w.virtualAlloc(0n, 2 * PAGE, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, protect);
      expect(b, `protect 0x${protect.toString(16)}: ${w.getLastError()}`).not.toBe(0n);
      live.push(b);
      expect(perms(b)).toBe(p);
      expect(query(w, b)).toMatchObject({ protect, allocationProtect: protect, regionSize: 2 * PAGE });
    }
    // VirtualProtect to each, on a watched allocation: accepted, reported as oldProtect, not a write.
    const b = w.virtualAlloc(0n, 2 * PAGE, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
    live.push(b);
    const old = { value: 0 };
    let previous = w.PAGE_READWRITE;
    for (const protect of [w.PAGE_EXECUTE_READ, w.PAGE_EXECUTE_WRITECOPY, w.PAGE_WRITECOPY, w.PAGE_READWRITE | w.PAGE_GUARD, w.PAGE_EXECUTE, w.PAGE_READWRITE]) {
      expect(w.virtualProtect(b, PAGE, protect, old), `0x${protect.toString(16)}`).toBe(true);
      expect(old.value).toBe(previous);
      previous = protect;
    }
    const guarded = w.virtualAlloc(0n, PAGE, w.MEM_RESERVE | w.MEM_COMMIT, w.PAGE_READWRITE | w.PAGE_GUARD);
    live.push(guarded);
    new Uint8Array(w.viewMemory(guarded, PAGE))[0] = 1; // no STATUS_GUARD_PAGE_VIOLATION from JS
    expect(query(w, guarded).protect).toBe(w.PAGE_READWRITE | w.PAGE_GUARD); // nor is the flag dropped
    const addrs = new BigUint64Array(2);
    const count = { value: 2 };
    expect(w.getWriteWatch(0, b, 2 * PAGE, addrs, count, { value: 0 })).toBe(0);
    expect(count.value).toBe(0);
  });

  it('MEM_RESET and MEM_RESET_UNDO keep the contents and the written state; MEM_RESET_UNDO alone', () => {
    const b = w.virtualAlloc(0n, 4 * PAGE, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
    live.push(b);
    const u8 = new Uint8Array(w.viewMemory(b, 4 * PAGE));
    u8[PAGE] = 0x55;
    expect(w.virtualAlloc(b, 4 * PAGE, w.MEM_RESET, w.PAGE_NOACCESS)).toBe(b);
    expect(w.virtualAlloc(b, 4 * PAGE, w.MEM_RESET_UNDO, w.PAGE_NOACCESS)).toBe(b);
    expect(u8[PAGE]).toBe(0x55);
    const addrs = new BigUint64Array(4);
    const count = { value: 4 };
    expect(w.getWriteWatch(0, b, 4 * PAGE, addrs, count, { value: 0 })).toBe(0);
    expect([...addrs.subarray(0, count.value)]).toEqual([b + BigInt(PAGE)]);
    w.setLastError(0);
    expect(w.virtualAlloc(b, PAGE, w.MEM_RESET_UNDO | w.MEM_COMMIT, w.PAGE_READWRITE)).toBe(0n);
    expect(w.getLastError()).toBe(87);
    expect(w.virtualAlloc(b, PAGE, w.MEM_RESET, 0)).toBe(0n); // the ignored protection must still be valid
    expect(w.getLastError()).toBe(87);
  });
});
