/**
 * Per-call overhead: `iters` calls on a small clean region (16 pages, populated then reset), so the
 * kernel has almost nothing to walk and what is left is the cost of a call. C loops inside C; JS
 * loops in JS; the two alternate within each repetition.
 */
import koffi from 'koffi';
import { WriteWatch, pagemap } from 'writewatch';
import { now, since } from './clock.mjs';
import { median } from './stats.mjs';

const GET = Object.freeze({ reset: false });
const RESET = Object.freeze({ reset: true });

export function perCall({ native, win32, page, pages = 16, iters, reps }) {
  const length = pages * page;
  const ww = WriteWatch.allocate(length);
  new Uint8Array(ww.buffer).fill(1);
  ww.reset();
  const c = native?.region(length);
  if (c) {
    c.touch(Uint32Array.from({ length: pages }, (_, i) => i), 1);
    c.reset(0);
  }
  const w = win32?.region(length);
  if (w) (w.dirty(Uint32Array.from({ length: pages }, (_, i) => i), 1), w.reset(), w.prepare(pages));
  const out = new Float64Array(pages);
  const bare = bareScan(ww.address, length, pages);
  const cases = {
    'C get': c && (() => c.scan(false, iters).ns),
    'C get+reset': c && (() => c.scan(true, iters).ns),
    'C get + checks': c && (() => c.scanChecked(false, iters).ns),
    'C get+reset + checks': c && (() => c.scanChecked(true, iters).ns),
    // The floor of any koffi-based caller: the C loop's one ioctl per call, from JS, nothing else.
    'JS ioctl alone': () => {
      const t0 = now();
      for (let i = 0; i < iters; i++) bare.call();
      return since(t0);
    },
    'getInto': () => {
      const t0 = now();
      for (let i = 0; i < iters; i++) ww.getInto(out, GET);
      return since(t0);
    },
    'getInto reset': () => {
      const t0 = now();
      for (let i = 0; i < iters; i++) ww.getInto(out, RESET);
      return since(t0);
    },
    'get': () => {
      const t0 = now();
      for (let i = 0; i < iters; i++) ww.get(GET);
      return since(t0);
    },
    'win32 getWriteWatch': w && (() => w.timeCalls(iters)),
  };
  const names = Object.keys(cases).filter((n) => cases[n]);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  for (const n of names) cases[n](); // warm up (JIT, first-call setup)
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < names.length; i++) {
      const n = names[(i + r) % names.length];
      times[n].push(cases[n]() / iters);
    }
  }
  bare.close();
  ww.close();
  c?.close();
  w?.close();
  const ns = Object.fromEntries(names.map((n) => [n, median(times[n])]));
  const ratio = (a, b) => (times[a] && times[b] ? median(times[a].map((x, i) => x / times[b][i])) : NaN);
  return {
    pages,
    iters,
    ns,
    ratios: {
      'JS ioctl alone / C get (koffi floor)': ratio('JS ioctl alone', 'C get'),
      'getInto / C get': ratio('getInto', 'C get'),
      'get / C get': ratio('get', 'C get'),
      'getInto reset / C get+reset': ratio('getInto reset', 'C get+reset'),
      'getInto / (C get + checks)': ratio('getInto', 'C get + checks'),
      'getInto reset / (C get+reset + checks)': ratio('getInto reset', 'C get+reset + checks'),
      'win32 / C get': ratio('win32 getWriteWatch', 'C get'),
    },
  };
}

/**
 * PAGEMAP_SCAN on [address, address + length) through koffi, as the C loop issues it per call on
 * clean pages (PM_SCAN_CHECK_WPASYNC, PAGE_IS_WRITTEN masks, one ioctl): no checks, no expansion.
 */
function bareScan(address, length, pages) {
  const { abi } = pagemap;
  const libc = koffi.load('libc.so.6');
  const ioctl = libc.func('int ioctl(int fd, unsigned long request, void *arg)');
  const close = libc.func('int close(int fd)');
  const fd = pagemap.openPagemap('self');
  const vec = new BigUint64Array(new ArrayBuffer(pages * abi.PAGE_REGION_SIZE));
  const arg = new BigUint64Array(new ArrayBuffer(abi.PM_SCAN_ARG_SIZE));
  const A = abi.PM_SCAN_ARG;
  arg[A.size] = BigInt(abi.PM_SCAN_ARG_SIZE);
  arg[A.flags] = BigInt(abi.PM_SCAN_CHECK_WPASYNC);
  arg[A.start] = address;
  arg[A.end] = address + BigInt(length);
  arg[A.vec] = BigInt(koffi.address(vec));
  arg[A.vec_len] = BigInt(pages);
  arg[A.category_mask] = arg[A.return_mask] = BigInt(abi.PAGE_IS.WRITTEN);
  return {
    call() {
      if (ioctl(fd, abi.PAGEMAP_SCAN, arg) !== 0) throw new Error(`bare PAGEMAP_SCAN: expected no region on clean pages (errno ${koffi.errno()})`);
    },
    close: () => close(fd),
  };
}
