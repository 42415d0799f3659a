/**
 * Run with --expose-gc by heap.mjs. Heap growth per call of a method in steady state: warm up,
 * collect, then count what heapUsed grows by over many calls, and how many GCs ran meanwhile (with
 * none, the growth is exactly what the calls allocated).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { WriteWatch } from 'writewatch';

const iters = Number(process.argv[2] || 50000);
const page = 4096;
const ww = WriteWatch.allocate(64 * page);
const u8 = new Uint8Array(ww.buffer);
const out = new Float64Array(64);
const RESET = Object.freeze({ reset: true });
let gcs = 0;
new PerformanceObserver((list) => (gcs += list.getEntries().length)).observe({ entryTypes: ['gc'] });

const methods = {
  getInto(n) {
    let pages = 0;
    for (let i = 0; i < n; i++) {
      u8[(i & 63) * page] = i;
      u8[((i + 17) & 63) * page] = i;
      pages += ww.getInto(out, RESET);
    }
    return pages;
  },
  get(n) {
    let pages = 0;
    for (let i = 0; i < n; i++) {
      u8[(i & 63) * page] = i;
      u8[((i + 17) & 63) * page] = i;
      pages += ww.get(RESET).length;
    }
    return pages;
  },
};

const result = {};
for (const [name, f] of Object.entries(methods)) {
  f(iters); // steady state: JIT-compiled, every lazy structure made
  globalThis.gc();
  await new Promise((r) => setImmediate(r)); // let the observer report the forced GC first
  gcs = 0;
  const h0 = process.memoryUsage().heapUsed;
  const pages = f(iters);
  const h1 = process.memoryUsage().heapUsed;
  await new Promise((r) => setImmediate(r));
  result[name] = { iters, pages, growth: h1 - h0, perCall: (h1 - h0) / iters, gcs };
}
ww.close();
process.stdout.write(JSON.stringify(result));
