/**
 * Can a scan split across threads beat the single-threaded C loop? On the WriteWatches' own
 * memory, alternating call by call (order rotated each repetition):
 * - C, 1 thread: bench/c/scan.c's loop (the reference);
 * - C, 2 threads: the same loop on two halves cut at a 2 MiB boundary, a helper pthread waiting
 *   on a futex between calls (wwb_par_scan), the halves' offsets then moved together;
 * - JS getInto, 1 thread;
 * - JS, 2 threads: getInto on the first half on the main thread while a worker_thread, woken with
 *   Atomics.notify on a SharedArrayBuffer, runs the library's loop on the second half into a shared
 *   Float64Array; the main thread then waits (Atomics.wait) and copies the worker's offsets after
 *   its own.
 * get only (pages stay written) and get+reset (the pages written again before each call).
 * 16 GiB is four 4 GiB WriteWatches (Node 20's buffer limit), sparse: only the written pages are
 * ever populated, so it needs about the written fraction of 16 GiB of RAM.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { WriteWatch } from 'writewatch';
import { now, since } from './clock.mjs';
import { ratioStats, stridedPages } from './same.mjs';
import { median } from './stats.mjs';

const MAX_WW = 2 ** 32;
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

export async function parallelScan({ native, page, sizes, sparse, fractions, sparseFractions = fractions.filter((f) => f < 1), reps, log = () => {} }) {
  const cells = [];
  const worker = await startWorker(page, Math.max(...sizes, ...sparse));
  try {
    for (const [length, isSparse] of [...sizes.map((s) => [s, false]), ...sparse.map((s) => [s, true])]) {
      for (const fraction of isSparse ? sparseFractions : fractions) {
        for (const reset of [false, true]) {
          const cell = runCell({ native, page, length, sparse: isSparse, fraction, reset, reps, worker });
          cells.push(cell);
          log(`  ${length / 2 ** 30} GiB${isSparse ? ' sparse' : ''} ${fraction * 100} % ${reset ? 'get+reset' : 'get'} (load ${cell.load}): ` + cell.ways.map((w) => `${w.way} ${(w.ns / 1e3).toFixed(0)} µs${w.speedup ? ` ×${w.speedup.median.toFixed(2)}` : ''}`).join(', '));
        }
      }
    }
  } finally {
    await worker.stop();
  }
  return {
    intro:
      'The C loop and the library\'s loop, on one thread and split in two halves across two threads (C: a helper pthread woken through a futex; JS: a worker_thread woken with Atomics.notify, the main thread scanning its own half meanwhile, then waiting with Atomics.wait and copying the worker\'s offsets after its own), on the same WriteWatch memory, alternating call by call. Speed-up: the single-threaded C loop\'s time over this way\'s, median of same-repetition ratios (p25–p75). 16 GiB: four 4 GiB WriteWatches, sparse (only written pages populated). The load average is the machine\'s at the time: 2 vCPUs shared with other work, so a second thread often has no core to run on.',
    cells,
  };
}

function runCell({ native, page, length, sparse, fraction, reset, reps, worker }) {
  const load = loadavg();
  const wws = [];
  const c = native.region(Math.min(length, MAX_WW));
  const pool = c.pool(2);
  try {
    for (let off = 0; off < length; off += MAX_WW) wws.push(WriteWatch.allocate(Math.min(MAX_WW, length - off)));
    const words = page / 4;
    const u32s = wws.map((w) => new Uint32Array(w.buffer));
    if (!sparse) {
      for (const u of u32s) for (let p = 0; p < u.length / words; p++) u[p * words] = 1;
      for (const w of wws) w.reset();
    }
    const lists = wws.map((w) => stridedPages(w.byteLength / page, fraction));
    const k = lists.reduce((a, l) => a + l.length, 0);
    let value = 1;
    const dirty = () => {
      const v = ++value;
      for (let i = 0; i < wws.length; i++) {
        const u = u32s[i], l = lists[i];
        for (let j = 0; j < l.length; j++) u[l[j] * words + 1] = v;
      }
    };
    dirty();
    const opts = Object.freeze({ reset });
    const outs = wws.map((w, i) => new Float64Array(Math.max(1, lists[i].length)));
    const all = new Float64Array(Math.max(1, k));
    // The halves: by WriteWatch when there are several, else the one cut at a 2 MiB boundary.
    const pmd = page * (page / 8);
    const cut = wws.length > 1 ? null : Math.round(length / 2 / pmd) * pmd;
    const firstHalf = wws.length > 1 ? wws.slice(0, wws.length / 2) : wws;
    const secondRanges = wws.length > 1
      ? wws.slice(wws.length / 2).map((w) => [Number(w.address), Number(w.address) + w.byteLength, Number(w.address)])
      : [[Number(wws[0].address) + cut, Number(wws[0].address) + length, Number(wws[0].address)]];
    const firstOpts = cut === null ? opts : Object.freeze({ reset, length: cut });
    const methods = {
      'C, 1 thread': () => {
        let ns = 0, pages = 0;
        for (const w of wws) {
          const r = c.scanAt(Number(w.address), w.byteLength, reset);
          ns += r.ns;
          pages += r.pages;
        }
        return { ns, pages };
      },
      'C, 2 threads': () => {
        let ns = 0, pages = 0;
        for (const w of wws) {
          const r = pool.scan(Number(w.address), w.byteLength, reset);
          ns += r.ns;
          pages += r.pages;
        }
        return { ns, pages };
      },
      'JS getInto, 1 thread': () => {
        const t0 = now();
        let pages = 0;
        for (let i = 0; i < wws.length; i++) pages += wws[i].getInto(outs[i], opts);
        return { ns: since(t0), pages };
      },
      'JS, 2 threads (worker)': () => {
        const t0 = now();
        worker.start(secondRanges, reset);
        let pages = 0;
        for (let i = 0; i < firstHalf.length; i++) pages += firstHalf[i].getInto(i === 0 ? all : outs[i], firstOpts);
        const theirs = worker.wait();
        all.set(worker.out.subarray(0, theirs), pages);
        return { ns: since(t0), pages: pages + theirs };
      },
    };
    const names = Object.keys(methods);
    const times = Object.fromEntries(names.map((n) => [n, []]));
    const bad = [];
    const w0 = Date.now();
    for (let w = 0; w < 100 && (w < 5 || Date.now() - w0 < 500); w++) for (const n of names) (reset && dirty(), methods[n]());
    for (let r = 0; r < reps; r++) {
      for (let i = 0; i < names.length; i++) {
        const n = names[(i + r) % names.length];
        if (reset) dirty();
        const { ns, pages } = methods[n]();
        if (pages !== k) bad.push(`${n} found ${pages} of ${k} pages`);
        else if (n === 'JS, 2 threads (worker)' && wws.length === 1) {
          // The two halves put together are the answer, in order.
          const l = lists[0];
          for (let j = 0; j < k; j++) if (all[j] !== l[j] * page) (bad.push(`${n}: offset ${j} is ${all[j]}, not ${l[j] * page}`), (j = k));
        } else if (n === 'C, 2 threads' && wws.length === 1) {
          const l = lists[0];
          for (const j of [0, k >> 1, k - 1]) if (c.result(j) !== l[j] * page) bad.push(`${n}: offset ${j} is ${c.result(j)}, not ${l[j] * page}`);
        }
        times[n].push(ns);
      }
    }
    const ref = 'C, 1 thread';
    return {
      length,
      sparse,
      fraction,
      reset,
      k,
      load,
      loadAfter: loadavg(),
      times,
      ways: names.map((n) => ({
        way: n,
        threads: n.includes('2 threads') ? 2 : 1,
        ns: median(times[n]),
        speedup: n === ref ? null : ratioStats(times, ref, n),
        bad: bad.filter((b) => b.startsWith(n)),
      })),
    };
  } finally {
    pool.close();
    c.close();
    for (const w of wws) w.close();
  }
}

async function startWorker(page, maxLength) {
  const ctl = new SharedArrayBuffer(16);
  const params = new SharedArrayBuffer(8 * (2 + 3 * 8));
  // Offsets for at most half of the largest region; its pages cost memory only once written.
  const out = new SharedArrayBuffer(8 * Math.ceil(maxLength / page / 2 + 1));
  const w = new Worker(new URL('./scan-worker.mjs', import.meta.url), { workerData: { ctl, params, out } });
  const c = new Int32Array(ctl), p = new Float64Array(params);
  let gen = 0;
  await new Promise((resolve, reject) => (w.once('online', resolve), w.once('error', reject)));
  return {
    out: new Float64Array(out),
    start(ranges, reset) {
      p[0] = ranges.length;
      p[1] = reset ? 1 : 0;
      ranges.forEach(([s, e, b], i) => ((p[2 + 3 * i] = s), (p[3 + 3 * i] = e), (p[4 + 3 * i] = b)));
      Atomics.store(c, 1, 0);
      Atomics.store(c, 0, ++gen);
      Atomics.notify(c, 0);
    },
    wait() {
      while (Atomics.load(c, 1) === 0) Atomics.wait(c, 1, 0);
      if (c[3]) throw new Error('the scanning worker failed (see stderr)');
      return c[2];
    },
    async stop() {
      Atomics.store(c, 0, -1);
      Atomics.notify(c, 0);
      await w.terminate();
    },
  };
}
