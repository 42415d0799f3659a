/**
 * close() while native code writes into the buffer (issue 9, case 2). Node's thread pool
 * (crypto.randomFill, fs.read, zlib) holds the raw pointer, and detaching the JS views does not
 * stop it: close() must neither let it fault (it segfaulted) nor let its late write land in memory
 * mapped later for someone else. Run in a child process: the failure mode is SIGSEGV.
 */
import { expect, it } from 'vitest';
import { describeKernel } from './support/kernel.js';
import { runWriter } from './support/native-writer.js';


describeKernel('close() while Node\'s thread pool writes into the buffer', () => {
  it('fs.read blocked on a FIFO writes after close(): into a placeholder, never into a newcomer at that address', () => {
    // The read(2) is certain to write after close(): its data is written to the FIFO only then.
    const r = runWriter('ww', 'fifo');
    expect(r.claimBeforeData).toBe('EEXIST'); // the range stays ours while the pointer may be used
    expect(r.landedInNewcomer).toBeNull();
    expect(r.err).toBeNull();
    expect(r.n).toBeGreaterThan(0);
    expect([r.heldBeforeCollection, r.heldAfterCollection]).toEqual([1, 0]); // given back once every view was collected
  });

  it('crypto.randomFill of 256 MiB, close() on the same tick: no crash, three rounds', () => {
    const r = runWriter('ww', 'randomFill');
    expect(r.results).toEqual([0, 1, 2].map(() => ({ err: null, claimWhileFilling: 'EEXIST', lengthAfter: 0 })));
  });
});
