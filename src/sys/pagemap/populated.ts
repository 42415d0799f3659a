/**
 * Which pages of [start, end) of this process hold anything but zeros: present (other than the
 * shared zero page) or swapped out. A page that is neither was never populated, or its contents
 * were dropped (MADV_DONTNEED): anonymous private memory reads it as zeros. One read-only
 * PAGEMAP_SCAN (category_anyof_mask = PRESENT | SWAPPED, not PFNZERO) that walks page tables, not
 * pages: what lets the compare mechanism skip memory nobody touched instead of reading it.
 */
import { getPageSize } from '../platform.js';
import { get64, put64 } from '../libc/u64.js';
import { PAGE_IS, PM_SCAN_ARG } from './abi.js';
import { pagemapScan } from './raw.js';
import { scanArg, type ScanArg } from './scan-arg.js';
import { selfPagemapFd } from './self.js';

const TWO32 = 4294967296;
let a: ScanArg | undefined;

function arg(): ScanArg {
  if (a) return a;
  a = scanArg(getPageSize());
  a.arg[PM_SCAN_ARG.category_mask] = BigInt(PAGE_IS.PFNZERO);
  a.arg[PM_SCAN_ARG.category_inverted] = BigInt(PAGE_IS.PFNZERO);
  a.arg[PM_SCAN_ARG.category_anyof_mask] = BigInt(PAGE_IS.PRESENT | PAGE_IS.SWAPPED);
  a.arg[PM_SCAN_ARG.return_mask] = 0n; // one region per run of matching pages
  return a;
}

/**
 * Appends the populated runs of [start, end) to `out` as [start, end) pairs from index `n` on,
 * ascending, shifted by `-shift`; returns the new count of numbers in `out` (which it grows as needed,
 * returning it in `grown.out`). -1 when this kernel or sandbox cannot answer (no PAGEMAP_SCAN, no
 * procfs): the caller then treats the whole range as populated.
 */
export function populated(start: number, end: number, shift: number, grown: { out: Float64Array }, n: number): number {
  if (process.platform !== 'linux') return -1;
  let fd: number;
  try {
    fd = selfPagemapFd();
  } catch {
    return -1;
  }
  const s = arg();
  const arg32 = s.arg32, vec32 = s.vec32;
  put64(arg32, PM_SCAN_ARG.end, end);
  let cur = start;
  let lastEnd = start;
  while (cur < end) {
    put64(arg32, PM_SCAN_ARG.start, cur);
    const k = pagemapScan(fd, s.arg);
    if (k < 0) return -1;
    for (let i = 0; i < k; i++) {
      const j = 6 * i;
      let rs = vec32[j] + vec32[j + 1] * TWO32;
      const re = vec32[j + 2] + vec32[j + 3] * TWO32;
      // Never a page twice, even if a stale walk_end made the kernel walk it again.
      if (re <= lastEnd) continue;
      if (rs < lastEnd) rs = lastEnd;
      let out = grown.out;
      if (n + 2 > out.length) out = grown.out = grow(out, n + 2);
      out[n++] = rs - shift;
      out[n++] = re - shift;
      lastEnd = re;
    }
    let next = get64(arg32, PM_SCAN_ARG.walk_end);
    if (next < lastEnd) next = lastEnd;
    if (next <= cur) break;
    cur = next;
  }
  return n;
}

function grow(a: Float64Array, need: number): Float64Array {
  const b = new Float64Array(Math.max(need, a.length * 2, 64));
  b.set(a);
  return b;
}
