/**
 * The library's /proc/self/pagemap descriptor is checked like its userfaultfds (issue 9, case 4):
 * its st_dev:st_ino are recorded at open, and when the number is closed behind the library's back
 * or names another file (EBADF, ENOTTY or EINVAL from the ioctl), it is forgotten — never closed:
 * the number is someone else's — and a fresh one is opened, so answers stay exact. A number
 * dup2'ed to another process's pagemap answers the ioctl without error, with "nothing written" (our
 * addresses are holes there): an empty answer reads the file position the library set back (one
 * lseek), and allocate()/track()/VirtualAlloc check st_dev:st_ino.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import koffi from 'koffi';
import { afterEach, expect, it } from 'vitest';
import { pagemap, WriteWatch } from '../src/index.js';
import { lingering } from './support/wait.js';
import { describeKernel, PAGE } from './support/kernel.js';

const lib = koffi.load('libc.so.6');
const close = lib.func('int close(int fd)') as (fd: number) => number;
const dup2 = lib.func('int dup2(int oldfd, int newfd)') as (a: number, b: number) => number;
const open = lib.func('int open(const char *path, int flags)') as (p: string, f: number) => number;

const SIZE = 16 * PAGE;
let live: WriteWatch[] = [];
afterEach(() => {
  for (const ww of live) ww.close();
  live = [];
});

function tracker(): { ww: WriteWatch; u8: Uint8Array } {
  const ww = WriteWatch.allocate(SIZE);
  live.push(ww);
  return { ww, u8: new Uint8Array(ww.buffer) };
}

/** The fds naming this process's pagemap: the library's (one per thread that used it). */
function pagemapFds(): number[] {
  const own = `/proc/${process.pid}/pagemap`;
  return readdirSync('/proc/self/fd')
    .map(Number)
    .filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === own;
      } catch {
        return false;
      }
    });
}

function libraryPagemapFd(): number {
  const fds = pagemapFds();
  expect(fds).toHaveLength(1);
  return fds[0];
}

/** Writes pages, then checks get/getInto/ranges/reset all answer exactly on whatever fd the library now uses. */
function expectExact(ww: WriteWatch, u8: Uint8Array, pages: number[]): void {
  for (const p of pages) u8[p * PAGE] = 1;
  const offsets = pages.map((p) => p * PAGE);
  expect(ww.get()).toEqual(offsets);
  const out = new Float64Array(16);
  expect(ww.getInto(out)).toBe(pages.length);
  expect(ww.ranges().reduce((n, r) => n + r.length / PAGE, 0)).toBe(pages.length);
  expect(ww.get({ reset: true })).toEqual(offsets);
  expect(ww.get()).toEqual([]);
}

describeKernel('50 pagemap descriptor not ours: re-opened, never an all-clean answer', () => {
  it('closed behind the library: every kind of call re-opens it and answers exactly', () => {
    const { ww, u8 } = tracker();
    // get without reset (the scan meets EBADF), then get with reset and reset() (the check meets it).
    for (const call of ['get', 'get reset', 'reset'] as const) {
      u8[3 * PAGE] = 1;
      expect(close(libraryPagemapFd())).toBe(0);
      if (call === 'get') expect(ww.get()).toEqual([3 * PAGE]);
      else if (call === 'get reset') expect(ww.get({ reset: true })).toEqual([3 * PAGE]);
      else {
        ww.reset();
        expect(ww.get()).toEqual([]);
      }
      expect(pagemapFds()).toHaveLength(1); // a fresh one, and only one
      ww.reset();
    }
    expectExact(ww, u8, [1, 6]);
  });

  it('its number dup2\'ed to /dev/null: re-opened, and the library never closes that number', () => {
    const { ww, u8 } = tracker();
    const fd = libraryPagemapFd();
    const devnull = open('/dev/null', 0);
    expect(devnull).toBeGreaterThanOrEqual(0);
    try {
      expect(dup2(devnull, fd)).toBe(fd);
      u8[2 * PAGE] = 1;
      expect(ww.get({ reset: true })).toEqual([2 * PAGE]); // ENOTTY on the check: re-opened, then exact
      expectExact(ww, u8, [4, 5]);
      ww.close();
      WriteWatch.allocate(PAGE).close();
      expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe('/dev/null'); // not closed: not the library's any more
    } finally {
      close(fd);
      close(devnull);
    }
  });

  it('its number dup2\'ed to another process\'s pagemap: the next allocate() re-opens ours, answers are exact', async () => {
    const child = lingering();
    try {
      await new Promise((r) => child.once('spawn', r));
      const { ww, u8 } = tracker();
      const fd = libraryPagemapFd();
      const foreign = open(`/proc/${child.pid}/pagemap`, 0);
      expect(foreign, 'opening another process\'s pagemap needs ptrace access (same uid)').toBeGreaterThanOrEqual(0);
      expect(dup2(foreign, fd)).toBe(fd);
      close(foreign);
      // The library's next descriptor-opening call checks st_dev:st_ino of its pagemap fd.
      const other = WriteWatch.allocate(PAGE);
      live.push(other);
      expect(pagemapFds()).toHaveLength(1); // ours again, on a new number
      expectExact(ww, u8, [0, 7, 15]);
      expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe(`/proc/${child.pid}/pagemap`); // left alone
      close(fd);
    } finally {
      child.kill();
    }
  });
});

describeKernel('50 pagemap descriptor dup2\'ed to another process\'s pagemap, no allocate() in between', () => {
  /** Puts another process's pagemap at the library's number; returns the number and a cleanup. */
  async function foreignAtLibraryFd(): Promise<{ fd: number; child: ReturnType<typeof spawn> }> {
    const child = lingering();
    await new Promise((r) => child.once('spawn', r));
    const fd = libraryPagemapFd();
    const foreign = open(`/proc/${child.pid}/pagemap`, 0);
    expect(foreign, 'opening another process\'s pagemap needs ptrace access (same uid)').toBeGreaterThanOrEqual(0);
    expect(dup2(foreign, fd)).toBe(fd);
    close(foreign);
    return { fd, child };
  }

  it('negative control: a scan through that number answers "nothing written" for written pages', async () => {
    const { ww, u8 } = tracker();
    u8[0] = u8[5 * PAGE] = 1;
    const { fd, child } = await foreignAtLibraryFd();
    try {
      // The raw scanner on the foreign number: our addresses are holes in that process.
      const scanner = new pagemap.WrittenScanner(() => fd, PAGE);
      const start = Number(koffi.address(ww.buffer));
      const seen: number[] = [];
      scanner.scan(start, start + SIZE, false, 0, { region: (s: number) => seen.push(s) });
      expect(seen).toEqual([]);
      // The library itself notices (the file position it set is not there) and asks its own pagemap.
      expect(ww.get()).toEqual([0, 5 * PAGE]);
      expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe(`/proc/${child.pid}/pagemap`); // left alone
    } finally {
      close(fd);
      child.kill();
    }
  });

  for (const call of ['get', 'get reset', 'getInto', 'ranges'] as const) {
    it(`${call}: re-opens ours at once and answers exactly, never all-clean`, async () => {
      const { ww, u8 } = tracker();
      u8[2 * PAGE] = u8[9 * PAGE] = 1;
      const { fd, child } = await foreignAtLibraryFd();
      try {
        if (call === 'get') expect(ww.get()).toEqual([2 * PAGE, 9 * PAGE]);
        else if (call === 'get reset') expect(ww.get({ reset: true })).toEqual([2 * PAGE, 9 * PAGE]);
        else if (call === 'getInto') {
          const out = new Float64Array(4);
          expect(ww.getInto(out)).toBe(2);
          expect([...out.subarray(0, 2)]).toEqual([2 * PAGE, 9 * PAGE]);
        } else expect(ww.ranges()).toEqual([{ offset: 2 * PAGE, length: PAGE }, { offset: 9 * PAGE, length: PAGE }]);
        expect(pagemapFds()).toHaveLength(1); // ours again, on a new number
        expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe(`/proc/${child.pid}/pagemap`);
      } finally {
        close(fd);
        child.kill();
      }
    });
  }

  it('win32 GetWriteWatch: re-opens ours at once and answers exactly', async () => {
    const w = await import('../src/win32/index.js');
    const base = w.virtualAlloc(0n, SIZE, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
    expect(base).not.toBe(0n);
    const { fd, child } = await foreignAtLibraryFd();
    try {
      new Uint8Array(w.viewMemory(base, SIZE))[4 * PAGE] = 1;
      const addrs = new BigUint64Array(16), count = { value: 16 }, gran = { value: 0 };
      expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, base, SIZE, addrs, count, gran)).toBe(0);
      expect(count.value).toBe(1);
      expect(addrs[0]).toBe(base + BigInt(4 * PAGE));
    } finally {
      close(fd);
      child.kill();
      w.virtualFree(base, 0, w.MEM_RELEASE);
    }
  });
});

describeKernel('50 pagemap descriptor not ours, through writewatch/win32', () => {
  it('closed behind the library: GetWriteWatch (with and without reset) and ResetWriteWatch re-open it', async () => {
    const w = await import('../src/win32/index.js');
    const base = w.virtualAlloc(0n, SIZE, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
    expect(base).not.toBe(0n);
    try {
      const u8 = new Uint8Array(w.viewMemory(base, SIZE));
      const addrs = new BigUint64Array(16);
      for (const flags of [0, w.WRITE_WATCH_FLAG_RESET]) {
        u8[2 * PAGE] = 1;
        expect(close(libraryPagemapFd())).toBe(0);
        const count = { value: 16 };
        expect(w.getWriteWatch(flags, base, SIZE, addrs, count, { value: 0 })).toBe(0);
        expect([...addrs.subarray(0, count.value)]).toEqual([base + BigInt(2 * PAGE)]);
      }
      u8[3 * PAGE] = 1;
      expect(close(libraryPagemapFd())).toBe(0);
      expect(w.resetWriteWatch(base, SIZE)).toBe(0);
      const count = { value: 16 };
      expect(w.getWriteWatch(0, base, SIZE, addrs, count, { value: 0 })).toBe(0);
      expect(count.value).toBe(0);
      expect(pagemapFds()).toHaveLength(1);
    } finally {
      w.virtualFree(base, 0, w.MEM_RELEASE);
    }
  });
});
