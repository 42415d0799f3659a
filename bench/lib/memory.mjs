/**
 * What tracking costs in memory: the page tables arming allocates (VmPTE from /proc/self/status),
 * per GiB of address space tracked, for never-touched memory (the worst case: populated memory
 * already has its page tables). Also how long arming (WriteWatch.allocate) takes.
 */
import koffi from 'koffi';
import { WriteWatch } from 'writewatch';

const libc = koffi.load('libc.so.6');
const mmap = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
const munmap = libc.func('int munmap(void *addr, size_t length)');
const PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;
import { now, since, vmPte } from './clock.mjs';
import { MAX_WW } from './regions.mjs';

function measure(length, make) {
  const before = vmPte();
  const t0 = now();
  const things = make(length);
  const ns = since(t0);
  const after = vmPte();
  for (const t of things) t.close?.();
  return { length, pte: after - before, ns };
}

export function memoryOverhead(sizes) {
  const rows = [];
  for (const length of sizes) {
    const tracked = measure(length, (len) => {
      const out = [];
      for (let off = 0; off < len; off += MAX_WW) out.push(WriteWatch.allocate(Math.min(MAX_WW, len - off)));
      return out;
    });
    const untracked = measure(length, (len) => {
      const p = mmap(null, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      return [{ close: () => munmap(p, len) }];
    });
    rows.push({ length, tracked, untracked, perGiB: tracked.pte / (length / 2 ** 30) });
  }
  return rows;
}
