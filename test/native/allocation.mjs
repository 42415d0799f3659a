/**
 * Run by test/50.resources.test.ts with --expose-gc and a 64 MiB young generation: how many bytes
 * of V8 heap each getInto / get call allocates, measured directly as the growth of new space (where
 * every JS allocation starts) over a window of 50,000 calls after a GC, with no GC during it (64 MiB
 * holds what even get() allocates). The steady state is what is claimed: until the optimizing
 * compiler's code is in (later on a loaded machine: it compiles on a background thread), numbers
 * are boxed, so the least of 6 windows counts. What measuring itself allocates (an empty window)
 * is subtracted. Prints {"getInto": bytes per call, "get": bytes per call}.
 */
import v8 from 'node:v8';
import { WriteWatch, probe } from 'writewatch';

const P = probe().pageSize;
const ww = WriteWatch.allocate(64 * P);
const u8 = new Uint8Array(ww.buffer);
const out = new Float64Array(64);
const opts = { reset: true };
const N = 50_000;
const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_used_size;
const calls = {
  getInto: () => ww.getInto(out, opts),
  get: () => ww.get(opts), // the control: returns a new array every call, which must show
};
function window(call, n) {
  globalThis.gc();
  const before = newSpace();
  for (let i = 0; i < n; i++) {
    u8[(i & 63) * P] = i; // one page written per call: each call finds, reports and resets one
    call();
  }
  return newSpace() - before;
}
const result = {};
for (const [name, call] of Object.entries(calls)) {
  window(call, 20_000); // warm up
  const overhead = window(call, 0);
  let least = Infinity;
  for (let w = 0; w < 6; w++) least = Math.min(least, window(call, N) - overhead);
  result[name] = least / N;
}
ww.close();
console.log(JSON.stringify(result));
