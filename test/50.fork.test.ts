/**
 * A forked child. In Node the child of a fork() never runs JS again (V8 maps its heap
 * VM_DONTCOPY, so the child faults on its first bytecode), so what a fork can break is the
 * parent's tracking: after a fork every private page is copy-on-write, and the parent's next write
 * to a page is a COW fault rather than a write-protect fault. These tests fork from native code
 * (a C helper compiled at test time) and check that the parent still sees exactly its own writes,
 * never the child's, and that no descriptor of the library leaks into an exec'd child.
 */
import { spawnSync } from 'node:child_process';
import koffi from 'koffi';
import { afterEach, expect, it } from 'vitest';
import { WriteWatch } from '../src/index.js';
import { cc, compile } from './native/build.js';
import { CI, describeKernel, PAGE } from './support/kernel.js';

let live: WriteWatch[] = [];
afterEach(() => {
  for (const ww of live) ww.close();
  live = [];
});

/** Tests needing the C compiler: skipped locally without one, failing under CI=true. */
const itCc = cc || CI ? it : it.skip;

function forkHelper(): (addr: bigint | null) => number {
  const lib = koffi.load(compile('fork-write', { shared: true }));
  return lib.func('int fork_write_exit(void *addr)') as (addr: bigint | null) => number;
}

describeKernel('50 fork: the parent keeps exact tracking, the child writes its own copy', () => {
  itCc('pages written before and after a fork are reported, the child write is not', () => {
    const forkWriteExit = forkHelper();
    const ww = WriteWatch.allocate(8 * PAGE);
    live.push(ww);
    const u8 = new Uint8Array(ww.buffer);
    u8[1 * PAGE] = 1; // before the fork, dirty at fork time
    u8[4 * PAGE] = 1; // before the fork, then reset: clean at fork time but populated
    ww.reset(4 * PAGE, PAGE);
    expect(ww.get()).toEqual([1 * PAGE]);

    // The child writes page 2 of its own copy.
    expect(forkWriteExit(ww.address + BigInt(2 * PAGE))).toBe(0);
    expect(ww.get()).toEqual([1 * PAGE]);

    // Parent writes after the fork hit COW-shared pages: populated-and-clean (4), dirty (1),
    // never touched (6). Each must be reported once.
    u8[4 * PAGE] = 2;
    u8[1 * PAGE] = 2;
    u8[6 * PAGE] = 2;
    expect(ww.get({ reset: true })).toEqual([1 * PAGE, 4 * PAGE, 6 * PAGE]);
    expect(ww.get()).toEqual([]);
    expect(u8[2 * PAGE]).toBe(0); // the child's write stayed in the child

    // Tracking stays exact afterwards.
    u8[7 * PAGE] = 1;
    expect(ww.get({ reset: true })).toEqual([7 * PAGE]);
    expect(ww.get()).toEqual([]);
  });

  itCc('repeated forks while pages are written stay exact', () => {
    const forkWriteExit = forkHelper();
    const ww = WriteWatch.allocate(16 * PAGE);
    live.push(ww);
    const u8 = new Uint8Array(ww.buffer);
    for (let round = 0; round < 20; round++) {
      const expected: number[] = [];
      for (let p = round % 3; p < 16; p += 1 + (round % 4)) {
        u8[p * PAGE + round] = round;
        expected.push(p * PAGE);
      }
      expect(forkWriteExit(ww.address + BigInt(((round * 5) % 16) * PAGE + 100))).toBe(0);
      expect(ww.get({ reset: true })).toEqual(expected);
    }
    expect(ww.get()).toEqual([]);
  });

  it("no userfaultfd or pagemap descriptor leaks into a spawned child (O_CLOEXEC)", () => {
    const ww = WriteWatch.allocate(2 * PAGE);
    live.push(ww);
    ww.get(); // the pagemap fd is open by now
    const r = spawnSync('ls', ['-l', '/proc/self/fd/'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ 0 -> /); // it did list the child's descriptors
    expect(r.stdout).not.toMatch(/userfaultfd|pagemap/);
  });
});
