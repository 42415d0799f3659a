/**
 * VirtualFree(MEM_RELEASE) while Node's thread pool writes into a viewMemory() buffer (issue 9,
 * case 2): no crash, and the late write never lands in memory mapped later at that address. In a
 * child process (the old failure mode is SIGSEGV); the child is test/native/native-writer.mjs.
 */
import { expect, it } from 'vitest';
import { describeKernel } from './support/kernel.js';
import { runWriter } from './support/native-writer.js';


describeKernel('win32: MEM_RELEASE while Node\'s thread pool writes into a view', () => {
  it('fs.read blocked on a FIFO writes after MEM_RELEASE: into a placeholder, never into a newcomer', () => {
    const r = runWriter('win32', 'fifo');
    expect(r.claimBeforeData).toBe('EEXIST');
    expect(r.landedInNewcomer).toBeNull();
    expect(r.err).toBeNull();
    expect([r.heldBeforeCollection, r.heldAfterCollection]).toEqual([1, 0]);
  });

  it('crypto.randomFill of 256 MiB, MEM_RELEASE on the same tick: no crash, three rounds', () => {
    const r = runWriter('win32', 'randomFill');
    expect(r.results).toEqual([0, 1, 2].map(() => ({ err: null, claimWhileFilling: 'EEXIST', lengthAfter: 0 })));
  });
});

describeKernel('win32: the released range stays reserved until its views are collected', () => {
  it('virtualAlloc at the released base is 487 while a view is reachable; the range is let go once it was collected', async () => {
    const w = await import('../src/win32/index.js');
    const v8 = await import('node:v8');
    const vm = await import('node:vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const { heldAllocations: heldMappings } = await import('../src/win32/process/views.js');
    const settle = async () => {
      // Work-counted: a few collections, each followed by a turn of the event loop for the callbacks.
      for (let i = 0; i < 10 && heldMappings() > 0; i++) {
        gc();
        await new Promise((r) => setImmediate(r));
      }
    };
    await settle(); // what earlier code (the probe) released
    expect(heldMappings()).toBe(0);
    const size = 0x10000;
    // In a function of its own, so that nothing but `keep` holds the view.
    const keep: { view?: Uint8Array } = {};
    const base = (() => {
      const b = w.virtualAlloc(0n, size, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
      expect(b).not.toBe(0n);
      keep.view = new Uint8Array(w.viewMemory(b, size));
      expect(w.virtualFree(b, 0, w.MEM_RELEASE)).toBe(true);
      return b;
    })();
    expect(keep.view!.length).toBe(0); // detached
    w.setLastError(0);
    expect(w.virtualAlloc(base, size, w.MEM_RESERVE, w.PAGE_NOACCESS)).toBe(0n);
    expect(w.getLastError()).toBe(w.ERROR_INVALID_ADDRESS);
    expect(heldMappings()).toBe(1);
    delete keep.view;
    // Counted by the library, not by reserving the address again: something else may take a freed
    // address first.
    await settle();
    expect(heldMappings()).toBe(0);
  });
});
