/**
 * src/sys/kernel32/raw.ts and system.ts against the real kernel32 (win32: Wine 8 with node.exe in CI,
 * npm run test:windows): the layouts read back what Windows wrote, the last error survives koffi,
 * and GetWriteWatch / ResetWriteWatch answer test_write_watch's Windows assertions. Elsewhere:
 * kernel32() refuses, naming the platform, without loading anything.
 */
import koffi from 'koffi';
import { describe, expect, it } from 'vitest';
import * as k from '../src/sys/kernel32/index.js';

const P = 4096;
const onWindows = process.platform === 'win32';

if (!onWindows) {
  describe(`20 kernel32 bindings on ${process.platform}`, () => {
    it('kernel32() throws ERR_WRITEWATCH_UNSUPPORTED naming the platform, and loads nothing', () => {
      expect(() => k.kernel32()).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_UNSUPPORTED', message: expect.stringContaining(process.platform) }));
      expect(k.kernel32Loaded()).toBe(false);
      expect(() => k.systemInfo()).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_UNSUPPORTED' }));
    });
  });
}

if (onWindows) {
  describe('20 kernel32 bindings on Windows (real kernel32)', () => {
    const alloc = (pages: number, type = k.MEM_RESERVE | k.MEM_COMMIT | k.MEM_WRITE_WATCH) => {
      const p = k.kernel32().VirtualAlloc(null, pages * P, type, k.PAGE_READWRITE);
      expect(p, `VirtualAlloc: ${k.kernel32().GetLastError()}`).not.toBeNull();
      return Number(p);
    };
    const free = (a: number) => expect(k.kernel32().VirtualFree(a, 0, k.MEM_RELEASE)).not.toBe(0);
    const addrs = new BigUint64Array(64);
    const count = new BigUint64Array(1);
    const gran = new Uint32Array(1);
    /** GetWriteWatch's pages as indexes from `base`, or the last error as a negative number. */
    const get = (flags: number, base: number, size: number, cap = 64): number[] | number => {
      count[0] = BigInt(cap);
      gran[0] = 0;
      if (k.kernel32().GetWriteWatch(flags, base, size, addrs, count, gran) !== 0) return -k.kernel32().GetLastError();
      expect(gran[0]).toBe(P);
      return Array.from(addrs.subarray(0, Number(count[0])), (a) => (Number(a) - base) / P);
    };

    it('GetSystemInfo: 4 KiB pages, 64 KiB allocation granularity, a user address range', () => {
      const s = k.systemInfo();
      expect(s.pageSize).toBe(P);
      expect(s.allocationGranularity).toBe(0x10000);
      expect(s.minimumApplicationAddress).toBe(0x10000);
      expect(s.maximumApplicationAddress).toBeGreaterThan(2 ** 40);
    });

    it('RtlGetVersion says Windows 10 (the prefix), wine_get_version which Wine', () => {
      const v = k.windowsVersion();
      expect([v.major, v.minor]).toEqual([10, 0]);
      expect(v.build).toBeGreaterThan(10000);
      if (v.wine !== null) expect(v.wine).toMatch(/^\d+\.\d+/);
      expect(v.text).toBe(`Windows 10.0.${v.build}${v.wine ? ` (Wine ${v.wine})` : ''}`);
    });

    it('VirtualQuery fills MEMORY_BASIC_INFORMATION as abi.ts lays it out', () => {
      const base = alloc(4);
      try {
        const buf = new ArrayBuffer(k.MEMORY_BASIC_INFORMATION_SIZE);
        const dv = new DataView(buf);
        expect(k.kernel32().VirtualQuery(base + P, buf, buf.byteLength)).toBe(k.MEMORY_BASIC_INFORMATION_SIZE);
        const M = k.MEMORY_BASIC_INFORMATION;
        expect(Number(dv.getBigUint64(M.BaseAddress, true))).toBe(base + P);
        expect(Number(dv.getBigUint64(M.AllocationBase, true))).toBe(base);
        expect(dv.getUint32(M.AllocationProtect, true)).toBe(k.PAGE_READWRITE);
        expect(Number(dv.getBigUint64(M.RegionSize, true))).toBe(3 * P);
        expect(dv.getUint32(M.State, true)).toBe(k.MEM_COMMIT);
        expect(dv.getUint32(M.Protect, true)).toBe(k.PAGE_READWRITE);
        expect(dv.getUint32(M.Type, true)).toBe(k.MEM_PRIVATE);
      } finally {
        free(base);
      }
    });

    it('VirtualProtect reports the old protection; it is not a write', () => {
      const base = alloc(4);
      try {
        const old = new Uint32Array(1);
        expect(k.kernel32().VirtualProtect(base, P, k.PAGE_READONLY, old)).not.toBe(0);
        expect(old[0]).toBe(k.PAGE_READWRITE);
        expect(k.kernel32().VirtualProtect(base, P, k.PAGE_READWRITE, old)).not.toBe(0);
        expect(old[0]).toBe(k.PAGE_READONLY);
        expect(get(0, base, 4 * P)).toEqual([]);
      } finally {
        free(base);
      }
    });

    it('the last error survives successful calls through koffi, as on Windows', () => {
      const kk = k.kernel32();
      kk.SetLastError(0xdeadbeef);
      k.systemInfo();
      const base = alloc(1);
      expect(kk.GetLastError()).toBe(0xdeadbeef);
      expect(kk.ResetWriteWatch(base, P)).toBe(0);
      expect(kk.GetLastError()).toBe(0xdeadbeef); // ResetWriteWatch succeeded without touching it
      free(base);
      expect(kk.VirtualFree(base, 0, k.MEM_RELEASE)).toBe(0);
      expect(kk.GetLastError()).toBe(k.ERROR_INVALID_PARAMETER);
      expect(k.lastWin32Error('VirtualFree')).toMatchObject({ code: 'ERROR_INVALID_PARAMETER', errno: 87, syscall: 'VirtualFree' });
    });

    it("test_write_watch: fresh is clean; 5, 1, 9 read ascending; a cap with reset leaves the rest; ResetWriteWatch", () => {
      const base = alloc(16);
      try {
        const u8 = new Uint8Array(koffi.view(BigInt(base), 16 * P));
        expect(get(0, base, 16 * P)).toEqual([]);
        for (const p of [5, 1, 9]) u8[p * P] = 1;
        expect(get(0, base, 16 * P)).toEqual([1, 5, 9]);
        expect(get(k.WRITE_WATCH_FLAG_RESET, base, 16 * P, 2)).toEqual([1, 5]);
        expect(get(0, base, 16 * P)).toEqual([9]);
        expect(k.kernel32().ResetWriteWatch(base, 16 * P)).toBe(0);
        expect(get(0, base, 16 * P)).toEqual([]);
        // A 4-byte store straddling two pages dirties both.
        new DataView(u8.buffer).setUint32(3 * P - 2, 0xffffffff, true);
        expect(get(k.WRITE_WATCH_FLAG_RESET, base, 16 * P)).toEqual([2, 3]);
      } finally {
        free(base);
      }
    });

    it('test_write_watch: the parameter errors (count 0, NULLs, bad flags, size 0, out of range, freed)', () => {
      const kk = k.kernel32();
      const base = alloc(16);
      const fail = (f: () => number, code: number) => {
        kk.SetLastError(0xdeadbeef);
        expect(f()).toBe(k.WRITE_WATCH_FAILED);
        expect(kk.GetLastError()).toBe(code);
      };
      count[0] = 0n;
      fail(() => kk.GetWriteWatch(0, base, P, addrs, count, gran), 87);
      count[0] = 1n;
      fail(() => kk.GetWriteWatch(0, base, P, addrs, null, gran), 998);
      fail(() => kk.GetWriteWatch(0, base, P, addrs, count, null), 998);
      fail(() => kk.GetWriteWatch(0, base, P, null, count, gran), 998);
      fail(() => kk.GetWriteWatch(0xdeadbeef, base, P, addrs, count, gran), 87);
      fail(() => kk.GetWriteWatch(0, base, 0, addrs, count, gran), 87);
      fail(() => kk.GetWriteWatch(0, base, 16 * P + 1, addrs, count, gran), 87);
      fail(() => kk.GetWriteWatch(0, base + 16 * P, P, addrs, count, gran), 87);
      fail(() => kk.ResetWriteWatch(base, 0), 87);
      expect(get(0, base + 15 * P, P)).toEqual([]); // a sub-range ending at the end is fine
      free(base);
      fail(() => kk.GetWriteWatch(0, base, P, addrs, count, gran), 87);
      // Memory without MEM_WRITE_WATCH is not watched.
      const plain = alloc(1, k.MEM_RESERVE | k.MEM_COMMIT);
      fail(() => kk.ResetWriteWatch(plain, P), 87);
      free(plain);
    });

    it('MEM_WRITE_WATCH without MEM_RESERVE: Windows refuses it (87); Wine 8 allocates (a known deviation)', () => {
      const kk = k.kernel32();
      const p = kk.VirtualAlloc(null, P, k.MEM_COMMIT | k.MEM_WRITE_WATCH, k.PAGE_READWRITE);
      if (k.windowsVersion().wine === null) {
        expect(p).toBeNull();
        expect(kk.GetLastError()).toBe(87);
      } else {
        // Wine's test_write_watch expects NULL/87 too; Wine 8.0 answers with memory. The mechanism
        // always passes MEM_RESERVE, so nothing depends on this.
        expect(p).not.toBeNull();
        free(Number(p));
      }
    });
  });
}
