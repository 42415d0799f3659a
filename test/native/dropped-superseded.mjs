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

function supersede() {
  const ww = WriteWatch.allocate(SIZE);
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
