/**
 * Run with --expose-gc by test/50.lost-superseded.test.ts: a WriteWatch whose memory was unmapped
 * behind its back and taken by a newcomer (a MEM_WRITE_WATCH allocation at the same address) is
 * dropped without close(). Once it is garbage-collected, is the newcomer's memory still mapped and
 * still tracked? Prints JSON; never touches memory that may have been unmapped.
 */
import koffi from 'koffi';
import { WriteWatch, probe } from 'writewatch';
import * as w from 'writewatch/win32';

const lib = koffi.load('libc.so.6');
const munmap = lib.func('int munmap(void *addr, size_t length)');
const msync = lib.func('int msync(void *addr, size_t length, int flags)');
const PAGE = probe().pageSize;
const SIZE = 16 * PAGE;
const tick = () => new Promise((r) => setImmediate(r));

const mmap = lib.func('void *mmap(uintptr_t addr, size_t length, int prot, int flags, int fd, int64_t offset)');

/** WriteWatch.allocate at a 64 KiB-aligned address (VirtualAlloc rounds a reservation's address down to 64 KiB). */
function alignedAllocate() {
  const G = 0x10000n;
  const misses = []; // kept until the end: the gap a miss took is not offered again
  try {
    for (let attempt = 0; attempt < 100; attempt++) {
      // The highest gap holding SIZE + 64 KiB; a filler from the aligned end to its top (in that very
      // gap) makes mmap's top-down placement of SIZE bytes land on the aligned address.
      const probeAt = koffi.address(mmap(0, SIZE + Number(G), 0, 0x22, -1, 0));
      munmap(probeAt, SIZE + Number(G));
      const top = probeAt + BigInt(SIZE) + G;
      const aligned = ((top - BigInt(SIZE)) / G) * G;
      const fill = Number(top - aligned) - SIZE;
      const filler = fill ? mmap(aligned + BigInt(SIZE), fill, 0, 0x22 | 0x100000, -1, 0) : null;
      const ww = WriteWatch.allocate(SIZE);
      if (filler) munmap(filler, fill);
      if (ww.address % G === 0n) return ww;
      misses.push(ww);
    }
  } finally {
    for (const m of misses) m.close();
  }
  throw new Error('no 64 KiB-aligned WriteWatch.allocate');
}

function supersede() {
  const ww = alignedAllocate();
  new Uint8Array(ww.buffer)[PAGE] = 1;
  const addr = ww.address;
  munmap(addr, SIZE);
  const base = w.virtualAlloc(addr, SIZE, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
  return { addr: String(addr), base }; // ww and its buffer are unreachable from here on
}

const { addr, base } = supersede();
new Uint8Array(w.viewMemory(base, SIZE))[3 * PAGE] = 1;
for (let i = 0; i < 10; i++) {
  globalThis.gc();
  await tick();
}
const mapped = msync(base, SIZE, 0) === 0;
const addrs = new BigUint64Array(16);
const count = { value: 16 };
const ok = mapped && w.getWriteWatch(0, base, SIZE, addrs, count, { value: 0 }) === 0;
const pages = ok ? [...addrs.subarray(0, count.value)].map((a) => Number(a - base) / PAGE) : null;
console.log(JSON.stringify({ sameAddress: String(base) === addr, mapped, pages }));
