/**
 * A guest address space over shared memory is one table for every thread that has the memory
 * (issue 20, item 6): a worker's AddressSpace over the same shared WebAssembly.Memory sees, watches,
 * resets, protects and releases the main thread's guest allocations and the other way round, with
 * guest writes from both threads. The worker imports the build (`dist/`).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { expect, it } from 'vitest';
import * as w from '../src/win32/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

const dist = resolve(__dirname, '../dist/win32/index.js');
const WATCH = w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH;
const BASE = 0x10000n;

function pagesOf(space: w.AddressSpace, base: bigint, size: number, flags = 0): number[] {
  const addrs = new BigUint64Array(size / PAGE);
  const count = { value: addrs.length };
  expect(space.getWriteWatch(flags, base, size, addrs, count, { value: 0 })).toBe(0);
  return [...addrs.subarray(0, count.value)].map((a) => Number((a - base) / BigInt(PAGE)));
}

describeKernel('win32: a guest space over shared memory is every thread\'s', () => {
  it('a worker and the main thread use each other\'s guest allocations in one shared WebAssembly.Memory', async () => {
    expect(existsSync(dist), 'build first: npm run build').toBe(true);
    const memory = new WebAssembly.Memory({ initial: 32, maximum: 64, shared: true });
    const space = new w.AddressSpace(memory, { base: BASE });
    const g = space.virtualAlloc(0n, 16 * PAGE, WATCH, w.PAGE_READWRITE);
    expect(g).toBe(BASE);
    const u8 = new Uint8Array(memory.buffer);
    u8[Number(g - BASE) + 2 * PAGE] = 1; // the main thread's guest write
    const result = await new Promise<Record<string, unknown>>((ok, fail) => {
      const worker = new Worker(
        `const { workerData: data, parentPort } = require('node:worker_threads');
         (async () => {
           const w = await import(data.dist);
           const space = new w.AddressSpace(data.memory, { base: data.base });
           const info = {};
           space.virtualQuery(data.g, info);
           const u8 = new Uint8Array(data.memory.buffer);
           u8[Number(data.g - data.base) + 5 * data.page] = 1; // the worker's guest write
           const addrs = new BigUint64Array(16), count = { value: 16 };
           const got = space.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, data.g, 16 * data.page, addrs, count, { value: 0 });
           const seen = [...addrs.subarray(0, count.value)].map((a) => Number((a - data.g) / BigInt(data.page)));
           const old = { value: 0 };
           const protectedG = space.virtualProtect(data.g, data.page, w.PAGE_READONLY, old);
           const h = space.virtualAlloc(0n, 4 * data.page, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
           u8[Number(h - data.base) + data.page] = 1;
           space.close(); // the table stays: the main thread's space still holds it
           return { state: info.state, allocationBase: info.allocationBase, got, seen, protectedG, old: old.value, h };
         })().then((r) => parentPort.postMessage(r), (e) => parentPort.postMessage({ error: String(e && e.stack || e) }));`,
        { eval: true, workerData: { dist, memory, base: BASE, g, page: PAGE } },
      );
      worker.once('message', ok);
      worker.once('error', fail);
    });
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ state: w.MEM_COMMIT, allocationBase: g, got: 0, seen: [2, 5], protectedG: true, old: w.PAGE_READWRITE });
    const h = result.h as bigint;
    // Placed after g's 16 pages, at the next 64 KiB boundary, in the one table.
    expect(h).toBe(BASE + ((BigInt(16 * PAGE) + 0xffffn) & ~0xffffn));
    // The worker's reset and protection are this thread's to see; its allocation too.
    expect(pagesOf(space, g, 16 * PAGE)).toEqual([]);
    const info = {} as w.MemoryBasicInformation;
    expect(space.virtualQuery(g, info)).toBe(48);
    expect([info.protect, info.regionSize]).toEqual([w.PAGE_READONLY, PAGE]);
    expect(pagesOf(space, h, 4 * PAGE, w.WRITE_WATCH_FLAG_RESET)).toEqual([1]);
    expect(space.virtualFree(h, 0, w.MEM_RELEASE)).toBe(true);
    expect(space.virtualFree(g, 0, w.MEM_RELEASE)).toBe(true);
    space.close();
    // Another space over the same memory, later: a fresh table (the last space let it go).
    const again = new w.AddressSpace(memory, { base: BASE });
    expect(again.virtualAlloc(0n, PAGE, WATCH, w.PAGE_READWRITE)).toBe(BASE);
    again.close();
  });

  it('spaces over different memories, or over memory that is not shared, keep tables of their own', () => {
    const a = new w.AddressSpace(new WebAssembly.Memory({ initial: 4 }));
    const b = new w.AddressSpace(new WebAssembly.Memory({ initial: 4 }));
    expect(a.virtualAlloc(0n, PAGE, WATCH, w.PAGE_READWRITE)).toBe(BASE);
    expect(b.virtualAlloc(0n, PAGE, WATCH, w.PAGE_READWRITE)).toBe(BASE); // not a's: b's table is its own
    const info = {} as w.MemoryBasicInformation;
    b.virtualQuery(BASE + 0x10000n, info);
    expect(info.state).toBe(w.MEM_FREE);
    a.close();
    b.close();
  });
});
