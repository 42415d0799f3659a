/**
 * A stress writer thread: bumps a Uint32 counter at byte 0 of random pages of tracked memory, through
 * a view it builds itself from the address (as API.md promises writes from any thread count). Rates
 * vary on purpose: a page written in every interval would be reported whether or not a write was
 * lost, so most of the time writes come in small bursts with pauses, leaving pages clean between
 * checks, with spells of full speed to make writes race the checker's get+reset.
 */
import koffi from 'koffi';
import { parentPort, workerData } from 'node:worker_threads';

const { address, pages, pageSize, seed, control } = workerData;
const ctl = new Int32Array(control); // [0]: stop flag (also what the pauses wait on), [1]: writers running
const counters = new Uint32Array(koffi.view(address, pages * pageSize));
const stride = pageSize / 4;
let x = seed | 1;
function next() {
  // xorshift32: cheap and allocation-free, so the writer spends its time writing
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

let writes = 0;
Atomics.add(ctl, 1, 1); // running: the checker's window may start
while (Atomics.load(ctl, 0) === 0) {
  const mode = next() & 15;
  if (mode === 0) {
    // Full speed: thousands of writes across the region.
    for (let i = 0; i < 4096; i++) {
      Atomics.add(counters, (next() % pages) * stride, 1);
    }
    writes += 4096;
  } else {
    // A small burst on a few hot pages (low indices are hotter), then a short pause.
    const burst = 1 + (next() & 7);
    for (let i = 0; i < burst; i++) {
      const r = next();
      const p = r & 1 ? r % pages : (r >>> 1) % Math.max(1, pages >>> 4);
      Atomics.add(counters, p * stride, 1);
    }
    writes += burst;
    Atomics.wait(ctl, 0, 0, (next() & 255) / 1000); // up to 0.25 ms
  }
}
parentPort?.postMessage(writes);
