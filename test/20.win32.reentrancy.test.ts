/**
 * Issue 19, the win32 parts: user code that runs in the middle of a call (a box's getter or
 * setter, an array's element setter) and calls in again; arrays that shrink or detach under the
 * call; a viewMemory() buffer transferred before MEM_RELEASE; VirtualAlloc with the registry full.
 * Each case failed on the code before the fix (see the report of issue 20's branch).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import * as w from '../src/win32/index.js';
import { KIND, claimRange, releaseRange, SLOTS } from '../src/sys/process/registry.js';
import { uffdFds } from './support/fds.js';
import { describeKernel, PAGE } from './support/kernel.js';

const P = BigInt(PAGE);
const SIZE = 16 * PAGE;
const WATCH = w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH;
const live: bigint[] = [];
afterEach(() => {
  for (const b of live.splice(0)) w.virtualFree(b, 0, w.MEM_RELEASE);
});

function dirty(pages: number[]): bigint {
  const b = w.virtualAlloc(0n, SIZE, WATCH, w.PAGE_READWRITE);
  expect(b).not.toBe(0n);
  live.push(b);
  const u8 = new Uint8Array(w.viewMemory(b, SIZE));
  for (const p of pages) u8[p * PAGE + 3] = 1;
  return b;
}

function written(base: bigint): number[] {
  const addrs = new BigUint64Array(64);
  const count = { value: 64 };
  expect(w.getWriteWatch(0, base, SIZE, addrs, count, { value: 0 })).toBe(0);
  return [...addrs.subarray(0, count.value)].map((a) => Number((a - base) / P));
}

/** Detaches a (JS-allocated) ArrayBuffer: structuredClone's transfer works on every Node we run on. */
const detachBuffer = (b: ArrayBuffer) => void structuredClone(b, { transfer: [b] });

const rel = (base: bigint, addrs: Iterable<bigint>, n: number) => [...addrs].slice(0, n).map((a) => Number((a - base) / P));

describeKernel('win32: calls made from user code in the middle of a call (issue 19)', () => {
  it('(1) count.value getter calling GetWriteWatch(B) / ResetWriteWatch(B): the outer call answers for A', () => {
    for (const inner of ['get', 'reset'] as const) {
      const A = dirty([1, 3]);
      const B = dirty([2, 7, 9]);
      let innerResult: unknown;
      const count = {
        v: 64,
        get value() {
          if (innerResult === undefined) {
            if (inner === 'get') {
              const c = { value: 64 };
              const a = new BigUint64Array(64);
              innerResult = [w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, B, SIZE, a, c, { value: 0 }), rel(B, a, c.value)];
            } else innerResult = w.resetWriteWatch(B, SIZE);
          }
          return this.v;
        },
        set value(x: number) {
          this.v = x;
        },
      };
      const addrs = new BigUint64Array(64);
      expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, A, SIZE, addrs, count, { value: 0 })).toBe(0);
      expect([inner, rel(A, addrs, count.value)]).toEqual([inner, [1, 3]]);
      expect(innerResult).toEqual(inner === 'get' ? [0, [2, 7, 9]] : 0);
      expect(written(A)).toEqual([]); // A's pages were reset by the outer call, and only them
      expect(written(B)).toEqual([]);
    }
  });

  it('(2) a count/granularity setter or an element setter calling GetWriteWatch(B): A\'s addresses, A\'s pages kept', () => {
    for (const where of ['count', 'granularity', 'element'] as const) {
      const A = dirty([0, 4, 5]);
      const B = dirty([1, 2, 3, 6, 8, 10, 11, 12]);
      let inner: number[] | undefined;
      const callB = () => {
        if (inner) return;
        const c = { value: 64 };
        const a = new BigUint64Array(64);
        expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, B, SIZE, a, c, { value: 0 })).toBe(0);
        inner = rel(B, a, c.value);
      };
      const box = (onSet: boolean) => ({
        v: 64,
        get value() {
          return this.v;
        },
        set value(x: number) {
          this.v = x;
          if (onSet && x !== 64 && x !== 0) callB();
        },
      });
      const count = where === 'count' ? box(true) : { value: 64 };
      const gran = where === 'granularity' ? box(true) : { value: 0 };
      let addrs: BigUint64Array | bigint[];
      if (where === 'element') {
        const arr: bigint[] = new Array(64).fill(0n);
        Object.defineProperty(arr, 1, {
          get: () => 0n,
          set: () => callB(),
          configurable: true,
        });
        addrs = arr;
      } else addrs = new BigUint64Array(64);
      expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, A, SIZE, addrs, count as w.Box, gran as w.Box), where).toBe(0);
      expect(count.value).toBe(3);
      const got = where === 'element' ? [(addrs as bigint[])[0], (addrs as bigint[])[2]] : [...(addrs as BigUint64Array).subarray(0, 3)];
      expect(got.map((a) => Number((a - A) / P)), where).toEqual(where === 'element' ? [0, 5] : [0, 4, 5]);
      expect(inner, where).toEqual([1, 2, 3, 6, 8, 10, 11, 12]);
      expect(written(A), where).toEqual([]); // delivered: A's pages reset, none lost, none left over
      expect(written(B), where).toEqual([]);
    }
  });

  it('(3) a BigUint64Array the count setter shrinks to 0 or detaches: 998, and no page was reset', () => {
    for (const how of ['shrink', 'detach'] as const) {
      const A = dirty([2, 9]);
      const buf = new ArrayBuffer(64 * 8, { maxByteLength: 64 * 8 } as never) as ArrayBuffer & { resize(n: number): void; transfer(n?: number): ArrayBuffer };
      const addrs = new BigUint64Array(buf);
      const count = {
        v: 2,
        get value() {
          return this.v;
        },
        set value(x: number) {
          this.v = x;
          if (x === 2 && this.armed) {
            this.armed = false;
            if (how === 'shrink') buf.resize(0);
            else detachBuffer(buf);
          }
        },
        armed: false,
      };
      count.armed = true;
      // The probe writes the value back (2): that store shrinks the array before the call acts.
      w.setLastError(0);
      const r = w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, A, SIZE, addrs, count, { value: 0 });
      expect([how, r, w.getLastError()]).toEqual([how, 0xffffffff, w.ERROR_NOACCESS]);
      expect(written(A), how).toEqual([2, 9]);
      // Shrunk after the scan, by the store of the answer's count: also 998, nothing reset.
      const buf2 = new ArrayBuffer(64 * 8, { maxByteLength: 64 * 8 } as never) as typeof buf;
      const addrs2 = new BigUint64Array(buf2);
      let stores = 0;
      const count2 = {
        v: 64,
        get value() {
          return this.v;
        },
        set value(x: number) {
          this.v = x;
          if (++stores === 2) how === 'shrink' ? buf2.resize(0) : detachBuffer(buf2);
        },
      };
      w.setLastError(0);
      expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, A, SIZE, addrs2, count2, { value: 0 })).toBe(0xffffffff);
      expect(w.getLastError()).toBe(w.ERROR_NOACCESS);
      expect(count2.v, how).toBe(64); // put back
      expect(written(A), how).toEqual([2, 9]);
      // The detached array used again: 998 before anything is read.
      w.setLastError(0);
      expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, A, SIZE, addrs2, { value: 2 }, { value: 0 })).toBe(0xffffffff);
      expect(w.getLastError()).toBe(w.ERROR_NOACCESS);
      expect(written(A), how).toEqual([2, 9]);
    }
  });

  it('a count setter that stores the answer and then throws is put back: 998, count as it was, no page reset', () => {
    const A = dirty([3, 4]);
    const count = {
      v: 8,
      get value() {
        return this.v;
      },
      set value(x: number) {
        this.v = x;
        if (x === 2) throw new Error('stored, then refused');
      },
    };
    w.setLastError(0);
    expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, A, SIZE, new BigUint64Array(8), count, { value: 0 })).toBe(0xffffffff);
    expect(w.getLastError()).toBe(w.ERROR_NOACCESS);
    expect(count.v).toBe(8);
    expect(written(A)).toEqual([3, 4]);
  });

  it("VirtualProtect's oldProtect setter that frees the allocation and throws: 998, no crash", () => {
    const b = w.virtualAlloc(0n, SIZE, WATCH, w.PAGE_READWRITE);
    expect(b).not.toBe(0n);
    let freed: boolean | undefined;
    const old = {
      v: 0,
      get value() {
        return this.v;
      },
      set value(x: number) {
        if (x === w.PAGE_READWRITE) {
          freed = w.virtualFree(b, 0, w.MEM_RELEASE);
          throw new Error('refused');
        }
        this.v = x;
      },
    };
    w.setLastError(0);
    expect(w.virtualProtect(b, PAGE, w.PAGE_READONLY, old)).toBe(false);
    expect(w.getLastError()).toBe(w.ERROR_NOACCESS);
    expect(freed).toBe(true);
    expect(w.virtualFree(b, 0, w.MEM_RELEASE)).toBe(false); // released by the setter, once
  });

  it("VirtualProtect's oldProtect setter calling VirtualProtect / VirtualFree on the same range: no crash, a Windows answer", () => {
    const b = dirty([1]);
    let nested: unknown[] = [];
    const old = {
      v: 0,
      get value() {
        return this.v;
      },
      set value(x: number) {
        this.v = x;
        if (nested.length === 0 && x === w.PAGE_READWRITE) {
          const o = { value: 0 };
          nested = [w.virtualProtect(b, PAGE, w.PAGE_NOACCESS, o), o.value];
        }
      },
    };
    expect(w.virtualProtect(b, 2 * PAGE, w.PAGE_READONLY, old)).toBe(true);
    expect(old.v).toBe(w.PAGE_READWRITE);
    // The inner call ran after the outer one was done with the table: it sees READONLY and wins.
    expect(nested).toEqual([true, w.PAGE_READONLY]);
    const info = {} as w.MemoryBasicInformation;
    w.virtualQuery(b, info);
    expect([info.protect, info.regionSize]).toEqual([w.PAGE_NOACCESS, PAGE]);
    expect(written(b)).toEqual([1]);
  });
});

describeKernel('win32: a transferred view and MEM_RELEASE (issue 19, 8b)', () => {
  it('view.transfer() is refused; ArrayBuffer.prototype.transfer.call(view) then MEM_RELEASE does not crash', () => {
    const b = w.virtualAlloc(0n, SIZE, WATCH, w.PAGE_READWRITE);
    live.push(b);
    const view = w.viewMemory(b, SIZE) as ArrayBuffer & { transfer?: () => ArrayBuffer };
    expect(() => view.transfer!()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(view.byteLength).toBe(SIZE);
    // Node 20 has no ArrayBuffer.prototype.transfer (and structuredClone copies a koffi buffer): nothing more can alias it.
    if (typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer !== 'function') return;
    // The way around the refusal, in a child process (a crash would be SIGSEGV).
    const dist = resolve(__dirname, '../dist/win32/index.js');
    expect(existsSync(dist), 'build first: npm run build').toBe(true);
    const out = execFileSync(
      process.execPath,
      [
        '--expose-gc',
        '--input-type=module',
        '-e',
        `const w = await import(${JSON.stringify(dist)});
         const settle = async () => { for (let i = 0; i < 5; i++) { gc(); await new Promise((r) => setImmediate(r)); } };
         const b = w.virtualAlloc(0n, ${SIZE}, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
         let moved;
         (() => { moved = new Uint8Array(ArrayBuffer.prototype.transfer.call(w.viewMemory(b, ${SIZE}))); })();
         moved[5] = 1;
         await settle(); // the detached view itself is garbage now
         if (!w.virtualFree(b, 0, w.MEM_RELEASE)) throw new Error('virtualFree ' + w.getLastError());
         await settle();
         moved[5] = 2; // memory the allocation no longer owns: a placeholder, never unmapped
         const again = w.virtualAlloc(b, ${SIZE}, w.MEM_RESERVE, w.PAGE_NOACCESS);
         console.log(JSON.stringify({ read: moved[5], again: again === 0n ? w.getLastError() : 'mapped' }));`,
      ],
      { encoding: 'utf8' },
    );
    // The range stays held (487 to reserve it again) for as long as the process lives.
    expect(JSON.parse(out)).toEqual({ read: 2, again: w.ERROR_INVALID_ADDRESS });
  });
});

describeKernel('win32: VirtualAlloc with the registry full (issue 19, 10b)', () => {
  it('MEM_WRITE_WATCH returns 0n with last error 8 and leaks no descriptor, no mapping, no table record', () => {
    // The mappings a failed VirtualAlloc of 4 pages could leave: V8 maps and unmaps all the time,
    // so the count of lines proves nothing; a new line of the allocation's (or its window's) size would.
    const maps = () => new Set(readFileSync('/proc/self/maps', 'utf8').split('\n'));
    const suspicious = (before: Set<string>) =>
      [...maps()].filter((l) => {
        if (before.has(l)) return false;
        const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(l);
        const len = m ? Number(BigInt('0x' + m[2]) - BigInt('0x' + m[1])) : 0;
        return len === 4 * PAGE || len === 4 * PAGE + 0x10000;
      });
    // Warm up: the registry, the table, the pagemap fd exist before counting.
    const warm = w.virtualAlloc(0n, PAGE, WATCH, w.PAGE_READWRITE);
    expect(w.virtualFree(warm, 0, w.MEM_RELEASE)).toBe(true);
    const fds = uffdFds().size;
    const slots: number[] = [];
    try {
      // Fill every range slot with a watch nobody has (far away in the address space).
      for (;;) {
        try {
          const at = 0x6000_0000_0000 + slots.length * 0x10000;
          slots.push(claimRange(at, at + 0x1000, KIND.WATCH | KIND.PROCESS, -1, false));
        } catch (e) {
          expect((e as { code?: string }).code).toBe('ENOMEM');
          break;
        }
        if (slots.length > SLOTS) throw new Error('the registry never filled');
      }
      const before = maps();
      for (const type of [WATCH, w.MEM_RESERVE | w.MEM_COMMIT]) {
        w.setLastError(0);
        expect(w.virtualAlloc(0n, 4 * PAGE, type, w.PAGE_READWRITE)).toBe(0n);
        expect(w.getLastError()).toBe(w.ERROR_NOT_ENOUGH_MEMORY);
      }
      expect(suspicious(before)).toEqual([]);
      expect(uffdFds().size).toBe(fds);
    } finally {
      for (const s of slots) releaseRange(s);
    }
    const b = w.virtualAlloc(0n, PAGE, WATCH, w.PAGE_READWRITE); // and it works again
    expect(b).not.toBe(0n);
    expect(w.virtualFree(b, 0, w.MEM_RELEASE)).toBe(true);
  });
});
