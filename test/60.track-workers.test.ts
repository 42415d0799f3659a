/**
 * Worker threads and tracked memory. The page tables are the process's, so writes from any
 * thread count; a WriteWatch object is the creating thread's (its userfaultfd, scanner and sinks
 * live there), and a worker that wants answers tracks the shared memory itself. The worker that
 * uses the library imports the build (`dist/`), so run `npx tsc -p .` first (npm test does).
 */
import { expectReported, edgesOf } from './support/edges.js';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import koffi from 'koffi';
import { afterEach, expect, it } from 'vitest';
import { WriteWatch } from '../src/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

/* The shared-memory variant of test/60.track.test.ts's module (wat2wasm --enable-threads):
   (module
     (import "env" "memory" (memory 0 65536 shared))
     (func (export "store8") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
     (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
     (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))) */
const SHARED_WASM = Buffer.from(
  'AGFzbQEAAAABEQNgAn9/AGABfwF/YAN/f38AAhIBA2VudgZtZW1vcnkCAwCAgAQDBAMAAQIHGAMGc3RvcmU4AAAEZ3JvdwABBGZpbGwAAgoeAwkAIAAgAToAAAsGACAAQAALCwAgACABIAL8CwAL',
  'base64',
);
const WASM_PAGE = 65536;
const MiB = 1 << 20;
const DIST = resolve(__dirname, '../dist/index.js');

/** Runs `body` (plain JS, an async function body with `data` and `post` in scope) in a worker; resolves with its result. */
function inWorker<T>(body: string, data: unknown, onMessage?: (m: unknown, w: Worker) => void): Promise<T> {
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    const post = (m) => parentPort.postMessage({ progress: m });
    (async (data) => { ${body} })(workerData).then(
      (result) => parentPort.postMessage({ result }),
      (e) => parentPort.postMessage({ error: { message: String(e && e.stack || e), code: e && e.code } }),
    );`;
  // Settles when the thread is gone, so that whatever its exit does has happened.
  return new Promise<T>((ok, fail) => {
    const w = new Worker(src, { eval: true, workerData: data });
    let settled: { result: T } | { error: Error } | undefined;
    w.on('message', (m: { result?: T; error?: { message: string }; progress?: unknown }) => {
      if ('progress' in m) onMessage?.(m.progress, w);
      else if (m.error) settled = { error: Object.assign(new Error(m.error.message), m.error) };
      else settled = { result: m.result as T };
    });
    w.on('error', (e) => (settled = { error: e }));
    w.on('exit', (code) => {
      if (!settled) fail(new Error(`worker exited (${code}) without a result`));
      else if ('error' in settled) fail(settled.error);
      else ok(settled.result);
    });
  });
}

/** The pages of `bytes`, relative to byte 0; the address is asked of the buffer itself (koffi). */
function pagesOf(ww: WriteWatch, bytes: number[]): number[] {
  const addr = Number(koffi.address(new Uint8Array(ww.buffer)));
  expect(ww.address).toBe(BigInt(addr));
  const set = new Set(bytes.map((b) => Math.floor((addr + b) / PAGE) * PAGE - addr));
  return [...set].sort((a, b) => a - b);
}

const open: WriteWatch[] = [];
afterEach(() => {
  for (const ww of open.splice(0)) ww.close();
});

describeKernel('60 track: worker threads', () => {
  it('writes a worker makes through a SharedArrayBuffer are reported to the main thread exactly', async () => {
    const sab = new SharedArrayBuffer(4 * MiB);
    const ww = WriteWatch.track(sab);
    open.push(ww);
    const bytes = [70_000, 70_001, 1_500_000, 3 * MiB + 5, 4 * MiB - 100];
    await inWorker(
      `const u8 = new Uint8Array(data.sab); const i32 = new Int32Array(data.sab);
       for (const b of data.bytes) u8[b] = 1;
       Atomics.store(i32, data.atomicIndex, 42);`,
      { sab, bytes, atomicIndex: 2 * MiB / 4 },
    );
    expect(ww.get({ reset: true })).toEqual(pagesOf(ww, [...bytes, 2 * MiB]));
    expect(ww.get()).toEqual([]);
  });

  it('a worker running wasm on a shared WebAssembly.Memory writes and grows it: main sees exact pages, grown ones clean', async () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 64, shared: true });
    const ww = WriteWatch.track(memory, { maxByteLength: 64 * WASM_PAGE });
    open.push(ww);
    expect(ww.buffer).toBeInstanceOf(SharedArrayBuffer);
    const oldPages = await inWorker<number>(
      `const inst = new WebAssembly.Instance(new WebAssembly.Module(data.wasm), { env: { memory: data.memory } });
       inst.exports.store8(100, 1);
       const old = inst.exports.grow(10);
       // Written right after the grow, before the main thread could notice it.
       inst.exports.store8(11 * 65536 + 7, 1);
       inst.exports.fill(5 * 65536, 3, 2 * data.page);
       return old;`,
      { memory, wasm: SHARED_WASM, page: PAGE },
    );
    expect(oldPages).toBe(2);
    expect(ww.byteLength).toBe(12 * WASM_PAGE);
    expect(ww.buffer.byteLength).toBe(12 * WASM_PAGE);
    expect(ww.get({ reset: true })).toEqual(pagesOf(ww, [100, 5 * WASM_PAGE, 5 * WASM_PAGE + PAGE, 11 * WASM_PAGE + 7]));
    expect(ww.get()).toEqual([]);
  });

  it('a growable SharedArrayBuffer grown and written by a worker: main follows the grow and sees exact pages, grown ones clean', async () => {
    const sab = new SharedArrayBuffer(4 * PAGE, { maxByteLength: 8 * MiB });
    const ww = WriteWatch.track(sab);
    open.push(ww);
    const at = [5 * MiB + 3, 7 * MiB + PAGE + 1];
    const grown = await inWorker<number>(
      `data.sab.grow(data.length);
       const u8 = new Uint8Array(data.sab);
       for (const b of data.at) u8[b] = 1;     // written right after the grow, before main could notice
       return data.sab.byteLength;`,
      { sab, length: 8 * MiB - PAGE, at },
    );
    expect(grown).toBe(8 * MiB - PAGE);
    expect(sab.byteLength).toBe(8 * MiB - PAGE);
    expect(ww.byteLength).toBe(8 * MiB - PAGE);
    expect(ww.get({ reset: true })).toEqual(pagesOf(ww, at));
    expect(ww.get()).toEqual([]);
  });

  it('a worker can write through a view it builds from .address (koffi.view)', async () => {
    const sab = new SharedArrayBuffer(2 * MiB);
    const ww = WriteWatch.track(sab);
    open.push(ww);
    const addr = Number(ww.address);
    const first = Math.ceil(addr / PAGE) * PAGE - addr;
    await inWorker(
      `const koffi = require(data.koffi);
       const u8 = new Uint8Array(koffi.view(data.address, data.length));
       u8[data.at] = 9;`,
      { koffi: require.resolve('koffi'), address: ww.address, length: sab.byteLength, at: first + 5 * PAGE },
    );
    expect(new Uint8Array(sab)[first + 5 * PAGE]).toBe(9);
    expectReported(ww.get(), [first + 5 * PAGE], edgesOf(addr, ww.tracked, PAGE));
  });

  it('a WriteWatch belongs to its thread: a worker tracks the shared memory itself and sees the main thread\'s writes', async () => {
    expect(existsSync(DIST), 'build first: npx tsc -p .').toBe(true);
    // Posting a WriteWatch does not carry it over: its state is private to the thread that made it,
    // and structured clone refuses it (DataCloneError) rather than deliver an empty object.
    const local = WriteWatch.track(new ArrayBuffer(MiB));
    open.push(local);
    expect(() => structuredClone(local)).toThrow(expect.objectContaining({ name: 'DataCloneError' }));
    const { port1, port2 } = new MessageChannel();
    expect(() => port1.postMessage(local)).toThrow(expect.objectContaining({ name: 'DataCloneError' }));
    port1.close();
    port2.close();
    local.close();

    const sab = new SharedArrayBuffer(2 * MiB);
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const done = inWorker<{ pages: number[]; address: string }>(
      `const { WriteWatch } = await import(data.dist);
       const ww = WriteWatch.track(data.sab);
       Atomics.store(data.flag, 0, 1); Atomics.notify(data.flag, 0);   // tracking: main may write
       Atomics.wait(data.flag, 0, 1);                                     // main wrote
       const pages = ww.get({ reset: true });
       ww.close();
       return { pages, address: String(ww.address) };`,
      { dist: pathToFileURL(DIST).href, sab, flag },
    );
    expect(Atomics.wait(flag, 0, 0, 600_000)).not.toBe('timed-out');
    // The registration is the process's: the main thread cannot track the same pages meanwhile.
    expect(() => WriteWatch.track(sab)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const u8 = new Uint8Array(sab);
    const bytes = [300_000, 300_001, 1_000_000, 1_500_000];
    for (const b of bytes) u8[b] = 1;
    Atomics.store(flag, 0, 2);
    Atomics.notify(flag, 0);
    const { pages, address } = await done;
    const addr = Number(koffi.address(new Uint8Array(sab))); // the memory's address, from the memory
    expect(Number(address)).toBe(addr);
    const want = [...new Set(bytes.map((b) => Math.floor((addr + b) / PAGE) * PAGE - addr))].sort((a, b) => a - b);
    expectReported(pages, want, edgesOf(addr, { offset: 0, length: sab.byteLength }, PAGE));
    // The worker closed its WriteWatch: the pages are free to be tracked here now.
    const mine = WriteWatch.track(sab);
    open.push(mine);
    expect(mine.get()).toEqual([]);
  });
  it('a worker that exits without close() does not leave the memory registered (its exit closes the userfaultfd)', async () => {
    expect(existsSync(DIST), 'build first: npx tsc -p .').toBe(true);
    const sab = new SharedArrayBuffer(MiB);
    await inWorker(
      `const { WriteWatch } = await import(data.dist);
       globalThis.leaked = WriteWatch.track(data.sab);   // never closed
       new Uint8Array(data.sab)[200000] = 1;
       return globalThis.leaked.get().length;`,
      { dist: pathToFileURL(DIST).href, sab },
    );
    const ww = WriteWatch.track(sab);
    open.push(ww);
    expect(ww.get()).toEqual([]);
  });
});
