#!/usr/bin/env node
/**
 * `node scripts/bench-ratio.mjs [--size MiB] [--fraction F] [--reps N] [--json FILE]`: the
 * benchmark's target cell alone (get+reset of 1 GiB with 1 % of its pages written at random)
 * against the C loop (bench/c/scan.c, the kernel calls with nothing around them) on the very same
 * memory, in alternation, caches evicted before each call. For places where the whole bench is too
 * long or its absolute times mean nothing (emulated machines): only the ratios are the result.
 * Uses the bench's own pieces (bench/lib); needs a C compiler (`cc`, or CC).
 */
import { writeFileSync } from 'node:fs';
import { WriteWatch } from 'writewatch';
import { evictCaches } from '../bench/lib/evict.mjs';
import { loadNative } from '../bench/lib/native.mjs';
import { pattern } from '../bench/lib/patterns.mjs';

const argv = process.argv.slice(2);
const opt = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const sizeMiB = Number(opt('--size', 1024));
const fraction = Number(opt('--fraction', 0.01));
const reps = Number(opt('--reps', 9));
const jsonOut = opt('--json');
const log = (s) => process.stderr.write(`bench-ratio: ${s}\n`);

const c = loadNative(log);
if (!c) process.exit(2);
const ww = WriteWatch.allocate(sizeMiB * 2 ** 20);
const page = ww.granularity;
const pages = ww.byteLength / page;
const u8 = new Uint8Array(ww.buffer);
// Every page populated once, then clean: the steady state of a buffer in use.
for (let p = 0; p < pages; p++) u8[p * page] = 1;
ww.get({ reset: true });
// The C side's context (never written, so it costs no memory); it scans the WriteWatch's own pages.
const handle = c.region(ww.byteLength);
const written = pattern('random', pages, fraction, 42);
const out = new Float64Array(written.length);
let value = 1;
const dirty = () => {
  value = (value + 1) & 0xff || 1;
  for (let i = 0; i < written.length; i++) u8[written[i] * page + (i & 63)] = value;
};
const methods = {
  C: () => handle.scanAt(Number(ww.address), ww.byteLength, true),
  get: () => {
    const t0 = process.hrtime.bigint();
    const n = ww.get({ reset: true }).length;
    return { ns: Number(process.hrtime.bigint() - t0), pages: n };
  },
  getInto: () => {
    const t0 = process.hrtime.bigint();
    const n = ww.getInto(out, { reset: true });
    return { ns: Number(process.hrtime.bigint() - t0), pages: n };
  },
};
const names = Object.keys(methods);
const times = Object.fromEntries(names.map((n) => [n, []]));
// One unmeasured round warms koffi's and V8's paths.
for (const n of names) (dirty(), methods[n]());
for (let r = 0; r < reps; r++) {
  for (let i = 0; i < names.length; i++) {
    const n = names[(i + r) % names.length];
    dirty();
    evictCaches();
    const { ns, pages: got } = methods[n]();
    if (got !== written.length) throw new Error(`${n} found ${got} written pages, ${written.length} were written`);
    times[n].push(ns);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratio = (a) => median(times[a].map((x, i) => x / times.C[i]));
const result = {
  size: ww.byteLength,
  pageSize: page,
  pages,
  written: written.length,
  reps,
  medianNs: Object.fromEntries(names.map((n) => [n, median(times[n])])),
  ratio: { get: ratio('get'), getInto: ratio('getInto') },
};
ww.close();
handle.close();
console.log(
  `get+reset ${sizeMiB} MiB, ${written.length} of ${pages} pages written: get/C ${result.ratio.get.toFixed(2)}, getInto/C ${result.ratio.getInto.toFixed(2)} ` +
    `(medians of ${reps}, same-repetition ratios; C ${(result.medianNs.C / 1e6).toFixed(2)} ms)`,
);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(result, null, 2));
