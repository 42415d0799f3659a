/**
 * What tracking costs in memory: the page tables arming allocates (VmPTE from /proc/self/status),
 * per GiB of address space tracked, for never-touched memory (the worst case: populated memory
 * already has its page tables). Also how long arming (WriteWatch.allocate) takes.
 */
import { WriteWatch } from 'writewatch';
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
    const untracked = measure(Math.min(length, 2 ** 30), (len) => {
      const ab = new ArrayBuffer(len); // calloc'd: mapped, never touched
      return [{ ab }];
    });
    rows.push({ length, tracked, untracked, perGiB: tracked.pte / (length / 2 ** 30) });
  }
  return rows;
}
