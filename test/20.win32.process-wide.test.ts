/**
 * Allocations are the process's (issue 20, item 1): a worker gets, resets, protects and releases
 * the main thread's allocations and the main thread the worker's, with writes from both threads and
 * collections in both at once; an allocation outlives the thread that made it; the last error
 * stays per thread. The worker imports the build (`dist/`).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { expect, it } from 'vitest';
import * as w from '../src/win32/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

const P = BigInt(PAGE);
const PAGES = 256;
const WATCH = w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH;
const dist = resolve(__dirname, '../dist/win32/index.js');

/**
 * The body both threads run, as source (the worker gets it through eval): writes `mine` pages of
 * both allocations once each, and every 8 writes collects both with WRITE_WATCH_FLAG_RESET and a
 * cap of 16 (partial resets), adding each page reported to the shared counters. `allocs[i]` are
 * the allocations' bases.
 */
const BODY = `
  function collect(w, allocs, reported, pages, cap) {
    const addrs = new BigUint64Array(cap);
    for (let a = 0; a < allocs.length; a++) {
      for (;;) {
        const count = { value: cap };
        if (w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, allocs[a], pages * data.page, addrs, count, { value: 0 }) !== 0) {
          throw new Error('GetWriteWatch failed: ' + w.getLastError());
        }
        for (let i = 0; i < count.value; i++) Atomics.add(reported, a * pages + Number((addrs[i] - allocs[a]) / BigInt(data.page)), 1);
        if (count.value < cap) break;
      }
    }
  }
  function writeAndCollect(w, allocs, reported, pages, mine) {
    const views = allocs.map((b) => new Uint8Array(w.viewMemory(b, pages * data.page)));
    let n = 0;
    for (const p of mine) {
      for (const v of views) v[p * data.page + (p % 64)] = 1;
      if (++n % 8 === 0) collect(w, allocs, reported, pages, 16);
    }
  }
`;

function waitFor(ctrl: Int32Array, i: number, value: number): void {
  for (let k = 0; Atomics.load(ctrl, i) < value; k++) {
    if (k > 100000) throw new Error(`waited too long for step ${value}`);
    Atomics.wait(ctrl, i, Atomics.load(ctrl, i), 50);
  }
}

describeKernel('win32: allocations are the process\'s', () => {
  it('a worker and the main thread get, reset, protect and release each other\'s allocations; no write is lost', async () => {
    expect(existsSync(dist), 'build first: npm run build').toBe(true);
    const A = w.virtualAlloc(0n, PAGES * PAGE, WATCH, w.PAGE_READWRITE);
    expect(A).not.toBe(0n);
    const ctrl = new Int32Array(new SharedArrayBuffer(16)); // [0] step, [1] writers done
    const bases = new BigInt64Array(new SharedArrayBuffer(16)); // [1] = B
    const reported = new Int32Array(new SharedArrayBuffer(2 * PAGES * 4));
    // Pages 4k: main writes; 4k + 2: the worker; odd pages: nobody (and must never be reported).
    const mainPages = Array.from({ length: PAGES / 4 }, (_, k) => 4 * k);
    const workerPages = Array.from({ length: PAGES / 4 }, (_, k) => 4 * k + 2);
    const src = `
      const { workerData: data, parentPort } = require('node:worker_threads');
      ${BODY}
      const wait = (i, v) => { while (Atomics.load(data.ctrl, i) < v) Atomics.wait(data.ctrl, i, Atomics.load(data.ctrl, i), 50); };
      (async () => {
        const w = await import(data.dist);
        const B = w.virtualAlloc(0n, data.pages * data.page, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
        if (B === 0n) throw new Error('virtualAlloc: ' + w.getLastError());
        data.bases[1] = B;
        Atomics.store(data.ctrl, 0, 1); Atomics.notify(data.ctrl, 0);
        writeAndCollect(w, [data.A, B], data.reported, data.pages, data.mine);
        Atomics.add(data.ctrl, 1, 1); Atomics.notify(data.ctrl, 1);
        wait(0, 2);
        // Step 2: protect the main thread's allocation, reset the page the main thread wrote in B.
        const old = { value: 0 };
        const protectedA = w.virtualProtect(data.A, 4 * data.page, w.PAGE_READONLY, old);
        const resetB = w.resetWriteWatch(B, data.pages * data.page);
        w.setLastError(1234); // the main thread's last error must not see it
        Atomics.store(data.ctrl, 0, 3); Atomics.notify(data.ctrl, 0);
        wait(0, 4);
        // Step 4: see the main thread's protection of B, release the main thread's allocation.
        const info = {};
        w.virtualQuery(B, info);
        const releasedA = w.virtualFree(data.A, 0, w.MEM_RELEASE);
        return { protectedA, oldA: old.value, resetB, bProtect: info.protect, bRegion: info.regionSize, releasedA, lastError: w.getLastError() };
      })().then((result) => parentPort.postMessage({ result }), (e) => parentPort.postMessage({ error: String((e && e.stack) || e) }));`;
    const worker = new Worker(src, {
      eval: true,
      workerData: { dist, A, ctrl, bases, reported, pages: PAGES, page: PAGE, mine: workerPages },
    });
    const message = new Promise<{ result?: Record<string, unknown>; error?: string }>((ok, fail) => {
      worker.once('message', ok);
      worker.once('error', fail);
    });
    const exited = new Promise<number>((ok) => worker.once('exit', ok));
    waitFor(ctrl, 0, 1);
    const B = bases[1];
    const run = new Function('data', `${BODY}; return { collect, writeAndCollect };`)({ page: PAGE }) as {
      collect: (w: unknown, allocs: bigint[], reported: Int32Array, pages: number, cap: number) => void;
      writeAndCollect: (w: unknown, allocs: bigint[], reported: Int32Array, pages: number, mine: number[]) => void;
    };
    run.writeAndCollect(w, [A, B], reported, PAGES, mainPages);
    Atomics.add(ctrl, 1, 1);
    waitFor(ctrl, 1, 2);
    run.collect(w, [A, B], reported, PAGES, 16); // what is left after both writers stopped
    for (let a = 0; a < 2; a++) {
      for (let p = 0; p < PAGES; p++) {
        const n = reported[a * PAGES + p];
        // Written pages: reported at least once (an async write-protect fault retried after a
        // racing reset may report a page twice: conservative); never-written pages: never.
        if (p % 2 === 0) expect(n, `allocation ${a} page ${p} written once`).toBeGreaterThanOrEqual(1);
        else expect(n, `allocation ${a} page ${p} never written`).toBe(0);
      }
    }

    new Uint8Array(w.viewMemory(B, PAGES * PAGE))[PAGE] = 7;
    w.setLastError(42);
    Atomics.store(ctrl, 0, 2);
    Atomics.notify(ctrl, 0);
    waitFor(ctrl, 0, 3);
    // The worker protected A's first 4 pages and reset B: both visible here.
    const info: Record<string, unknown> = {};
    expect(w.virtualQuery(A, info)).toBe(48);
    expect(info).toMatchObject({ baseAddress: A, allocationBase: A, protect: w.PAGE_READONLY, regionSize: 4 * PAGE, state: w.MEM_COMMIT });
    const addrs = new BigUint64Array(PAGES);
    const count = { value: PAGES };
    expect(w.getWriteWatch(0, B, PAGES * PAGE, addrs, count, { value: 0 })).toBe(0);
    expect(count.value).toBe(0);
    expect(w.getLastError()).toBe(42); // the worker's SetLastError(1234) is the worker's
    const old = { value: 0 };
    expect(w.virtualProtect(B, 2 * PAGE, w.PAGE_READONLY, old)).toBe(true);
    expect(old.value).toBe(w.PAGE_READWRITE);
    Atomics.store(ctrl, 0, 4);
    Atomics.notify(ctrl, 0);
    const m = await message;
    expect(m.error).toBeUndefined();
    expect(m.result).toEqual({
      protectedA: true,
      oldA: w.PAGE_READWRITE,
      resetB: 0,
      bProtect: w.PAGE_READONLY,
      bRegion: 2 * PAGE,
      releasedA: true,
      lastError: 1234,
    });
    expect(await exited).toBe(0);

    // A was released by the worker: gone for this thread too.
    w.setLastError(0);
    expect(w.getWriteWatch(0, A, PAGE, addrs, { value: 1 }, { value: 0 })).toBe(0xffffffff);
    expect(w.getLastError()).toBe(w.ERROR_INVALID_PARAMETER);
    expect(w.virtualFree(A, 0, w.MEM_RELEASE)).toBe(false);
    expect(w.getLastError()).toBe(w.ERROR_INVALID_ADDRESS);
    // B outlives the worker that made it, even once a claim by this thread has reaped the worker's
    // descriptors: still watched, still exact.
    const other = w.virtualAlloc(0n, PAGE, WATCH, w.PAGE_READWRITE);
    expect(other).not.toBe(0n);
    expect(w.virtualFree(other, 0, w.MEM_RELEASE)).toBe(true);
    new Uint8Array(w.viewMemory(B, PAGES * PAGE))[5 * PAGE] = 1;
    count.value = PAGES;
    expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, B, PAGES * PAGE, addrs, count, { value: 0 })).toBe(0);
    expect([...addrs.subarray(0, count.value)]).toEqual([B + 5n * P]);
    expect(w.virtualFree(B, 0, w.MEM_RELEASE)).toBe(true);
  });

  it('negative control: a collector that drops the pages of its partial results loses writes, and the oracle sees it', () => {
    const A = w.virtualAlloc(0n, PAGES * PAGE, WATCH, w.PAGE_READWRITE);
    expect(A).not.toBe(0n);
    const reported = new Int32Array(PAGES);
    const u8 = new Uint8Array(w.viewMemory(A, PAGES * PAGE));
    for (let p = 0; p < PAGES; p += 2) u8[p * PAGE] = 1;
    // The broken collector: resets with a cap of 16 but counts only the first 8 it got.
    const addrs = new BigUint64Array(16);
    for (;;) {
      const count = { value: 16 };
      expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, A, PAGES * PAGE, addrs, count, { value: 0 })).toBe(0);
      for (let i = 0; i < Math.min(8, count.value); i++) reported[Number((addrs[i] - A) / P)]++;
      if (count.value < 16) break;
    }
    const lost = Array.from({ length: PAGES / 2 }, (_, k) => 2 * k).filter((p) => reported[p] === 0);
    expect(lost.length).toBeGreaterThan(0);
    expect(w.virtualFree(A, 0, w.MEM_RELEASE)).toBe(true);
  });
});
