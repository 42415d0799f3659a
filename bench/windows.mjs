/**
 * `npm run bench:windows` (under Wine, from Linux: scripts/windows/bench.sh), or `npm run bench`
 * (`node bench/run.mjs`, which comes here on Windows) on a Windows host: WriteWatch over the
 * kernel32 mechanism (getInto, reset: what a user calls) against the floor of any koffi caller, a loop that calls kernel32's GetWriteWatch / ResetWriteWatch through
 * koffi with nothing else, over the same allocation. Two sections, as docs/performance.md has them
 * for Linux: per call (16 clean pages) and 64 MiB with 1 % of its pages written between scans.
 * Ratios are medians of per-repetition ratios (the two sides alternate within each repetition).
 * Under Wine every figure is Wine's (its mprotect write-watch path), not Windows': the report
 * says which one measured it.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, fmtRatio, fmtTime } from './lib/stats.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const out = argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : null;
if (process.platform !== 'win32') {
  process.stderr.write('bench/windows.mjs measures kernel32: run it on Windows, or under Wine with npm run bench:windows\n');
  process.exit(2);
}
const dist = (p) => import(new URL(`dist/${p}`, `file:///${root.replaceAll('\\', '/')}/`).href);
const { WriteWatch } = await dist('index.js');
const k32 = await dist('sys/kernel32/index.js');
const k = k32.kernel32();
const version = k32.windowsVersion();
const P = k32.systemInfo().pageSize;
const now = () => process.hrtime.bigint();
const since = (t0) => Number(process.hrtime.bigint() - t0);

/** The floor: GetWriteWatch over [base, base + length) through koffi, its arrays preallocated, nothing else. */
function floorOf(base, length, cap) {
  const addrs = new BigUint64Array(cap);
  const count = new BigUint64Array(1);
  const c32 = new Uint32Array(count.buffer);
  const gran = new Uint32Array(1);
  return {
    get(flags) {
      c32[0] = cap; // *lpdwCount is in/out: every caller sets it
      if (k.GetWriteWatch(flags, base, length, addrs, count, gran) !== 0) throw new Error(`GetWriteWatch: ${k.GetLastError()}`);
      return c32[0];
    },
    reset() {
      if (k.ResetWriteWatch(base, length) !== 0) throw new Error(`ResetWriteWatch: ${k.GetLastError()}`);
    },
  };
}

const RESET = { reset: true };

/** Runs each case `reps` times, rotating the order per repetition; returns medians and ratio medians. */
function alternate(cases, reps) {
  const names = Object.keys(cases);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  for (const n of names) cases[n](); // warm up
  for (let r = 0; r < reps; r++) for (let i = 0; i < names.length; i++) times[names[(i + r) % names.length]].push(cases[names[(i + r) % names.length]]());
  const ratio = (a, b) => median(times[a].map((x, i) => x / times[b][i]));
  return { ns: Object.fromEntries(names.map((n) => [n, median(times[n])])), ratio };
}

// Per call: 16 pages, written once and reset, so Windows has nothing to report and what is left is the call.
function perCall(iters, reps) {
  const pages = 16;
  const ww = WriteWatch.allocate(pages * P);
  if (ww.mechanism !== 'write-protect') throw new Error(`allocate gave ${ww.mechanism}, not kernel32's write-protect`);
  new Uint8Array(ww.buffer).fill(1);
  const floor = floorOf(ww.address, pages * P, pages);
  floor.reset();
  const into = new Float64Array(pages);
  const loop = (f) => () => {
    const t0 = now();
    for (let i = 0; i < iters; i++) f();
    return since(t0) / iters;
  };
  const r = alternate(
    {
      'floor GetWriteWatch': loop(() => floor.get(0)),
      'floor GetWriteWatch(RESET)': loop(() => floor.get(1)),
      'floor ResetWriteWatch': loop(() => floor.reset()),
      'scan': loop(() => ww.getInto(into)),
      'scan reset': loop(() => ww.getInto(into, RESET)),
      'reset': loop(() => ww.reset()),
    },
    reps,
  );
  ww.close();
  return {
    ns: r.ns,
    rows: [
      ['getInto (GetWriteWatch)', r.ns['scan'], r.ns['floor GetWriteWatch'], r.ratio('scan', 'floor GetWriteWatch')],
      ['getInto({ reset: true }) (GetWriteWatch RESET)', r.ns['scan reset'], r.ns['floor GetWriteWatch(RESET)'], r.ratio('scan reset', 'floor GetWriteWatch(RESET)')],
      ['reset() (ResetWriteWatch)', r.ns['reset'], r.ns['floor ResetWriteWatch'], r.ratio('reset', 'floor ResetWriteWatch')],
    ],
  };
}

// 64 MiB, 1 % of its pages written (spread evenly) before each timed get+reset; the writes are not timed.
function bigRegion(mib, fraction, reps) {
  const length = mib * 2 ** 20;
  const pages = length / P;
  const dirty = Math.max(1, Math.round(pages * fraction));
  const ww = WriteWatch.allocate(length);
  const u8 = new Uint8Array(ww.buffer);
  u8.fill(1); // populate: the timed calls see resident pages, as a running program's would
  const floor = floorOf(ww.address, length, pages);
  floor.reset();
  const into = new Float64Array(pages);
  const step = Math.floor(pages / dirty);
  let v = 0;
  const write = () => {
    v = (v + 1) & 0xff;
    for (let i = 0; i < dirty; i++) u8[i * step * P] = v;
  };
  const r = alternate(
    {
      'floor get+reset': () => {
        write();
        const t0 = now();
        const n = floor.get(1);
        const t = since(t0);
        if (n !== dirty) throw new Error(`floor saw ${n} pages, not ${dirty}`);
        return t;
      },
      'scan reset': () => {
        write();
        const t0 = now();
        const n = ww.getInto(into, RESET);
        const t = since(t0);
        if (n !== dirty) throw new Error(`getInto saw ${n} pages, not ${dirty}`);
        return t;
      },
      'floor get (clean)': () => {
        const t0 = now();
        floor.get(0);
        return since(t0);
      },
      'scan (clean)': () => {
        const t0 = now();
        ww.getInto(into);
        return since(t0);
      },
    },
    reps,
  );
  ww.close();
  return {
    dirty,
    rows: [
      [`getInto({ reset: true }), ${dirty} of ${pages} pages written`, r.ns['scan reset'], r.ns['floor get+reset'], r.ratio('scan reset', 'floor get+reset')],
      ['getInto, nothing written', r.ns['scan (clean)'], r.ns['floor get (clean)'], r.ratio('scan (clean)', 'floor get (clean)')],
    ],
  };
}

const where = version.wine
  ? `measured under Wine ${version.wine} (which reports Windows ${version.major}.${version.minor}.${version.build}), not on Windows: these are Wine's costs`
  : `measured on ${version.text}`;
process.stderr.write(`bench/windows: ${where}\n`);
const pc = perCall(quick ? 2000 : 20000, quick ? 5 : 15);
const big = bigRegion(64, 0.01, quick ? 5 : 31);
const table = (rows) =>
  ['| | WriteWatch (kernel32) | floor (koffi → kernel32, nothing else) | ratio |', '|---|---|---|---|', ...rows.map(([n, a, b, r]) => `| ${n} | ${fmtTime(a)} | ${fmtTime(b)} | ${fmtRatio(r)} |`)].join('\n');
const report = `# Windows: WriteWatch over kernel32 against the koffi floor

**${where}.** node ${process.version} ${process.arch}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}).${quick ? ' --quick: few repetitions.' : ''}

## Per call (16 pages, nothing written)

${table(pc.rows)}

## 64 MiB, 1 % written between scans

${table(big.rows)}

The floor is a loop that calls GetWriteWatch / ResetWriteWatch through koffi into preallocated
arrays and does nothing else; WriteWatch adds its argument checks, the liveness check, the
mechanism's query and chunking, and the offsets into a Float64Array. Ratios are medians of
per-repetition ratios.

`;
if (out) writeFileSync(out, report);
process.stdout.write(report);
