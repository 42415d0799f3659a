/**
 * The compare mechanism under the ownership protocol (issue 18): the three holes an outside review
 * found, each failing before the protocol served compare too, each with a negative control.
 * 1. Memory unmapped behind the library's back and mapped again by another owner is never written
 *    to or unmapped by close(), nor by the garbage collector after the WriteWatch was dropped.
 * 2. Tracking memory a compare allocation holds fails as it does under write-protect (EBUSY), and
 *    the allocation keeps working and is unmapped at its close.
 * 3. A worker that compare-tracks a populated buffer and is stopped with terminate() leaves no
 *    shadow: the next thread to claim anything unmaps it.
 * Oracles are the kernel's: /proc/self/smaps and msync, never the library's state.
 */
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import koffi from 'koffi';
import { describe, expect, it } from 'vitest';
import { WriteWatch } from '../src/index.js';
import { MAP_ANONYMOUS, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/sys/libc/abi.js';
import { libc } from '../src/sys/libc/libc.js';
import { kernel, PAGE } from './support/kernel.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const DIST = join(import.meta.dirname, '..', 'dist', 'index.js');

/** Whether every page of [address, address + length) is mapped, as msync tells (it fails with ENOMEM on a hole). */
const mapped = (address: bigint, length: number) => libc().msync(address, length, 0) === 0;

/** GC, then let FinalizationRegistry callbacks run (they run in later tasks), a bounded number of rounds. */
async function collect(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

function pattern(address: bigint, length: number, seed: number): boolean {
  const u8 = new Uint8Array(koffi.view(address, length));
  for (let i = 0; i < length; i += 997) if (u8[i] !== ((i * 7 + seed) & 0xff)) return false;
  return true;
}

function fill(address: bigint, length: number, seed: number): void {
  const u8 = new Uint8Array(koffi.view(address, length));
  for (let i = 0; i < length; i += 997) u8[i] = (i * 7 + seed) & 0xff;
}

/** Unmaps [address, +length) and maps fresh memory of someone else's exactly there (as a newcomer would get it). */
function replaceBehindTheBack(address: bigint, length: number): void {
  expect(libc().munmap(address, length)).toBe(0);
  const p = libc().mmap(address, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  expect(p).toBe(address);
}

describe.skipIf(process.platform !== 'linux')('12 compare: ownership and lifetime as under write-protect', () => {
  const LEN = 16 * PAGE;

  it('case 1: close() leaves memory that was unmapped and mapped again by someone else alone', async () => {
    const ww = WriteWatch.allocate(LEN, { mechanism: 'compare' });
    const address = ww.address;
    let view: Uint8Array | null = new Uint8Array(ww.buffer);
    view[0] = 1;
    replaceBehindTheBack(address, LEN);
    fill(address, LEN, 3);
    ww.close();
    expect(pattern(address, LEN, 3)).toBe(true); // not zero-filled by a placeholder
    view = null;
    await collect();
    expect(mapped(address, LEN)).toBe(true); // not unmapped when the old views were collected
    expect(pattern(address, LEN, 3)).toBe(true);
    libc().munmap(address, LEN);
  });

  it('case 1, dropped without close(): the garbage collector leaves the newcomer alone too', async () => {
    let ww: WriteWatch | null = WriteWatch.allocate(LEN, { mechanism: 'compare' });
    const address = ww.address;
    new Uint8Array(ww.buffer)[5] = 1;
    replaceBehindTheBack(address, LEN);
    fill(address, LEN, 5);
    ww = null;
    await collect();
    expect(mapped(address, LEN)).toBe(true);
    expect(pattern(address, LEN, 5)).toBe(true);
    libc().munmap(address, LEN);
  });

  it('negative control for case 1: memory still its own is unmapped by close() once its views are gone (the check tells them apart)', async () => {
    const ww = WriteWatch.allocate(LEN, { mechanism: 'compare' });
    const address = ww.address;
    let view: Uint8Array | null = new Uint8Array(ww.buffer);
    view[0] = 1;
    ww.close();
    view = null;
    await collect();
    expect(mapped(address, LEN)).toBe(false);
  });

  /** Tries to track what `a` holds under each mechanism; the codes, and nothing else kept. */
  function refusals(a: WriteWatch): { mechanism: string; code: unknown; cause: unknown }[] {
    return (['write-protect', 'compare'] as const).map((mechanism) => {
      try {
        WriteWatch.track(a.buffer, { mechanism }).close();
        return { mechanism, code: 'none', cause: 'none' };
      } catch (e) {
        return { mechanism, code: (e as { code?: unknown }).code, cause: (e as { cause?: { code?: unknown } }).cause?.code };
      }
    });
  }

  it('case 2: tracking what a compare allocation holds is refused under both mechanisms (EBUSY); the allocation keeps working', async () => {
    const a = WriteWatch.allocate(LEN, { mechanism: 'compare' });
    const address = a.address;
    expect(refusals(a)).toEqual([
      // Where the kernel has no async write-protect, that mechanism cannot track anything at all.
      kernel.supported
        ? { mechanism: 'write-protect', code: 'ERR_INVALID_ARG_VALUE', cause: 'EBUSY' }
        : { mechanism: 'write-protect', code: 'ERR_WRITEWATCH_UNSUPPORTED', cause: expect.anything() },
      { mechanism: 'compare', code: 'ERR_INVALID_ARG_VALUE', cause: 'EBUSY' },
    ]);
    new Uint8Array(a.buffer)[3 * PAGE] = 1;
    expect(a.get()).toEqual([3 * PAGE]); // not ERR_WRITEWATCH_LOST: nothing happened to its memory
    a.close();
    await collect();
    expect(mapped(address, LEN)).toBe(false); // unmapped at its close, as allocate()d memory is
  });

  it('negative control for case 2: once the allocation is closed, the same memory can be tracked again (the refusal was the claim)', () => {
    const sab = new SharedArrayBuffer(LEN, { maxByteLength: LEN }); // page-aligned: no neighbour shares a page
    const first = WriteWatch.track(sab, { mechanism: 'compare' });
    expect(() => WriteWatch.track(sab, { mechanism: 'compare' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    first.close();
    const again = WriteWatch.track(sab, { mechanism: 'compare' });
    new Uint8Array(sab)[PAGE] = 9;
    expect(again.get()).toEqual([PAGE]);
    again.close();
  });

  /**
   * Bytes of the mappings of at least `min` bytes that only a compare shadow has: read-write,
   * MAP_NORESERVE ("nr") and no huge pages ("nh") in smaps, which compare has mapped its shadows
   * with from the start (so the oracle read the code before the fix the same way).
   */
  const noreserveBytes = (min: number) => {
    let total = 0;
    for (const entry of readFileSync('/proc/self/smaps', 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
      const [range, perms] = entry.split(' ');
      const [s, e] = range.split('-').map((x) => parseInt(x, 16));
      const flags = /VmFlags:(.*)/.exec(entry)?.[1] ?? '';
      if (perms === 'rw-p' && e - s >= min && / nr\b/.test(flags) && / nh\b/.test(flags)) total += e - s;
    }
    return total;
  };

  it('case 3: a worker stopped with terminate() while compare-tracking a populated 16 MiB buffer leaves no shadow once another thread claims', async () => {
    const SIZE = 16 * 2 ** 20;
    const before = noreserveBytes(SIZE);
    const sab = new SharedArrayBuffer(SIZE, { maxByteLength: SIZE });
    new Uint8Array(sab).fill(7); // populated: the shadow copies it
    const ready = new Int32Array(new SharedArrayBuffer(4));
    const w = new Worker(
      `const { workerData } = require('node:worker_threads');
       import(workerData.dist).then(({ WriteWatch }) => {
         globalThis.ww = WriteWatch.track(workerData.sab, { mechanism: 'compare' });
         Atomics.store(workerData.ready, 0, 1); Atomics.notify(workerData.ready, 0);
         for (;;) {} // busy in JS: terminate() runs no handler of this thread
       });`,
      { eval: true, workerData: { dist: pathToFileURL(DIST).href, sab, ready } },
    );
    while (Atomics.load(ready, 0) === 0) await new Promise((r) => setTimeout(r, 10));
    expect(noreserveBytes(SIZE) - before).toBeGreaterThanOrEqual(SIZE); // the worker's shadow
    await w.terminate();
    // Negative control: terminate() alone unmaps nothing; the oracle still sees the shadow.
    expect(noreserveBytes(SIZE) - before).toBeGreaterThanOrEqual(SIZE);
    // The next claim of this thread reaps the ended thread: once its task is gone from /proc.
    let rounds = 0;
    while (noreserveBytes(SIZE) - before >= SIZE && rounds++ < 200) {
      WriteWatch.allocate(PAGE, { mechanism: 'compare' }).close();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(noreserveBytes(SIZE) - before).toBe(0);
  });
});

it('off Linux these cases check nothing (the registry, smaps and munmap are Linux\'s): this file is skipped there', () => {
  expect(process.platform === 'linux' || process.platform === 'win32').toBe(true);
});
