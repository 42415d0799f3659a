/**
 * The size limit per Node version (issue 10, Node matrix): a view is at most
 * buffer.constants.MAX_LENGTH bytes, 2^32 on Node 20 and 2^53 - 1 on 22, 24 and 26. Above 4 GiB
 * where Node allows it, on memory that needs no RAM: a 5 GiB MEM_RESERVE is MAP_NORESERVE, and
 * committing a page of it is an mprotect, so only the one page written is ever populated.
 */
import { constants } from 'node:buffer';
import { afterEach, expect, it } from 'vitest';
import * as w from '../src/win32/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

const GiB = 2 ** 30;
const SIZE = 5 * GiB;
const live: bigint[] = [];
afterEach(() => {
  for (const b of live.splice(0)) w.virtualFree(b, 0, w.MEM_RELEASE);
});

function reserve(): bigint {
  const base = w.virtualAlloc(0n, SIZE, w.MEM_RESERVE | w.MEM_WRITE_WATCH, w.PAGE_NOACCESS);
  expect(base, `VirtualAlloc failed with ${w.getLastError()}`).not.toBe(0n);
  live.push(base);
  return base;
}

describeKernel('win32: a 5 GiB write-watched reservation (MAP_NORESERVE: no RAM needed)', () => {
  const at = 4.5 * GiB + 3 * PAGE; // past 2^32
  it.skipIf(constants.MAX_LENGTH < SIZE)(
    `viewMemory over all 5 GiB, a write at +4.5 GiB reported exactly (Node ${process.versions.node}: MAX_LENGTH ${constants.MAX_LENGTH})`,
    () => {
      const base = reserve();
      expect(w.virtualAlloc(base + BigInt(at), PAGE, w.MEM_COMMIT, w.PAGE_READWRITE)).toBe(base + BigInt(at));
      const view = new Uint8Array(w.viewMemory(base, SIZE));
      expect(view.byteLength).toBe(SIZE);
      view[at + 17] = 1;
      const addrs = new BigUint64Array(8);
      const count = { value: 8 };
      expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, base, SIZE, addrs, count, { value: 0 })).toBe(0);
      expect([...addrs.subarray(0, count.value)]).toEqual([base + BigInt(at)]);
    },
  );

  it.skipIf(constants.MAX_LENGTH >= SIZE)(
    `Node ${process.versions.node} (MAX_LENGTH ${constants.MAX_LENGTH}): a 5 GiB view is ERR_OUT_OF_RANGE naming that bound`,
    () => {
      const base = reserve();
      let err: any;
      try {
        w.viewMemory(base, SIZE);
      } catch (e) {
        err = e;
      }
      expect(err?.code).toBe('ERR_OUT_OF_RANGE');
      expect(err?.message).toContain('2 ** 32');
      // The largest view this Node allows still works.
      expect(w.viewMemory(base, constants.MAX_LENGTH).byteLength).toBe(constants.MAX_LENGTH);
    },
  );
});
