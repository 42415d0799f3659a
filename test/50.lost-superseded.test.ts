/**
 * A stale tracker never acts on memory that is now someone else's (issue 9, case 1). Its memory is
 * taken away behind the library's back (munmap, or its userfaultfd closed) and a newcomer of this
 * library — in this thread or in a worker — maps or tracks the same addresses. From then on every
 * call on the stale object throws ERR_WRITEWATCH_LOST (win32: 87), the newcomer's written pages
 * are neither reported nor reset by it, and its close() / MEM_RELEASE unmaps nothing of the
 * newcomer's. The newcomer lands on the same address by asking for it (VirtualAlloc with an
 * address, or a test mapping MAP_FIXED there), never by hoping that mmap reuses it.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import koffi from 'koffi';
import { afterEach, expect, it } from 'vitest';
import { uffdFds } from './support/fds.js';
import { CHILD_TIMEOUT } from './support/machine.js';
import { uffd, WriteWatch } from '../src/index.js';
import * as w from '../src/win32/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

const lib = koffi.load('libc.so.6');
const munmap = lib.func('int munmap(void *addr, size_t length)') as (a: bigint, l: number) => number;
const mmap = lib.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)') as (
  a: bigint | null, l: number, prot: number, flags: number, fd: number, off: number) => bigint;
const msync = lib.func('int msync(void *addr, size_t length, int flags)') as (a: bigint, l: number, f: number) => number;
const close = lib.func('int close(int fd)') as (fd: number) => number;
const PROT_RW = 3, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20, MAP_FIXED = 0x10, MAP_FIXED_NOREPLACE = 0x100000;
const MAP_FAILED = 0xffffffffffffffffn;

const PAGES = 16;
const SIZE = PAGES * PAGE;
const LOST = expect.objectContaining({ code: 'ERR_WRITEWATCH_LOST' });
const DIST = pathToFileURL(resolve(__dirname, '../dist/win32/index.js')).href;

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.reverse()) f();
  cleanup = [];
});

/** Whether [addr, addr + len) is mapped, asked without touching it (msync fails with ENOMEM on a hole). */
const mapped = (addr: bigint, len: number) => msync(addr, len, 0) === 0;

/**
 * WriteWatch.allocate at a 64 KiB-aligned address, where VirtualAlloc can place a newcomer exactly
 * (a reservation's address is rounded down to 64 KiB, as on Windows). mmap places memory top-down:
 * a filler of (address - aligned) bytes mapped first pushes the allocation down onto the aligned
 * address below. Retried: another thread may map in between.
 */
function alignedAllocate(): WriteWatch {
  const G = 0x10000n;
  // A miss stays mapped until the end: the gap it took is not offered again.
  const misses: WriteWatch[] = [];
  try {
    for (let attempt = 0; attempt < 100; attempt++) {
      // The highest gap that holds SIZE + 64 KiB; its top is where mmap placed the probe's end.
      const probeAt = mmap(null, SIZE + Number(G), 0, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      munmap(probeAt, SIZE + Number(G));
      const top = probeAt + BigInt(SIZE) + G;
      const aligned = ((top - BigInt(SIZE)) / G) * G;
      // A filler from the aligned end to the gap's top (MAP_FIXED_NOREPLACE: in that very gap), so
      // that mmap's top-down placement of SIZE bytes lands on the aligned address.
      const fill = Number(top - aligned) - SIZE;
      const filler = fill ? mmap(aligned + BigInt(SIZE), fill, 0, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) : 0n;
      const ww = WriteWatch.allocate(SIZE);
      if (filler) munmap(filler, fill);
      if (ww.address % G === 0n) return ww;
      misses.push(ww);
    }
  } finally {
    for (const m of misses) m.close();
  }
  throw new Error('no 64 KiB-aligned WriteWatch.allocate in 100 attempts');
}

/** A WriteWatch with page 1 written, and the fd number of the userfaultfd it created. */
function stale(aligned = false): { ww: WriteWatch; uffd: number } {
  const before = uffdFds();
  const ww = aligned ? alignedAllocate() : WriteWatch.allocate(SIZE);
  cleanup.push(() => ww.close());
  new Uint8Array(ww.buffer)[PAGE] = 1;
  expect(ww.get()).toEqual([PAGE]);
  const fresh = [...uffdFds()].filter((fd) => !before.has(fd));
  expect(fresh).toHaveLength(1);
  return { ww, uffd: fresh[0] };
}


/** Every call of a stale WriteWatch throws LostError and writes nothing into the caller's array. */
function expectEveryCallLost(ww: WriteWatch): void {
  const out = new Float64Array(PAGES);
  expect(() => ww.get()).toThrow(LOST);
  expect(() => ww.get({ reset: true })).toThrow(LOST);
  expect(() => ww.get({ offset: 2 * PAGE, length: PAGE })).toThrow(LOST);
  expect(() => ww.getInto(out)).toThrow(LOST);
  expect(() => ww.getInto(out, { reset: true })).toThrow(LOST);
  expect(() => ww.ranges()).toThrow(LOST);
  expect(() => ww.reset()).toThrow(LOST);
  expect(() => ww.reset(0, PAGE)).toThrow(LOST);
  expect(() => ww.buffer).toThrow(LOST); // its view is over the newcomer's memory now
  expect(out.every((x) => x === 0)).toBe(true);
}

/** A MEM_WRITE_WATCH allocation at exactly `at`, released at the end of the test. */
function watchedAt(at: bigint): bigint {
  const base = w.virtualAlloc(at, SIZE, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
  expect(base, `virtualAlloc at 0x${at.toString(16)}: last error ${w.getLastError()}`).toBe(at);
  cleanup.push(() => void w.virtualFree(base, 0, w.MEM_RELEASE));
  return base;
}

function written(base: bigint, flags = 0): bigint[] {
  const addrs = new BigUint64Array(PAGES);
  const count = { value: PAGES };
  expect(w.getWriteWatch(flags, base, SIZE, addrs, count, { value: 0 })).toBe(0);
  return [...addrs.subarray(0, count.value)];
}

const at = (base: bigint, page: number) => base + BigInt(page * PAGE);

/** Anonymous memory of `size` bytes at a 64 KiB boundary (VirtualAlloc's granularity), the slack around it given back. */
function alignedMap(size: number): bigint {
  const G = 0x10000n;
  const p = mmap(null, size + Number(G), PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  expect(p).not.toBe(MAP_FAILED);
  const a = ((p + G - 1n) / G) * G;
  if (a > p) munmap(p, Number(a - p));
  const tail = p + BigInt(size) + G - (a + BigInt(size));
  if (tail > 0n) munmap(a + BigInt(size), Number(tail));
  return a;
}

/** Maps over [addr, +SIZE) behind the library's back (its tracking there is gone), keeping the address taken. */
function placeholder(addr: bigint): void {
  expect(mmap(addr, SIZE, 0, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)).toBe(addr);
}

/**
 * Runs `body` (CommonJS; `win32`, `munmap` and `data` in scope) in a worker that stays until
 * `release()`. Starting a worker maps memory (its stack, its heap), so the address it is to take is
 * held by a placeholder mapping until the worker itself unmaps it, right before taking it.
 */
function worker(body: string, data: unknown): Promise<{ result: any; release: () => Promise<void> }> {
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    (async () => {
      const win32 = await import(${JSON.stringify(DIST)});
      const lib = require('koffi').load('libc.so.6');
      const munmap = lib.func('int munmap(void *addr, size_t length)');
      const data = workerData;
      const result = await (async () => { ${body} })();
      parentPort.postMessage({ result });
      parentPort.once('message', () => process.exit(0));
    })().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));`;
  return new Promise((ok, fail) => {
    const t = new Worker(src, { eval: true, workerData: data });
    const exited = new Promise<void>((r) => t.on('exit', () => r()));
    t.once('message', (m: { result?: unknown; error?: string }) => {
      if (m.error) fail(new Error(m.error));
      else ok({ result: m.result, release: () => (t.postMessage('done'), exited) });
    });
    t.on('error', fail);
  });
}

describeKernel('50 superseded: a stale WriteWatch never acts on a newcomer\'s memory', () => {
  it('munmap behind its back, then a MEM_WRITE_WATCH allocation at the same address: every call throws, close() leaves the newcomer', () => {
    const { ww } = stale(true);
    const addr = ww.address;
    expect(munmap(addr, SIZE)).toBe(0);
    const base = watchedAt(addr);
    const u8 = new Uint8Array(w.viewMemory(base, SIZE));
    u8[3 * PAGE] = 1;
    expectEveryCallLost(ww);
    // None of those calls reset the newcomer's page, and none reported it.
    expect(written(base)).toEqual([at(base, 3)]);
    ww.close();
    expect(mapped(base, SIZE)).toBe(true); // not unmapped by the stale object's close()
    u8[5 * PAGE] = 1;
    expect(written(base, w.WRITE_WATCH_FLAG_RESET)).toEqual([at(base, 3), at(base, 5)]);
    expect(written(base)).toEqual([]);
  });

  it('its userfaultfd closed behind its back, then a new WriteWatch tracks the same memory: every call throws, close() leaves it tracked', () => {
    const { ww, uffd } = stale();
    const addr = ww.address;
    expect(close(uffd)).toBe(0);
    // The newcomer tracks a view of its own over the same pages (the stale object's views are its to detach).
    const view = new Uint8Array(koffi.view(addr, SIZE) as ArrayBuffer);
    const b = WriteWatch.track(view);
    cleanup.push(() => b.close());
    view[2 * PAGE] = 1;
    expectEveryCallLost(ww);
    expect(b.get()).toEqual([2 * PAGE]);
    ww.close();
    // The memory was ww's but is tracked by b now: not unmapped, not unregistered.
    expect(mapped(addr, SIZE)).toBe(true);
    view[4 * PAGE] = 1;
    expect(b.get({ reset: true })).toEqual([2 * PAGE, 4 * PAGE]);
    expect(b.get()).toEqual([]);
    // Left mapped by ww.close(): the test unmaps it once b is closed.
    cleanup.unshift(() => void munmap(addr, SIZE));
  });

  it('the newcomer is registered by a worker thread: the main thread\'s stale WriteWatch throws on its very next call', async () => {
    const { ww } = stale(true);
    const addr = ww.address;
    placeholder(addr);
    const t = await worker(
      `munmap(BigInt(data.addr), data.size);
       const base = win32.virtualAlloc(BigInt(data.addr), data.size, win32.MEM_RESERVE | win32.MEM_COMMIT | win32.MEM_WRITE_WATCH, win32.PAGE_READWRITE);
       new Uint8Array(win32.viewMemory(base, data.size))[7 * data.page] = 1;
       return String(base);`,
      { addr: String(addr), size: SIZE, page: PAGE },
    );
    try {
      expect(BigInt(t.result)).toBe(addr);
      expectEveryCallLost(ww);
      ww.close();
      expect(mapped(addr, SIZE)).toBe(true); // the worker's memory, still registered with its userfaultfd
      expect(() => WriteWatch.track(new Uint8Array(koffi.view(addr, SIZE) as ArrayBuffer))).toThrow(
        expect.objectContaining({ cause: expect.objectContaining({ code: 'EBUSY' }) }),
      );
    } finally {
      await t.release();
    }
  });

  it('superseded and dropped without close(): the garbage collector does not unmap the newcomer (child process)', () => {
    const script = fileURLToPath(new URL('./native/dropped-superseded.mjs', import.meta.url));
    const r = spawnSync(process.execPath, ['--expose-gc', script], { encoding: 'utf8', timeout: CHILD_TIMEOUT });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.sameAddress).toBe(true);
    expect(out.mapped).toBe(true);
    expect(out.pages).toEqual([3]); // the newcomer's write, and only it
  });

  it('threads that first use the library at the same moment agree on one process-wide registry (child process)', () => {
    const script = fileURLToPath(new URL('./native/registry-race.mjs', import.meta.url));
    for (let round = 0; round < 3; round++) {
      const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: CHILD_TIMEOUT });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.answers.every((a: string) => /^\d+$/.test(a))).toBe(true);
      expect(out.registries).toBe(1);
    }
  });

  it('a newcomer right next to it (not overlapping) changes nothing: no false alarm', () => {
    // The adjacency is made, not hoped for: the tracked memory is the first half of a mapping of
    // ours, 64 KiB-aligned (VirtualAlloc's granularity), and the newcomer, a MEM_WRITE_WATCH
    // allocation, takes the second half's address once that half is unmapped.
    const both = alignedMap(2 * SIZE);
    cleanup.push(() => void munmap(both, SIZE));
    const view = new Uint8Array(koffi.view(both, SIZE) as ArrayBuffer);
    const ww = WriteWatch.track(view);
    cleanup.push(() => ww.close());
    expect(ww.address).toBe(both);
    view[PAGE] = 1;
    const after = both + BigInt(SIZE);
    expect(munmap(after, SIZE)).toBe(0);
    expect(watchedAt(after)).toBe(after);
    new Uint8Array(w.viewMemory(after, SIZE))[0] = 1;
    const other = WriteWatch.allocate(SIZE);
    cleanup.push(() => other.close());
    expect(ww.get({ reset: true })).toEqual([PAGE]);
    view[2 * PAGE] = 1;
    expect(ww.get()).toEqual([2 * PAGE]);
    expect(written(after)).toEqual([after]); // and the newcomer's own answer is untouched
  });

  it('negative control: a close() that unmaps its range without asking whose it is now takes the newcomer\'s memory, and the checks above see it', () => {
    // The claim above: "close() leaves the newcomer" (mapped(), its pages still answered). A
    // WriteWatch-like object built from the public layers (uffd.Userfaultfd) whose close() unmaps
    // [address, +SIZE) as a naive one would, superseded the same way, breaks exactly that.
    const addr = alignedMap(SIZE);
    const u = uffd.Userfaultfd.open();
    u.register(Number(addr), SIZE);
    u.writeProtect(Number(addr), SIZE);
    const naiveClose = () => {
      u.close();
      munmap(addr, SIZE);
    };
    expect(munmap(addr, SIZE)).toBe(0); // taken away behind its back
    const base = w.virtualAlloc(addr, SIZE, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
    expect(base).toBe(addr);
    new Uint8Array(w.viewMemory(base, SIZE))[3 * PAGE] = 1;
    expect(written(base)).toEqual([at(base, 3)]);
    naiveClose();
    expect(mapped(base, SIZE)).toBe(false); // the check "not unmapped by the stale object's close()" fails
    // The newcomer's calls now fail: its memory is gone.
    w.setLastError(0);
    expect(w.getWriteWatch(0, base, SIZE, new BigUint64Array(PAGES), { value: PAGES }, { value: 0 })).toBe(0xffffffff);
    expect(w.virtualFree(base, 0, w.MEM_RELEASE)).toBe(true);
  });

  it('munmap behind its back and a plain mmap there by someone else: calls throw, and close() neither unmaps nor covers it', () => {
    const { ww } = stale();
    const addr = ww.address;
    expect(munmap(addr, SIZE)).toBe(0);
    expect(mmap(addr, SIZE, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)).toBe(addr);
    cleanup.push(() => void munmap(addr, SIZE));
    const theirs = new Uint8Array(koffi.view(addr, SIZE) as ArrayBuffer);
    theirs[3 * PAGE] = 42;
    expect(() => ww.get({ reset: true })).toThrow(LOST); // the kernel's check: not registered
    ww.close();
    // Neither unmapped nor covered with a placeholder: their bytes are still there.
    expect(mapped(addr, SIZE)).toBe(true);
    expect(theirs[3 * PAGE]).toBe(42);
  });
});

describeKernel('50 superseded through writewatch/win32: 87, and MEM_RELEASE never unmaps the newcomer', () => {
  function staleAllocation(): bigint {
    const base = w.virtualAlloc(0n, SIZE, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
    expect(base).not.toBe(0n);
    new Uint8Array(w.viewMemory(base, SIZE))[PAGE] = 1;
    expect(written(base)).toEqual([at(base, 1)]);
    return base;
  }

  function expect87(base: bigint): void {
    const addrs = new BigUint64Array(PAGES);
    for (const flags of [0, w.WRITE_WATCH_FLAG_RESET]) {
      const count = { value: PAGES };
      w.setLastError(0);
      expect(w.getWriteWatch(flags, base, SIZE, addrs, count, { value: 0 })).toBe(0xffffffff);
      expect(w.getLastError()).toBe(w.ERROR_INVALID_PARAMETER);
      expect(count.value).toBe(PAGES);
    }
    expect(addrs.every((a) => a === 0n)).toBe(true);
    w.setLastError(0);
    expect(w.resetWriteWatch(base, SIZE)).toBe(0xffffffff);
    expect(w.getLastError()).toBe(w.ERROR_INVALID_PARAMETER);
  }

  it('munmapped behind its back, a WriteWatch tracks memory mapped there: GetWriteWatch/ResetWriteWatch 87, MEM_RELEASE 87 and the newcomer intact', () => {
    const base = staleAllocation();
    expect(munmap(base, SIZE)).toBe(0);
    expect(mmap(base, SIZE, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)).toBe(base);
    cleanup.push(() => void munmap(base, SIZE));
    const view = new Uint8Array(koffi.view(base, SIZE) as ArrayBuffer);
    const b = WriteWatch.track(view);
    cleanup.push(() => b.close());
    view[2 * PAGE] = 1;
    expect87(base);
    w.setLastError(0);
    expect(w.virtualFree(base, 0, w.MEM_RELEASE)).toBe(false);
    expect(w.getLastError()).toBe(w.ERROR_INVALID_ADDRESS); // STATUS_MEMORY_NOT_ALLOCATED: nothing VirtualAlloc gave is there
    expect(mapped(base, SIZE)).toBe(true);
    view[4 * PAGE] = 1;
    expect(b.get({ reset: true })).toEqual([2 * PAGE, 4 * PAGE]);
  });

  it('munmapped behind its back, a worker allocates there: allocations are the process\'s, so the main thread answers for the worker\'s newcomer, never the stale one', async () => {
    const base = staleAllocation();
    placeholder(base);
    const t = await worker(
      `munmap(BigInt(data.base), data.size);
       const base = win32.virtualAlloc(BigInt(data.base), data.size, win32.MEM_RESERVE | win32.MEM_COMMIT | win32.MEM_WRITE_WATCH, win32.PAGE_READWRITE);
       new Uint8Array(win32.viewMemory(base, data.size))[3 * data.page] = 1;
       return String(base);`,
      { base: String(base), size: SIZE, page: PAGE },
    );
    try {
      expect(BigInt(t.result)).toBe(base);
      // The stale entry's page 1 is gone; the newcomer's page 3 is what this thread sees.
      expect(written(base)).toEqual([at(base, 3)]);
      expect(w.virtualFree(base, 0, w.MEM_RELEASE)).toBe(true); // any thread may release it
      w.setLastError(0);
      expect(w.getWriteWatch(0, base, SIZE, new BigUint64Array(PAGES), { value: PAGES }, { value: 0 })).toBe(0xffffffff);
      expect(w.getLastError()).toBe(w.ERROR_INVALID_PARAMETER);
      // Still mapped: the worker holds a view of it, so a placeholder keeps the range until that goes.
      expect(mapped(base, SIZE)).toBe(true);
    } finally {
      await t.release();
    }
  });

  it('a newcomer of the same thread at its base replaces the stale entry: answers are the newcomer\'s', () => {
    const base = staleAllocation();
    expect(munmap(base, SIZE)).toBe(0);
    const again = watchedAt(base); // VirtualAlloc gave this address back: the old entry is stale
    new Uint8Array(w.viewMemory(again, SIZE))[5 * PAGE] = 1;
    expect(written(again, w.WRITE_WATCH_FLAG_RESET)).toEqual([at(again, 5)]);
    expect(written(again)).toEqual([]);
  });
});
