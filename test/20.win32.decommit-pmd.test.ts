/**
 * Known kernel bug (docs/platforms.md): on kernels before 7.2 without the July 2026 PAGEMAP_SCAN
 * backports, a 2 MiB range left with no page table (a whole-2 MiB MADV_DONTNEED, then 6.14+'s
 * empty page-table reclaim) reads clean and is never re-armed by a scan. VirtualFree(MEM_DECOMMIT)
 * is the library's own MADV_DONTNEED, so it re-arms with UFFDIO_WRITEPROTECT, which installs the
 * markers there too: after decommitting a whole aligned 2 MiB and recommitting it, the range reads
 * clean and a write to one page of it is reported, alone. The negative control zaps without
 * re-arming: the zapped pages must then read wrong (written) on every kernel, which proves the
 * check can see the difference the re-arm makes.
 */
import { expect, it } from 'vitest';
import { MADV_DONTNEED } from '../src/sys/libc/abi.js';
import { libc } from '../src/sys/libc/libc.js';
import * as w from '../src/win32/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

const P = BigInt(PAGE);
const PMD = 2 * 1024 * 1024;

function written(base: bigint, size: number, reset = false): number[] {
  const cap = size / PAGE + 1;
  const addrs = new BigUint64Array(cap);
  const count = { value: cap };
  expect(w.getWriteWatch(reset ? w.WRITE_WATCH_FLAG_RESET : 0, base, size, addrs, count, { value: 0 })).toBe(0);
  return [...addrs.subarray(0, count.value)].map((a) => Number((a - base) / P));
}

/** An allocation with one 2 MiB-aligned 2 MiB block inside, every page written then reset. */
function setUp(): { b: bigint; block: bigint; view: Uint8Array } {
  const b = w.virtualAlloc(0n, 2 * PMD, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
  expect(b).not.toBe(0n);
  const block = (b + BigInt(PMD) - 1n) & ~BigInt(PMD - 1);
  const view = new Uint8Array(w.viewMemory(b, 2 * PMD));
  for (let i = 0; i < 2 * PMD; i += PAGE) view[i] = 1;
  written(b, 2 * PMD, true);
  return { b, block, view };
}

describeKernel('20 win32: decommit of a whole aligned 2 MiB re-arms it (PMD-hole kernel bug)', () => {
  it('decommit + recommit of an aligned 2 MiB block: clean, then exactly the page written', () => {
    const { b, block, view } = setUp();
    try {
      expect(w.virtualFree(block, PMD, w.MEM_DECOMMIT)).toBe(true);
      expect(w.virtualAlloc(block, PMD, w.MEM_COMMIT, w.PAGE_READWRITE)).toBe(block);
      expect(written(b, 2 * PMD)).toEqual([]);
      const page = Number(block - b) / PAGE + 7;
      view[page * PAGE + 3] = 9;
      expect(written(b, 2 * PMD)).toEqual([page]);
    } finally {
      expect(w.virtualFree(b, 0, w.MEM_RELEASE)).toBe(true);
    }
  });

  it('negative control: the same zap without the re-arm reads wrong', () => {
    const { b, block, view } = setUp();
    try {
      // What decommit does, less the re-arm, then the same one write: the zapped entries read as
      // written (on the buggy kernels the hole reads clean until written, and the page table the
      // write allocates has no markers): either way not the one page the check above expects.
      expect(libc().madvise(block, PMD, MADV_DONTNEED)).toBe(0);
      const page = Number(block - b) / PAGE + 7;
      view[page * PAGE + 3] = 9;
      expect(written(b, 2 * PMD)).not.toEqual([page]);
    } finally {
      expect(w.virtualFree(b, 0, w.MEM_RELEASE)).toBe(true);
    }
  });
});
