// How much another thread changes getInto({ reset: true }) (docs/performance.md): 64 MiB, 1 % of
// pages (every 100th) written per frame. (a) the main thread writes, then scans; (b) a worker
// writes, then the main thread scans (the worker waits); (c) a worker keeps writing other pages
// while the main thread scans; (d) a worker spins without writing. Medians of FRAMES frames.
//   npm run build && node bench/worker-writing.mjs
import { Worker } from 'node:worker_threads';
import { loadavg } from 'node:os';
import { WriteWatch } from '../dist/index.js';

const SIZE = 64 << 20, PAGE = 4096, FRAMES = 1000, WARM = 100;
const sab = new SharedArrayBuffer(SIZE, { maxByteLength: SIZE });
const ww = WriteWatch.track(sab);
const out = new Float64Array(SIZE / PAGE);
const bytes = new Uint8Array(sab);
const ctl = new Int32Array(new SharedArrayBuffer(16));
const median = (a) => a.sort((x, y) => x - y)[a.length >> 1];
const q = (a, p) => a.sort((x, y) => x - y)[Math.floor(a.length * p)];
const write = (frame) => { for (let p = frame % 100; p < SIZE / PAGE; p += 100) bytes[p * PAGE + (frame & 4095)] = frame; };

function run(label, before) {
  const t = [];
  for (let f = 0; f < FRAMES + WARM; f++) {
    before(f);
    const t0 = process.hrtime.bigint();
    const n = ww.getInto(out, { reset: true });
    const dt = Number(process.hrtime.bigint() - t0) / 1000;
    if (n < 160) throw new Error(`frame ${f}: ${n} pages`);
    if (f >= WARM) t.push(dt);
  }
  console.log(`${label.padEnd(52)} median ${median(t).toFixed(1)} µs  p25-p75 ${q(t, 0.25).toFixed(1)}-${q(t, 0.75).toFixed(1)} µs`);
}

const worker = new Worker(`
  const { workerData: { sab, ctl } } = require('node:worker_threads');
  const bytes = new Uint8Array(sab), c = new Int32Array(ctl), SIZE = sab.byteLength, PAGE = 4096;
  for (;;) {
    Atomics.wait(c, 0, 0);
    const cmd = Atomics.load(c, 0), frame = Atomics.load(c, 1);
    if (cmd === 3) break;
    for (let p = frame % 100; p < SIZE / PAGE; p += 100) bytes[p * PAGE + (frame & 4095)] = frame;
    if (cmd === 1) { Atomics.store(c, 0, 0); Atomics.notify(c, 0); continue; }
    // cmd 2: keep writing pages 50 apart from this frame's (other pages) until told to stop
    Atomics.store(c, 2, 1); Atomics.notify(c, 2);
    let k = 0;
    const spinOnly = Atomics.load(c, 3) === 1;
    while (Atomics.load(c, 0) === 2) { if (spinOnly) k++; else bytes[((frame + 50) % 100 + 100 * (k++ % 160)) * PAGE] = k; }
    Atomics.store(c, 2, 0);
    Atomics.store(c, 0, 0); Atomics.notify(c, 0);
  }`, { eval: true, workerData: { sab, ctl: ctl.buffer } });

console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, ${ww.mechanism}`);
run('(a) main thread writes, then scans', write);
run('(b) a worker writes, then main scans', (f) => {
  Atomics.store(ctl, 1, f); Atomics.store(ctl, 0, 1); Atomics.notify(ctl, 0);
  while (Atomics.load(ctl, 0) !== 0) Atomics.wait(ctl, 0, 1);
});
let writing = false;
run('(c) a worker keeps writing during the scan', (f) => {
  if (writing) { Atomics.store(ctl, 0, 4); while (Atomics.load(ctl, 0) !== 0) Atomics.wait(ctl, 0, 4); }
  Atomics.store(ctl, 1, f); Atomics.store(ctl, 0, 2); Atomics.notify(ctl, 0);
  while (Atomics.load(ctl, 2) !== 1) Atomics.wait(ctl, 2, 0);
  writing = true;
});
Atomics.store(ctl, 0, 4); while (Atomics.load(ctl, 0) !== 0) Atomics.wait(ctl, 0, 4);
writing = false; Atomics.store(ctl, 3, 1);
run('(d) a worker spins (no writes) during the scan', (f) => {
  if (writing) { Atomics.store(ctl, 0, 4); while (Atomics.load(ctl, 0) !== 0) Atomics.wait(ctl, 0, 4); }
  Atomics.store(ctl, 1, f); Atomics.store(ctl, 0, 2); Atomics.notify(ctl, 0);
  while (Atomics.load(ctl, 2) !== 1) Atomics.wait(ctl, 2, 0);
  writing = true;
});
Atomics.store(ctl, 0, 4); while (Atomics.load(ctl, 0) !== 0) Atomics.wait(ctl, 0, 4);
run('(a) again: main thread writes, then scans', write);
Atomics.store(ctl, 0, 3); Atomics.notify(ctl, 0);
await worker.terminate();
ww.close();
console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
