/**
 * Run by heap.mjs with --expose-gc and a 128 MiB young generation. Heap growth per call of a
 * method in steady state: after a warm-up, collect, then read how much heapUsed grows over `n`
 * calls and over `4n` calls; the difference divided by `3n` is what one call allocates, free of
 * the constant cost of measuring. GCs that ran during a loop are counted (with none, heapUsed
 * growth is exactly what was allocated).
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { WriteWatch } from 'writewatch';

const iters = Number(process.argv[2] || 50000);
const page = 4096;
const ww = WriteWatch.allocate(64 * page);
const u8 = new Uint8Array(ww.buffer);
const out = new Float64Array(64);
const RESET = Object.freeze({ reset: true });
const gcTimes = [];
new PerformanceObserver((list) => gcTimes.push(...list.getEntries().map((e) => e.startTime))).observe({ entryTypes: ['gc'] });

// Two pages written per call, both reported and reset.
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

const tick = () => new Promise((r) => setImmediate(r));

async function growth(f, n) {
  globalThis.gc();
  await tick();
  const t0 = performance.now();
  const h0 = process.memoryUsage().heapUsed;
  const pages = f(n);
  const h1 = process.memoryUsage().heapUsed;
  const t1 = performance.now();
  await tick();
  return { bytes: h1 - h0, pages, gcs: gcTimes.filter((t) => t >= t0 && t <= t1).length };
}

const result = {};
for (const [name, f] of Object.entries(methods)) {
  f(iters); // steady state: JIT-compiled, every lazy structure made
  const a = await growth(f, iters);
  const b = await growth(f, 4 * iters);
  const ok = a.pages === 2 * iters && b.pages === 8 * iters;
  result[name] = { iters: 4 * iters, growth: b.bytes, perCall: (b.bytes - a.bytes) / (3 * iters), gcs: a.gcs + b.gcs, pagesOk: ok };
}
ww.close();
process.stdout.write(JSON.stringify(result));
