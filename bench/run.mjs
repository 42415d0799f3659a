/**
 * `npm run bench [-- --quick] [--out DIR] [--json FILE]`: writewatch against the C loop (the limit
 * of this mechanism), the shadow copy a JS program would otherwise keep, and win32 GetWriteWatch,
 * plus the writer's side, per-call overhead, heap growth and page-table overhead. Prints a
 * markdown report, and writes it with an SVG plot to DIR (docs/ for a full run, bench/build/quick/
 * for --quick). Progress goes to stderr.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem, arch } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { probe } from 'writewatch';
import { peakRss } from './lib/clock.mjs';
import { compareBench, compareMarkdown } from './lib/compare.mjs';
import { heapGrowth } from './lib/heap.mjs';
import { memoryOverhead } from './lib/memory.mjs';
import { compilerVersion, loadNative } from './lib/native.mjs';
import { perCall } from './lib/percall.mjs';
import { resetChoices } from './lib/resets.mjs';
import { parallelScan } from './lib/parallel.mjs';
import { sameProcess } from './lib/same.mjs';
import { ratio, runCell, sameMemory, setup, teardown } from './lib/scan.mjs';
import { fmtFraction, fmtRatio, fmtSize, fmtTime } from './lib/stats.mjs';
import { plot } from './lib/svg.mjs';
import { markdown } from './lib/table.mjs';
import { loadWin32 } from './lib/win32.mjs';
import { writer } from './lib/writer.mjs';

const MiB = 2 ** 20, GiB = 2 ** 30;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const SECTIONS = ['memory', 'percall', 'writer', 'heap', 'scan', 'same', 'parallel', 'compare'];
const USAGE =
  'usage: node bench/run.mjs [--quick] [--only SECTION,...] [--reps N] [--out DIR] [--json FILE]\n' +
  '  --quick  small regions, few repetitions (< 1 min): checks every method runs\n' +
  `  --only   run only these sections (${SECTIONS.join(', ')}); full-size regions unless --quick.\n` +
  '           Writes to bench/build/only/ unless --out: a partial run never overwrites docs/\n' +
  '  --reps   repetitions of the same-process and parallel cells (default 31 full, 5 quick)\n' +
  '  --out    where bench.md and bench.svg go (default: docs/, or bench/build/quick/ with --quick)\n' +
  '  --json   also write every figure as JSON\n';
for (let i = 0; i < argv.length; i++) {
  if (['--out', '--json', '--only', '--reps'].includes(argv[i])) i++;
  else if (argv[i] !== '--quick') {
    process.stderr.write(argv[i] === '--help' || argv[i] === '-h' ? USAGE : `unknown argument ${argv[i]}\n${USAGE}`);
    process.exit(argv[i] === '--help' || argv[i] === '-h' ? 0 : 2);
  }
}
const quick = argv.includes('--quick');
const opt = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const only = opt('--only')?.split(',');
for (const o of only ?? []) {
  if (!SECTIONS.includes(o)) {
    process.stderr.write(`unknown section ${o}\n${USAGE}`);
    process.exit(2);
  }
}
const runs = (section) => !only || only.includes(section);
const outDir = opt('--out') ?? (quick ? join(root, 'bench', 'build', 'quick') : only ? join(root, 'bench', 'build', 'only') : join(root, 'docs'));

const FRACTIONS = [0, 0.001, 0.01, 0.1, 1];
const config = quick
  ? {
      reps: 3,
      sizes: [
        { length: 4 * MiB, populate: true, shadow: true, resets: true, target: true },
        { length: 256 * MiB, sparse: true, fractions: [0, 0.001, 0.01, 0.1] },
      ],
      resetFractions: [0, 0.01, 1],
      perCall: { iters: 2000, reps: 3 },
      writerLength: 4 * MiB,
      memory: [256 * MiB],
      heapIters: 5000,
      same: { sizes: [4 * MiB, 64 * MiB], fractions: [0.01, 1], reps: 5 },
      parallel: { sizes: [64 * MiB], fractions: [0.01, 1], reps: 3, sparse: [] },
    }
  : {
      reps: 9,
      sizes: [
        { length: 64 * MiB, populate: true, shadow: true, resets: true },
        { length: 1 * GiB, populate: true, shadow: true, resets: true, target: true },
        // 100 % of 16 GiB would need 16 GiB of RAM per method: left out. 10 % is 1.6 GiB per method.
        { length: 16 * GiB, sparse: true, fractions: [0, 0.001, 0.01, 0.1] },
      ],
      resetFractions: [0, 0.01, 1],
      // Short blocks, many of them: on a loaded machine a long block of one method catches a burst the others miss.
      perCall: { iters: 2000, reps: 61 },
      writerLength: 64 * MiB,
      memory: [1 * GiB, 16 * GiB],
      heapIters: 50000,
      same: { sizes: [64 * MiB, 1 * GiB], fractions: [0.01, 1], reps: 31 },
      parallel: { sizes: [1 * GiB], fractions: [0.01, 1], reps: 15, sparse: [16 * GiB], sparseFractions: [0.01, 0.1] },
    };
if (opt('--reps')) config.same.reps = config.parallel.reps = Number(opt('--reps'));

const t0 = Date.now();
const log = (msg) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);
const notes = [];
const note = (msg) => (notes.push(msg), log(msg));

const support = probe();
if (!support.supported) {
  console.error(`writewatch is not supported here: ${support.reasons.join('; ')}`);
  process.exit(1);
}
const page = support.pageSize;
const native = loadNative(note);
const win32 = await loadWin32(note);

function cpuModel() {
  const m = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return m ? m[1].trim() : cpus()[0]?.model ?? 'unknown CPU';
}

const results = {
  env: { cpu: cpuModel(), cores: cpus().length, mem: totalmem(), kernel: release(), arch: arch(), node: process.version, page, date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), mode: quick ? 'quick' : only ? `only ${only.join(', ')}` : 'full', reps: config.reps, load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '), cc: native ? compilerVersion() : null },
  notes,
  scan: [],
  resets: [],
  writerLength: config.writerLength,
};

// Page tables first, while nothing else is mapped.
if (runs('memory')) {
  log(`memory overhead: arming ${config.memory.map(fmtSize).join(', ')}`);
  results.memory = memoryOverhead(config.memory);
  for (const m of results.memory) log(`  ${fmtSize(m.length)}: VmPTE +${(m.tracked.pte / 1024).toFixed(0)} kB (${(m.perGiB / MiB).toFixed(2)} MiB per GiB), allocate+arm ${fmtTime(m.tracked.ns)}`);
}

if (runs('percall')) {
  log(`per-call overhead: 16 clean pages, ${config.perCall.iters} calls × ${config.perCall.reps}`);
  results.perCall = perCall({ native, win32, page, ...config.perCall });
  log(`  ${Object.entries(results.perCall.ns).map(([n, v]) => `${n} ${fmtTime(v)}`).join(', ')}`);
}

if (runs('writer')) {
  log(`writer's side: ${fmtSize(config.writerLength)}`);
  results.writer = writer({ native, page, length: config.writerLength, reps: quick ? 2 : 5 });
  for (const w of results.writer) log(`  ${w.pattern}: ${Object.entries(w.ns).map(([n, v]) => `${n} ${fmtTime(v)}`).join(', ')}`);
}

if (runs('heap')) {
  log(`heap growth per getInto: ${config.heapIters} calls in a child with --expose-gc`);
  results.heap = heapGrowth(config.heapIters);
  for (const [n, h] of Object.entries(results.heap)) log(`  ${n}: ${h.perCall.toFixed(2)} B/call (${h.gcs} GCs)`);
}

// The same-process, same-memory comparison: the issue-13 targets.
if (runs('same') && native) {
  const { sizes, fractions, reps } = config.same;
  log(`same process, same memory: ${sizes.map(fmtSize).join(', ')} × ${fractions.map(fmtFraction).join(', ')} strided, ${reps} repetitions, C / getInto / get alternating`);
  results.same = sameProcess({
    native, page, sizes, fractions, reps,
    log: (c) => log(`  ${fmtSize(c.length)} ${fmtFraction(c.fraction)}: C ${fmtTime(c.ns.C)}, getInto ${fmtRatio(c.ratios.getInto.median)}, get ${fmtRatio(c.ratios.get.median)}${c.bad.length ? `  WRONG: ${c.bad[0]}` : ''}`),
  });
}

// Scans split across threads, in C and from JS.
if (runs('parallel') && native) {
  log(`parallel scan: ${[...config.parallel.sizes, ...config.parallel.sparse].map(fmtSize).join(', ')}, 1 vs 2 threads, C and JS workers`);
  results.parallel = await parallelScan({ native, page, ...config.parallel, log });
}

// Another module's rows hook in here: its name in SECTIONS, `if (runs('name')) results.name = ...`
// here, and its markdown appended to markdown(results) below (e.g. bench/lib/compare.mjs).
if (runs('compare')) {
  // The compare mechanism's rows (bench/lib/compare.mjs; also alone: node bench/compare.mjs).
  results.compare = compareBench({ quick, log, page });
}

// The scan matrix.
const cells = [];
if (runs('scan')) {
for (const [si, size] of config.sizes.entries()) {
  for (const fraction of size.fractions ?? FRACTIONS) {
    for (const kind of fraction === 0 || fraction === 1 ? ['random'] : ['random', 'run']) cells.push({ si, size, fraction, kind });
  }
}
if (config.sizes.some((s) => s.length > 4 * GiB)) {
  note('A WriteWatch buffer is at most 4 GiB on Node 20 (buffer.constants.MAX_LENGTH): the 16 GiB JS region is four 4 GiB WriteWatches asked in turn; the C loop scans one 16 GiB region; win32 is left out there.');
  note('16 GiB sparse: never populated except by the measured stores; 100 % left out (it would need 16 GiB of RAM per method); each cell maps fresh regions so memory stays bounded.');
}
let done = 0;
let ctx = null;
for (const [si, size] of config.sizes.entries()) {
  const mine = cells.filter((c) => c.si === si);
  const make = () =>
    setup({ native, win32: size.length <= 4 * GiB ? win32 : null, length: size.length, page, populate: !!size.populate, shadow: !!size.shadow });
  if (!size.sparse) {
    log(`setting up ${fmtSize(size.length)} (populated) for ${[native && 'C', 'JS', win32 && 'win32', size.shadow && 'shadow copy'].filter(Boolean).join(', ')}`);
    ctx = make();
  }
  for (const c of mine) {
    if (size.sparse) ctx = make();
    const seed = (si + 1) * 1000003 + Math.round(c.fraction * 1e6) * 7 + (c.kind === 'run' ? 1 : 0);
    const cell = runCell(ctx, { kind: c.kind, fraction: c.fraction, reps: config.reps, seed });
    if (size.sparse) teardown(ctx);
    const rec = { length: size.length, sparse: !!size.sparse, kind: c.kind, fraction: c.fraction, ...cell };
    results.scan.push(rec);
    done++;
    const m = cell.modes['get+reset'];
    const bad = [...m.bad, ...cell.modes.get.bad];
    log(
      `[${String(done).padStart(2)}/${cells.length}] ${fmtSize(size.length)} ${fmtFraction(c.fraction)} ${c.kind}: get+reset ` +
        Object.entries(m.ns).map(([n, v]) => `${n} ${fmtTime(v)}`).join(', ') +
        (m.ns.C ? `; get/C ${fmtRatio(ratio(m.times, 'get', 'C'))}` : '') +
        (bad.length ? `  WRONG: ${bad[0]}` : ''),
    );
  }
  if (size.target && native) {
    log(`target cell again, C on the WriteWatch's own memory: ${fmtSize(size.length)} 1 % random, warm and cold`);
    results.sameMemory = sameMemory(ctx, { kind: 'random', fraction: 0.01, reps: quick ? 3 : 21, seed: (si + 1) * 1000003 + 10000 * 7 });
    for (const t of ['warm', 'cold']) {
      const m = results.sameMemory[t];
      log(`  ${t}: ${Object.entries(m.ns).map(([n, v]) => `${n} ${fmtTime(v)}`).join(', ')}; getInto/C ${fmtRatio(ratio(m.times, 'getInto', 'C, same memory'))}`);
    }
  }
  if (size.resets && native) {
    log(`ResetWriteWatch choices on ${fmtSize(size.length)}`);
    results.resets.push(...resetChoices(ctx, { native, fractions: config.resetFractions, reps: quick ? 2 : 5, seed: 99 }));
  }
  if (!size.sparse) teardown(ctx);
}
} // runs('scan')

results.env.seconds = (Date.now() - t0) / 1000;
results.env.peakRss = peakRss();
results.env.loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

// Targets, each a same-run ratio.
const targetCell = results.scan.find((c) => c.length === (quick ? 4 * MiB : GiB) && c.fraction === 0.01 && c.kind === 'random');
const tm = targetCell?.modes['get+reset'];
const where = quick ? '4 MiB' : '1 GiB';
// Quick mode's regions are too small for the targets, which are set for 1 GiB: shown, not judged.
const ratioTarget = (name, goal, v, ok) => ({ name, goal, measured: Number.isFinite(v) ? fmtRatio(v) : 'not measured', met: Number.isFinite(v) && !quick ? ok(v) : null });
const pc = results.perCall?.ratios ?? {};
const heapT = results.heap?.getInto;
results.targets = [
  // Issue 13: the same process, the same memory, C alternating call by call with getInto and get.
  ...(results.same ?? []).flatMap((c) => [
    ratioTarget(`getInto({reset:true}) / C, same memory, ${fmtSize(c.length)}, ${fmtFraction(c.fraction)} strided`, '≤ 1.05', c.ratios.getInto.median, (v) => v <= 1.05),
    ratioTarget(`get({reset:true}) / C, same memory, ${fmtSize(c.length)}, ${fmtFraction(c.fraction)} strided`, '≤ 1.10', c.ratios.get.median, (v) => v <= 1.1),
  ]),
  ratioTarget('getInto / C, per call, 16 clean pages', '≤ 1.3', pc['getInto / C get'], (v) => v <= 1.3),
  ratioTarget('get / C, per call, 16 clean pages', '≤ 1.3', pc['get / C get'], (v) => v <= 1.3),
  ratioTarget('getInto reset / C get+reset, per call, 16 clean pages', '≤ 1.3', pc['getInto reset / C get+reset'], (v) => v <= 1.3),
  ratioTarget('getInto / (C + the same safety checks), per call, 16 clean pages', '≤ 1.3', pc['getInto / (C get + checks)'], (v) => v <= 1.3),
  ...(tm
    ? [
        ratioTarget(`get({reset:true}) / C on its own region, ${where}, 1 % random, cold caches`, '≤ 1.10', ratio(tm.times, 'get', 'C'), (v) => v <= 1.1),
        ratioTarget(`getInto(reset) / C on its own region, ${where}, 1 % random, cold caches`, '≤ 1.10', ratio(tm.times, 'getInto', 'C'), (v) => v <= 1.1),
        ratioTarget(`shadow copy / get({reset:true}), ${where}, 1 % random`, '≥ 200', ratio(tm.times, 'shadow', 'get'), (v) => v >= 200),
        ratioTarget(`shadow copy / C loop (the most any caller of this mechanism gets), ${where}, 1 % random`, '≥ 200', ratio(tm.times, 'shadow', 'C'), (v) => v >= 200),
      ]
    : []),
  // The smallest heap object is 16 B: a slope under 0.5 B/call means no allocation in 32 calls and more.
  ...(heapT
    ? [{ name: 'heap growth per getInto call, steady state', goal: '0 B', measured: `${heapT.perCall.toFixed(2)} B/call (${heapT.growth} B over ${heapT.iters.toLocaleString('en-US')} calls, ${heapT.gcs} GCs)`, met: quick ? null : heapT.perCall < 0.5 && heapT.gcs === 0 }]
    : []),
].filter((t) => t.measured !== 'not measured');
if (quick) notes.push('Quick mode: small regions and few repetitions; the figures show that every method runs, not how fast.');

const md = markdown(results) + (results.compare ? compareMarkdown(results.compare) : '');
const panels = results.scan.length === 0 ? [] : config.sizes.map((s) => ({
  length: s.length,
  sparse: !!s.sparse,
  points: results.scan.filter((c) => c.length === s.length && c.kind === 'random').map((c) => ({ fraction: c.fraction, ns: c.modes['get+reset'].ns })),
}));
const svg = panels.length && plot(panels, `get+reset time vs pages written (random) — Linux ${results.env.kernel}, ${results.env.cpu}`);
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'bench.md'), md);
if (panels.length) writeFileSync(join(outDir, 'bench.svg'), svg);
if (opt('--json')) writeFileSync(opt('--json'), JSON.stringify(results, null, 1));
process.stdout.write(md + '\n');
log(`wrote ${join(outDir, 'bench.md')} and ${join(outDir, 'bench.svg')} in ${results.env.seconds.toFixed(0)} s (peak RSS ${(results.env.peakRss / GiB).toFixed(2)} GiB)`);
