#!/usr/bin/env node
/**
 * `npm run soak [-- --duration 600] [--pages 512] [--writers 2] [--mechanism compare]`: the long version of the
 * reliability tests, against the built package. Splits the duration between
 *   1. no-lost-write stress on WriteWatch.allocate memory (getInto with reset),
 *   2. the same on a SharedArrayBuffer through WriteWatch.track,
 *   3. the same through writewatch/win32 GetWriteWatch(WRITE_WATCH_FLAG_RESET),
 *   4. allocate/track/get/reset/close cycles, watching descriptors, mappings and RSS;
 * prints progress every few seconds and, at the end, the writes checked and lost. Exit status 1
 * if any write was lost, any report was spurious, or a resource grew. With `--mechanism compare`,
 * 1, 2 and 4 run under the compare mechanism (needs no write-protect) and 3 is left out
 * (writewatch/win32 is write-protect only).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { probe, WriteWatch } from 'writewatch';
import * as w from 'writewatch/win32';
import { runStress } from './stress.mjs';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', short: 'd', default: '60' },
    pages: { type: 'string', default: '512' },
    writers: { type: 'string', default: '2' },
    mechanism: { type: 'string', default: 'write-protect' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('usage: npm run soak -- [--duration SECONDS] [--pages N] [--writers N] [--mechanism write-protect|compare]');
  process.exit(0);
}
const seconds = Number(values.duration);
const pages = Number(values.pages);
const writers = Number(values.writers);
if (!(seconds > 0) || !(pages > 0) || !(writers > 0)) {
  console.error('soak: --duration, --pages and --writers must be positive numbers');
  process.exit(2);
}
const mechanism = values.mechanism;
const compare = mechanism === 'compare';
const support = probe();
if (!support.supported && !compare) {
  console.error(`soak: write watching is not supported here:\n  ${support.reasons.join('\n  ')}`);
  process.exit(1);
}
const PAGE = support.pageSize || 4096;
const share = (seconds * 1000) / 5; // stress 2/5 + 1/5 + 1/5, cycles 1/5

const t0 = Date.now();
const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(0).padStart(5)} s]`;
const progress = (name) => (p) =>
  console.log(`${stamp()} ${name}: ${p.iterations} rounds, ${p.writes} writes checked, lost ${p.lost}, spurious ${p.spurious}`);
const totals = { writes: 0, changes: 0, rounds: 0, lost: 0, spurious: 0, problems: [] };

function account(name, r) {
  totals.writes += r.writes;
  totals.changes += r.changes;
  totals.rounds += r.iterations;
  totals.lost += r.lost;
  totals.spurious += r.spurious;
  const bad = [];
  if (r.lost) bad.push(`${r.lost} lost (first: ${JSON.stringify(r.firstLost)})`);
  if (r.spurious) bad.push(`${r.spurious} spurious (first: ${JSON.stringify(r.firstSpurious)})`);
  if (r.finalMissing || r.finalExtra) bad.push(`final exact round: ${r.finalMissing} missing, ${r.finalExtra} extra`);
  if (r.cleanAfter !== 0) bad.push(`${r.cleanAfter} pages still written after the final reset`);
  if (r.writerWrites !== r.writes) bad.push(`writers made ${r.writerWrites} writes, counters show ${r.writes}`);
  for (const b of bad) totals.problems.push(`${name}: ${b}`);
  console.log(`${stamp()} ${name} done: ${r.writes} writes in ${r.changes} page-intervals over ${r.iterations} rounds; ` +
    `lost ${r.lost}, spurious ${r.spurious}, reported late ${r.late}${bad.length ? ' -- FAILED' : ''}`);
}

// 1. WriteWatch.allocate
{
  const ww = WriteWatch.allocate(pages * PAGE, { mechanism });
  const out = new Float64Array(pages);
  const r = await runStress({
    address: ww.address, pages, pageSize: PAGE, writers, durationMs: 2 * share, progress: progress('allocate'),
    getReset: (marks) => {
      const n = ww.getInto(out, { reset: true });
      for (let i = 0; i < n; i++) marks[out[i] / PAGE] = 1;
    },
    getCount: () => ww.get().length,
  });
  ww.close();
  account('allocate', r);
}

// 2. WriteWatch.track(SharedArrayBuffer)
{
  const sab = new SharedArrayBuffer((pages + 1) * PAGE);
  const ww = WriteWatch.track(sab, { mechanism });
  const first = (PAGE - (Number(ww.address) % PAGE)) % PAGE;
  const out = new Float64Array(pages + 1);
  const opts = { offset: first, length: pages * PAGE, reset: true };
  const r = await runStress({
    address: ww.address + BigInt(first), pages, pageSize: PAGE, writers, durationMs: share, progress: progress('track'),
    getReset: (marks) => {
      const n = ww.getInto(out, opts);
      for (let i = 0; i < n; i++) marks[(out[i] - first) / PAGE] = 1;
    },
    getCount: () => ww.get({ offset: first, length: pages * PAGE }).length,
  });
  ww.close();
  account('track', r);
}

// 3. writewatch/win32 (write-protect only)
if (!compare) {
  const size = pages * PAGE;
  const base = w.virtualAlloc(0n, size, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
  if (base === 0n) throw new Error(`VirtualAlloc failed: ${w.getLastError()}`);
  const addrs = new BigUint64Array(pages);
  const count = { value: 0 };
  const gran = { value: 0 };
  const read = (flags) => {
    count.value = pages;
    if (w.getWriteWatch(flags, base, size, addrs, count, gran) !== 0) throw new Error(`GetWriteWatch failed: ${w.getLastError()}`);
    return count.value;
  };
  const r = await runStress({
    address: base, pages, pageSize: PAGE, writers, durationMs: share, progress: progress('win32'),
    getReset: (marks) => {
      const n = read(w.WRITE_WATCH_FLAG_RESET);
      for (let i = 0; i < n; i++) marks[Number(addrs[i] - base) / PAGE] = 1;
    },
    getCount: () => read(0),
  });
  w.virtualFree(base, 0, w.MEM_RELEASE);
  account('win32', r);
}

// 4. Resource cycles
{
  const BYTES = (1 << 20) + 3 * PAGE; // an odd size nothing else maps: our mappings can be counted
  const usage = () => {
    const maps = readFileSync('/proc/self/maps', 'utf8').trim().split('\n');
    const ours = maps.filter((l) => {
      const [s, e] = l.split(' ')[0].split('-').map((x) => parseInt(x, 16));
      return e - s === BYTES;
    }).length;
    return {
      fds: readdirSync('/proc/self/fd').length,
      maps: maps.length,
      ours,
      rssMiB: (Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * PAGE) / 2 ** 20,
    };
  };
  const sab = new SharedArrayBuffer(BYTES);
  const sabU8 = new Uint8Array(sab);
  const cycle = (i) => {
    const ww = WriteWatch.allocate(BYTES, { mechanism });
    const u8 = new Uint8Array(ww.buffer);
    for (let o = 0; o < BYTES; o += PAGE) u8[o] = (i % 255) + 1; // never 0, never the last cycle's: compare reports it
    if (ww.get({ reset: true }).length !== BYTES / PAGE) throw new Error('allocate cycle: wrong page count');
    ww.reset();
    ww.close();
    const t = WriteWatch.track(sab, { mechanism });
    sabU8[5 * PAGE] = (i % 255) + 1;
    if (t.get().length !== 1) throw new Error('track cycle: wrong page count');
    t.close();
    if (compare) return;
    const base = w.virtualAlloc(0n, BYTES, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
    new Uint8Array(w.viewMemory(base, BYTES))[PAGE] = 1;
    if (w.resetWriteWatch(base, BYTES) !== 0 || !w.virtualFree(base, 0, w.MEM_RELEASE)) throw new Error('win32 cycle failed');
  };
  for (let i = 0; i < 20; i++) cycle(i);
  const start = usage();
  const end = Date.now() + share;
  // V8's heap grows by 256 KiB pages (a line of maps each) during the first seconds and then
  // plateaus (measured: +125 lines in 5 s, then flat for 57 000 cycles): the figures after the
  // first quarter show the plateau.
  const settled = Date.now() + share / 4;
  let before = null;
  let cycles = 0;
  let last = Date.now();
  while (Date.now() < end) {
    if (!before && Date.now() >= settled) before = { ...usage(), cycles };
    for (let k = 0; k < 20; k++) cycle(cycles++);
    if (Date.now() - last >= 5000) {
      last = Date.now();
      const u = usage();
      console.log(`${stamp()} cycles: ${cycles}, fds ${u.fds}, maps ${u.maps} (ours ${u.ours}), RSS ${u.rssMiB.toFixed(1)} MiB`);
    }
    await new Promise((r) => setImmediate(r));
  }
  const after = usage();
  before ??= { ...start, cycles: 0 };
  console.log(`${stamp()} cycles done: ${cycles} allocate+track+VirtualAlloc cycles of ${BYTES} bytes; ` +
    `at start fds ${start.fds}, maps ${start.maps}, RSS ${start.rssMiB.toFixed(1)} MiB; over the last ${cycles - before.cycles} cycles ` +
    `fds ${before.fds} -> ${after.fds}, maps ${before.maps} -> ${after.maps} (ours ${before.ours} -> ${after.ours}), ` +
    `RSS ${before.rssMiB.toFixed(1)} -> ${after.rssMiB.toFixed(1)} MiB`);
  if (after.fds !== start.fds) totals.problems.push(`cycles: fds ${start.fds} -> ${after.fds}`);
  if (after.ours !== start.ours) totals.problems.push(`cycles: tracked mappings ${start.ours} -> ${after.ours}`);
  // A leak of one mapping per cycle would add thousands of lines and GiBs (each cycle dirties 1 MiB);
  // V8's own growth stays within ~150 lines and a few tens of MiB.
  if (after.maps - start.maps > 256) totals.problems.push(`cycles: maps ${start.maps} -> ${after.maps}`);
  if (after.rssMiB - start.rssMiB > 128) totals.problems.push(`cycles: RSS grew ${(after.rssMiB - start.rssMiB).toFixed(1)} MiB`);
}

console.log('');
console.log(`soak: ${((Date.now() - t0) / 1000).toFixed(0)} s, ${writers} writer threads, ${pages} pages`);
console.log(`writes checked: ${totals.writes} (${totals.changes} page-intervals, ${totals.rounds} get+reset rounds)`);
console.log(`writes lost: ${totals.lost}`);
console.log(`spurious reports: ${totals.spurious}`);
for (const p of totals.problems) console.log(`FAILED: ${p}`);
process.exit(totals.problems.length ? 1 : 0);
