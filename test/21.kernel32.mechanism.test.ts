/**
 * The kernel32 mechanism (src/mechanisms/kernel32) on Windows' own write watch: on win32 (CI: Wine
 * 8 with node.exe, npm run test:windows) against the real kernel32, the semantics the Linux
 * mechanism's tests pin and Windows shares. On every other platform: that it says so and never
 * loads kernel32.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import koffi from 'koffi';
import { afterEach, describe, expect, it } from 'vitest';
import type { Memory, Query, RegionSink, Tracker } from '../src/mechanisms/contract.js';
import { heldAllocations, kernel32Mechanism, TRACK_UNAVAILABLE } from '../src/mechanisms/kernel32/index.js';
import { CHUNK } from '../src/mechanisms/kernel32/scan.js';
import { CHILD_TIMEOUT } from './support/machine.js';
import {
  kernel32,
  kernel32Loaded,
  MEM_COMMIT,
  MEM_FREE,
  MEM_RELEASE,
  MEMORY_BASIC_INFORMATION,
  MEMORY_BASIC_INFORMATION_SIZE,
} from '../src/sys/kernel32/index.js';
import { windowsVersion } from '../src/sys/kernel32/system.js';

const P = 4096;
/** The exit status of a Windows process killed by an unhandled access violation. */
const STATUS_ACCESS_VIOLATION = 0xc0000005;
const onWindows = process.platform === 'win32';

function query(tracker: { memory: Memory }, opts: Partial<Omit<Query, 'bounds'>> & { from?: number; to?: number; origin?: number } = {}): Query {
  const base = tracker.memory.address;
  const start = base + (opts.from ?? 0) * P;
  const end = opts.to === undefined ? base + tracker.memory.length : base + opts.to * P;
  return {
    bounds: new Float64Array([start, end, opts.origin ?? base]),
    reset: opts.reset ?? false,
    maxPages: opts.maxPages ?? 0,
    into: opts.into === undefined ? new Float64Array(tracker.memory.length / P) : opts.into,
    sink: opts.sink ?? null,
    count: 0,
  };
}

/** Written pages of the whole allocation as page indexes. */
function pages(t: { memory: Memory; tracker: Tracker }, opts: Parameters<typeof query>[1] = {}): number[] {
  const q = query(t, opts);
  t.tracker.scan(q);
  return Array.from(q.into!.subarray(0, q.count), (o) => o / P);
}

const live: { memory: Memory; tracker: Tracker }[] = [];
/** The mechanism alone: the ownership protocol's claim is the front's business. */
const noClaim = (): void => {};

function allocate(n: number): { memory: Memory; tracker: Tracker; u8: Uint8Array } {
  const t = kernel32Mechanism.allocate(n * P, noClaim);
  live.push(t);
  return { ...t, u8: new Uint8Array(t.memory.view(0, n * P)) };
}
afterEach(() => {
  for (const t of live.splice(0)) {
    t.tracker.close();
    t.memory.release();
  }
});

/** VirtualQuery's State for the page at `address` (MEM_COMMIT, MEM_RESERVE, MEM_FREE). */
function state(address: number): number {
  const mbi = new Uint32Array(MEMORY_BASIC_INFORMATION_SIZE / 4);
  expect(kernel32().VirtualQuery(address, mbi, MEMORY_BASIC_INFORMATION_SIZE)).toBe(MEMORY_BASIC_INFORMATION_SIZE);
  return mbi[MEMORY_BASIC_INFORMATION.State / 4];
}

function gc(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

if (!onWindows) describe(`21 kernel32 mechanism on ${process.platform}`, () => {
  it('says why not, naming the platform, and loads no kernel32', () => {
    expect(kernel32Mechanism.name).toBe('write-protect');
    expect(kernel32Mechanism.unavailable()).toMatch(new RegExp(`Windows' own; this is ${process.platform}`));
    expect(() => kernel32Mechanism.allocate(P, noClaim)).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_UNSUPPORTED' }));
    expect(() => kernel32()).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_UNSUPPORTED' }));
    expect(kernel32Loaded()).toBe(false);
  });
});

if (onWindows) describe('21 kernel32 mechanism on Windows (real kernel32)', () => {
  it('is available, and track() is not, with the reason', () => {
    expect(kernel32Mechanism.unavailable()).toBeNull();
    expect(() => kernel32Mechanism.track(0, P, {})).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_UNSUPPORTED', message: TRACK_UNAVAILABLE }));
    expect(TRACK_UNAVAILABLE).toMatch(/Windows cannot add write watch to memory it did not reserve with VirtualAlloc\(MEM_WRITE_WATCH\)/);
  });

  it('a fresh allocation reads clean, on an allocation-granularity boundary', () => {
    const t = allocate(16);
    expect(t.memory.address % 0x10000).toBe(0);
    expect(t.memory.length).toBe(16 * P);
    expect(pages(t)).toEqual([]);
  });

  it('writes to pages 5, 1, 9 read back ascending, and again until reset', () => {
    const t = allocate(16);
    for (const p of [5, 1, 9]) t.u8[p * P + 7] = 1;
    expect(pages(t)).toEqual([1, 5, 9]);
    expect(pages(t)).toEqual([1, 5, 9]); // without reset nothing changed
    expect(pages(t, { reset: true })).toEqual([1, 5, 9]);
    expect(pages(t)).toEqual([]);
    expect(t.u8[5 * P + 7]).toBe(1); // reset re-arms, it does not clear
  });

  it('maxPages caps the answer, and with reset only the pages returned are re-armed', () => {
    const t = allocate(16);
    for (const p of [5, 1, 9]) t.u8[p * P] = 1;
    expect(pages(t, { maxPages: 2, reset: true })).toEqual([1, 5]);
    expect(pages(t)).toEqual([9]);
    expect(pages(t, { maxPages: 1 })).toEqual([9]);
  });

  it('reset re-arms every page of its bounds and no other', () => {
    const t = allocate(16);
    for (const p of [0, 3, 8, 15]) t.u8[p * P] = 1;
    t.tracker.reset(query(t, { from: 2, to: 9 }));
    expect(pages(t)).toEqual([0, 15]);
    t.tracker.reset(query(t));
    expect(pages(t)).toEqual([]);
  });

  it('sub-ranges report their own pages, as offsets from the origin', () => {
    const t = allocate(16);
    for (const p of [1, 4, 5, 12, 15]) t.u8[p * P] = 1;
    expect(pages(t, { from: 4, to: 13 })).toEqual([4, 5, 12]);
    expect(pages(t, { from: 4, to: 13, origin: t.memory.address + 4 * P })).toEqual([0, 1, 8]);
    expect(pages(t, { from: 15, to: 16 })).toEqual([15]); // ending exactly at the allocation's end
    expect(pages(t, { from: 4, to: 13, reset: true })).toEqual([4, 5, 12]);
    expect(pages(t)).toEqual([1, 15]);
  });

  it('runs go to the sink coalesced, ascending; with neither into nor sink only the count', () => {
    const t = allocate(16);
    for (const p of [2, 3, 4, 7, 9, 10]) t.u8[p * P] = 1;
    const runs: number[][] = [];
    const sink: RegionSink = { region: (s, e) => void runs.push([s / P, e / P]) };
    const q = query(t, { into: null, sink });
    t.tracker.scan(q);
    expect(runs).toEqual([[2, 5], [7, 8], [9, 11]]);
    expect(q.count).toBe(6);
    const c = query(t, { into: null });
    t.tracker.scan(c);
    expect(c.count).toBe(6);
  });

  it(`more written pages than one call returns (${CHUNK}): read in order, a run across the cut stays one run`, () => {
    const n = CHUNK + 3000;
    const t = allocate(n + 16);
    for (let p = 0; p < n; p++) t.u8[p * P] = 1;
    t.u8[(n + 10) * P] = 1;
    const runs: number[][] = [];
    const q = query(t, { into: null, sink: { region: (s, e) => void runs.push([s / P, e / P]) } });
    t.tracker.scan(q);
    expect(runs).toEqual([[0, n], [n + 10, n + 11]]);
    const got = pages(t, { maxPages: CHUNK + 5, reset: true });
    expect(got.length).toBe(CHUNK + 5);
    expect(got.every((p, i) => p === i)).toBe(true);
    expect(pages(t)).toEqual([...Array.from({ length: n - CHUNK - 5 }, (_, i) => CHUNK + 5 + i), n + 10]);
  });

  it('into is never written past its end, even without maxPages', () => {
    const t = allocate(16);
    for (const p of [1, 2, 3, 4]) t.u8[p * P] = 1;
    const q = query(t, { into: new Float64Array(2), reset: true });
    t.tracker.scan(q);
    expect(Array.from(q.into!, (o) => o / P)).toEqual([1, 2]);
    expect(pages(t)).toEqual([3, 4]);
  });

  it('release with no view reachable frees at once: the tracker no longer owns it, a scan is LostError', () => {
    const t = kernel32Mechanism.allocate(4 * P, noClaim);
    const q = query(t);
    expect(t.tracker.owns()).toBe(true);
    t.tracker.close();
    t.tracker.close(); // idempotent
    t.memory.release();
    t.memory.release(); // idempotent
    expect(t.tracker.owns()).toBe(false);
    expect(state(t.memory.address)).toBe(MEM_FREE);
    expect(() => t.tracker.scan(q)).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_LOST' }));
  });

  it('release with a view reachable: it detaches, a stale pointer reaches committed pages with the contents discarded, the range is freed once the view is collected', async () => {
    const held = heldAllocations();
    let t: { memory: Memory; tracker: Tracker } | null = kernel32Mechanism.allocate(4 * P, noClaim);
    let u8: Uint8Array | null = new Uint8Array(t.memory.view(0, 4 * P));
    u8[P] = 7;
    const address = t.memory.address;
    t.tracker.close();
    t.memory.release();
    expect(u8.length).toBe(0);
    u8[P] = 2; // a detached view: a no-op, not a fault
    expect(u8[P]).toBeUndefined();
    expect(heldAllocations()).toBe(held + 1);
    expect(state(address)).toBe(MEM_COMMIT);
    // What native code still holding the pointer sees: pages that take a write, their contents
    // discarded by MEM_RESET. Windows may keep or drop them; Wine drops them (MADV_DONTNEED): zeros.
    const stale = new Uint8Array(koffi.view(BigInt(address), 4 * P));
    if (windowsVersion().wine !== null) expect(stale[P]).toBe(0);
    stale[P] = 9;
    expect(stale[P]).toBe(9);
    u8 = null;
    t = null;
    // FinalizationRegistry callbacks run as tasks after a collection, not inside gc(). Other tests'
    // released allocations may be collected too: wait for all, then ask Windows about this one.
    for (let i = 0; i < 20 && heldAllocations() > 0; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
    expect(heldAllocations()).toBe(0);
    // Released: no write-watch allocation there any more (whatever V8 may have mapped since).
    const count = new BigUint64Array([1n]);
    expect(kernel32().GetWriteWatch(0, address, 4 * P, new BigUint64Array(1), count, new Uint32Array(1))).toBe(0xffffffff);
    expect(kernel32().GetLastError()).toBe(87);
  });

  it('a worker writing into the memory through its own pointer while it is released and held never faults, on all four paths that hold; a decommit-recommit gap dies', () => {
    // Native code (the thread pool filling a buffer) may write while the main thread releases: any
    // moment the pages are not committed kills the process (CI under Wine hit it once). The child
    // has the writer sweep the whole allocation after every VirtualAlloc/VirtualFree of a release.
    const script = fileURLToPath(new URL('./native/kernel32-hold-race.mjs', import.meta.url));
    const run = (mode: string, cycles: number) => spawnSync(process.execPath, [script, mode, String(cycles)], { encoding: 'utf8', timeout: CHILD_TIMEOUT });
    const r = run('library', 10);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { callsSwept: Record<string, string[]> };
    console.log(`calls each release made, the writer sweeping after each: ${JSON.stringify(out.callsSwept)}`);
    // Every path holds by discarding the contents (MEM_RESET, 0x80000), and only so.
    expect(out.callsSwept).toEqual({
      kernel32: ['VirtualAlloc(0x80000)'],
      compare: ['VirtualAlloc(0x80000)'],
      'win32 MEM_WRITE_WATCH': ['VirtualAlloc(0x80000)'],
      'win32 plain': ['VirtualAlloc(0x80000)'],
    });
    // Control: the same sweeps after a raw decommit then commit: the gap kills the process.
    const control = run('control', 1);
    expect(control.stdout).toBe('');
    expect(control.status, control.stderr).toBe(STATUS_ACCESS_VIOLATION);
  });

  it('scan allocates nothing per call in steady state (into and sink); a per-call copy is the control that shows', () => {
    // In a child with a young generation large enough that no collection runs inside a loop.
    const script = fileURLToPath(new URL('./native/kernel32-allocation.mjs', import.meta.url));
    const r = spawnSync(process.execPath, ['--expose-gc', '--max-semi-space-size=128', script, '5000'], { encoding: 'utf8', timeout: CHILD_TIMEOUT });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, { perCall: number; gcs: number; pagesOk: boolean }>;
    console.log(`heap allocated per scan: into ${out.into.perCall} bytes, sink ${out.sink.perCall} bytes, control ${out['copy (control)'].perCall} bytes`);
    for (const m of Object.values(out)) expect(m).toMatchObject({ gcs: 0, pagesOk: true });
    expect(out.into.perCall).toBeLessThan(1);
    expect(out.sink.perCall).toBeLessThan(1);
    expect(out['copy (control)'].perCall).toBeGreaterThan(16);
  });

  it('memory freed behind its back: owns() is false and scan/reset throw LostError, never an answer', () => {
    const t = kernel32Mechanism.allocate(4 * P, noClaim);
    const q = query(t);
    expect(kernel32().VirtualFree(t.memory.address, 0, MEM_RELEASE)).not.toBe(0);
    expect(t.tracker.owns()).toBe(false);
    expect(() => t.tracker.scan(q)).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_LOST', message: expect.stringMatching(/ERROR_INVALID_PARAMETER/) }));
    expect(() => t.tracker.reset(q)).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_LOST' }));
    t.tracker.close();
    t.memory.setOwned(() => false);
    t.memory.release(); // not ours any more: nothing is freed twice
  });
});
