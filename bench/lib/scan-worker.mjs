/**
 * The second thread of the JS parallel scan (bench/lib/parallel.mjs): waits on `ctl[0]` (a
 * generation number; -1 quits), scans the ranges in `params` with the library's own loop
 * (WrittenScanner, on this thread's pagemap fd: the same page tables), writes page offsets into the
 * shared `out`, then sets `ctl[1]` and wakes the main thread. ctl: [gen, done, count, failed].
 * params: [ranges, reset, (start, end, base) × ranges].
 */
import { workerData } from 'node:worker_threads';
import { selfScanner } from '../../dist/sys/pagemap/self.js';

const ctl = new Int32Array(workerData.ctl);
const params = new Float64Array(workerData.params);
const out = new Float64Array(workerData.out);
const scanner = selfScanner();
let seen = 0;
for (;;) {
  Atomics.wait(ctl, 0, seen);
  const gen = Atomics.load(ctl, 0);
  if (gen === seen) continue;
  if (gen < 0) break;
  seen = gen;
  try {
    scanner.into = out;
    scanner.count = 0;
    const reset = params[1] === 1;
    for (let t = 0, n = params[0]; t < n; t++) {
      scanner.bounds[0] = params[2 + 3 * t];
      scanner.bounds[1] = params[3 + 3 * t];
      scanner.bounds[2] = params[4 + 3 * t];
      scanner.scanBounds(reset, 0, null);
    }
    ctl[2] = scanner.count;
    ctl[3] = 0;
  } catch (e) {
    ctl[3] = 1;
    console.error(e);
  } finally {
    scanner.into = null;
  }
  Atomics.store(ctl, 1, 1);
  Atomics.notify(ctl, 1);
}
