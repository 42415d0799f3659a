/** The markdown report of one run. */
import { fmtBytes, fmtFraction, fmtRatio, fmtSize, fmtTime } from './stats.mjs';
import { ratio } from './scan.mjs';

const row = (cells) => `| ${cells.join(' | ')} |`;
const head = (cells, right = cells.map(() => true)) => [row(cells), row(right.map((r) => (r ? '---:' : '---')))];

function scanTable(scan, mode) {
  const methods = ['C', 'get', 'getInto', 'win32', 'shadow'].filter((m) => scan.some((c) => c.modes[mode]?.ns[m] !== undefined));
  const ratios = [
    ['get / C', 'get', 'C'],
    ['getInto / C', 'getInto', 'C'],
    ['win32 / get', 'win32', 'get'],
    ['shadow / get', 'shadow', 'get'],
    ['shadow / C', 'shadow', 'C'],
  ].filter(([, a, b]) => methods.includes(a) && methods.includes(b));
  const names = { C: 'C loop', get: 'get', getInto: 'getInto', win32: 'win32 GetWriteWatch', shadow: 'shadow copy' };
  const lines = head(['region', 'written', 'pages', ...methods.map((m) => names[m]), ...ratios.map((r) => r[0])], [false, false, ...methods.map(() => true), ...ratios.map(() => true), true]);
  for (const c of scan) {
    const m = c.modes[mode];
    if (!m) continue;
    const pat = c.fraction === 0 || c.fraction === 1 ? '' : c.kind === 'random' ? ' random' : ' one run';
    lines.push(
      row([
        `${fmtSize(c.length)}${c.sparse ? ' sparse' : ''}`,
        `${fmtFraction(c.fraction)}${pat}`,
        c.k.toLocaleString('en-US'),
        ...methods.map((x) => fmtTime(m.ns[x])),
        ...ratios.map(([, a, b]) => fmtRatio(ratio(m.times, a, b))),
      ]) + (m.bad.length ? ` ⚠ ${m.bad[0]}` : ''),
    );
  }
  return lines.join('\n');
}

export function markdown(r) {
  const out = [];
  const e = r.env;
  out.push(`# writewatch benchmark`, '');
  out.push(`${e.cpu}, ${e.cores} CPUs, ${fmtBytes(e.mem)} RAM; Linux ${e.kernel} (${e.arch}); Node ${e.node}; page ${e.page} B; C loop built with ${e.cc ? `${e.cc}, -O2` : 'nothing (no compiler: C rows left out)'}.`);
  out.push(`Run ${e.date} (${e.mode} mode, ${e.reps} repetitions per cell, ${e.seconds.toFixed(0)} s, peak RSS ${fmtBytes(e.peakRss)}${e.load ? `; load average ${e.load} at the start, ${e.loadAfter} at the end, on ${e.cores} CPUs` : ''}).`, '');
  out.push('Every figure is a median over repetitions; every ratio is the median of ratios taken within the same repetition, the methods interleaved (order rotated) on the same pattern of written pages. Stores happen before the clock starts, and each timed scan starts with cold caches (64 MiB read first, twice the L3), as after a frame of application work. "C loop" is bench/c/scan.c: the same PAGEMAP_SCAN loop with no FFI, timed inside C.', '');
  if (r.targets.length) {
    out.push('## Targets', '', ...head(['target', 'goal', 'measured', 'met'], [false, true, true, false]));
    for (const t of r.targets) out.push(row([t.name, t.goal, t.measured, t.met === null ? 'n/a' : t.met ? 'yes' : '**no**']));
    out.push('');
  }
  if (r.same?.length) out.push(...sameTable(r.same));
  if (r.scan.length) {
    out.push('## get+reset (GetWriteWatch with WRITE_WATCH_FLAG_RESET)', '', scanTable(r.scan, 'get+reset'), '');
    out.push('## get only', '', scanTable(r.scan, 'get'), '');
  }
  if (r.sameMemory) {
    const x = r.sameMemory;
    out.push(`## The target cell on the same memory (${fmtSize(x.length)}, ${fmtFraction(x.fraction)} ${x.kind}, get+reset)`, '');
    out.push('The C loop walks the WriteWatch\'s own pages, in alternation with get and getInto: warm (calls back to back) and cold (caches evicted before each call).', '');
    const names = Object.keys(x.warm.ns);
    out.push(...head(['caches', ...names, 'get / C', 'getInto / C'], [false, ...names.map(() => true), true, true]));
    for (const t of ['warm', 'cold']) {
      const m = x[t];
      out.push(row([t, ...names.map((n) => fmtTime(m.ns[n])), fmtRatio(ratio(m.times, 'get', names[0])), fmtRatio(ratio(m.times, 'getInto', names[0]))]) + (m.bad.length ? ` ⚠ ${m.bad[0]}` : ''));
    }
    out.push('');
  }
  if (r.parallel) out.push(...parallelTable(r.parallel));
  if (r.perCall) {
    const p = r.perCall;
    out.push(`## Per-call overhead (${p.pages} clean pages, ${p.iters.toLocaleString('en-US')} calls per repetition)`, '');
    out.push(...head(['call', 'per call'], [false, true]));
    for (const [n, ns] of Object.entries(p.ns)) out.push(row([n, fmtTime(ns)]));
    out.push('', ...head(['ratio (same repetition)', 'value'], [false, true]));
    for (const [n, v] of Object.entries(p.ratios)) if (Number.isFinite(v)) out.push(row([n, fmtRatio(v)]));
    out.push('');
  }
  if (r.writer?.length) {
    out.push(`## Writer's side: first store to a page after a reset (${fmtSize(r.writerLength)}, per page)`, '');
    const cols = Object.keys(r.writer[0].ns).filter((k) => r.writer.some((w) => Number.isFinite(w.ns[k])));
    out.push(...head(['pattern', 'pages', ...cols, 'JS tracked / untracked'], [false, true, ...cols.map(() => true), true]));
    for (const w of r.writer) out.push(row([w.pattern, w.pages.toLocaleString('en-US'), ...cols.map((c) => fmtTime(w.ns[c])), fmtRatio(w.ratio)]) + (w.found !== w.pages ? ` ⚠ get found ${w.found}` : ''));
    out.push('');
  }
  if (r.resets?.length) {
    out.push('## ResetWriteWatch implementations (whole region, random pages written)', '');
    const cols = Object.keys(r.resets[0].ns);
    out.push(...head(['region', 'written', ...cols, 'fastest'], [false, false, ...cols.map(() => true), false]));
    for (const x of r.resets) {
      const best = cols.filter((c) => c !== 'WriteWatch.reset()').reduce((a, b) => (x.ns[a] <= x.ns[b] ? a : b));
      out.push(row([fmtSize(x.size), fmtFraction(x.fraction), ...cols.map((c) => fmtTime(x.ns[c])), best]) + (x.bad.length ? ` ⚠ ${x.bad[0]}` : ''));
    }
    out.push('');
  }
  if (r.memory?.length) {
    out.push('## Memory overhead of tracking (page tables, VmPTE)', '');
    out.push(...head(['tracked (never touched)', 'VmPTE added', 'per GiB tracked', 'allocate + arm', 'the same size mapped, untracked: VmPTE added'], [false, true, true, true, true]));
    for (const m of r.memory) out.push(row([fmtSize(m.length), fmtBytes(m.tracked.pte), fmtBytes(m.perGiB), fmtTime(m.tracked.ns), fmtBytes(m.untracked.pte)]));
    out.push('');
  }
  if (r.heap) {
    out.push('## Heap growth per call in steady state (64-page region, 2 pages written and reset per call)', '');
    out.push('Measured in a child with `--expose-gc` and a 128 MiB young generation, after a warm-up: heapUsed growth over n and over 4n calls; "per call" is the difference divided by 3n (the constant cost of measuring cancels out).', '');
    out.push(...head(['method', 'calls (4n)', 'heap growth over them', 'per call', 'GCs during the loops'], [false, true, true, true, true]));
    for (const [n, h] of Object.entries(r.heap)) out.push(row([n, h.iters.toLocaleString('en-US'), fmtBytes(h.growth), `${h.perCall.toFixed(2)} B`, String(h.gcs)]));
    out.push('');
  }
  if (r.notes.length) out.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

const range = (s) => `${fmtRatio(s.median)} (${s.p25.toFixed(2)}–${s.p75.toFixed(2)})`;
const verdict = (v, goal) => (v <= goal ? 'met' : '**not met**');

function sameTable(cells) {
  const reps = cells[0].times.C.length;
  const out = [`## Same process, same memory: C loop vs getInto / get, with reset`, ''];
  out.push(
    `One WriteWatch; the C loop (through koffi, timed inside C) walks the WriteWatch's own pages: PAGEMAP_SCAN with PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, category_mask = return_mask = PAGE_IS_WRITTEN, a 512-region vector, resuming at walk_end, pages expanded into an array. C, getInto(out, { reset: true }) and get({ reset: true }) alternate call by call (order rotated each repetition), ${reps} repetitions, strided writes (every 100th page, or every page) stored before each call, caches warm. Ratio: median of same-repetition ratios (p25–p75).`,
    '',
  );
  out.push(...head(['case', 'pages', 'C loop', 'getInto', 'get', 'getInto / C (target ≤ 1.05)', 'get / C (target ≤ 1.10)'], [false, true, true, true, true, true, true]));
  for (const c of cells) {
    out.push(
      row([
        `${fmtSize(c.length)}, ${fmtFraction(c.fraction)} written`,
        c.k.toLocaleString('en-US'),
        fmtTime(c.ns.C),
        fmtTime(c.ns.getInto),
        fmtTime(c.ns.get),
        `${range(c.ratios.getInto)} ${verdict(c.ratios.getInto.median, 1.05)}`,
        `${range(c.ratios.get)} ${verdict(c.ratios.get.median, 1.1)}`,
      ]) + (c.bad.length ? ` ⚠ ${c.bad[0]}` : ''),
    );
  }
  out.push('');
  return out;
}

function parallelTable(p) {
  const out = ['## Scans split across threads', ''];
  out.push(p.intro, '');
  out.push(...head(['region', 'written', 'reset', 'way', 'threads', 'time', 'speed-up over 1 thread (same repetition)', 'load (1 min) at the time'], [false, false, false, false, true, true, true, true]));
  for (const c of p.cells) {
    for (const w of c.ways) {
      out.push(row([`${fmtSize(c.length)}${c.sparse ? ' sparse' : ''}`, fmtFraction(c.fraction), c.reset ? 'yes' : 'no', w.way, String(w.threads), fmtTime(w.ns), w.speedup ? range(w.speedup) : '1 (reference)', c.load]) + (w.bad?.length ? ` ⚠ ${w.bad[0]}` : ''));
    }
  }
  out.push('');
  return out;
}
