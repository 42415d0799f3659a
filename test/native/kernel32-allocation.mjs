/**
 * Run by test/21.kernel32.mechanism.test.ts under node.exe with --expose-gc and a 128 MiB young
 * generation (so no collection hides what a loop allocated): heap growth per scan of the kernel32
 * mechanism in steady state, into a Float64Array and into a sink, and a control that copies the
 * answer into a new array each call. Growth over 4n calls less growth over n, per 3n calls, is what
 * one call allocates, free of the cost of measuring. Prints JSON.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { kernel32Mechanism } from '../../dist/mechanisms/kernel32/index.js';

const P = 4096;
const n = Number(process.argv[2] || 20000);
const { memory, tracker } = kernel32Mechanism.allocate(64 * P, () => {});
const u8 = new Uint8Array(memory.view(0, 64 * P));
const query = (into, sink) => ({ bounds: new Float64Array([memory.address, memory.address + 64 * P, memory.address]), reset: true, maxPages: 0, into, sink, count: 0 });
const gcs = [];
new PerformanceObserver((list) => gcs.push(...list.getEntries().map((e) => e.startTime))).observe({ entryTypes: ['gc'] });

// Two pages written per call, both reported and re-armed.
const make = (q, extra) => (k) => {
  let pages = 0;
  for (let i = 0; i < k; i++) {
    u8[(i & 63) * P] = i;
    u8[((i + 17) & 63) * P] = i;
    q.count = 0;
    tracker.scan(q);
    pages += q.count;
    if (extra) extra(q);
  }
  return pages;
};
let kept = [];
const tick = () => new Promise((r) => setImmediate(r));
async function growth(f, k) {
  kept = [];
  globalThis.gc();
  await tick();
  const t0 = performance.now();
  const h0 = process.memoryUsage().heapUsed;
  const pages = f(k);
  const h1 = process.memoryUsage().heapUsed;
  const t1 = performance.now();
  await tick();
  return { bytes: h1 - h0, pages, gcs: gcs.filter((t) => t >= t0 && t <= t1).length };
}
const methods = {
  into: make(query(new Float64Array(64), null)),
  sink: make(query(null, { region() {} })),
  // Every copy is kept (until the next measurement), so the optimizer cannot drop it.
  'copy (control)': make(query(new Float64Array(64), null), (q) => kept.push(Array.from(q.into.subarray(0, q.count)))),
};
const result = {};
for (const [name, f] of Object.entries(methods)) {
  f(n);
  const a = await growth(f, n);
  const b = await growth(f, 4 * n);
  result[name] = { perCall: (b.bytes - a.bytes) / (3 * n), gcs: a.gcs + b.gcs, pagesOk: a.pages === 2 * n && b.pages === 8 * n };
}
tracker.close();
memory.release();
process.stdout.write(JSON.stringify(result));
