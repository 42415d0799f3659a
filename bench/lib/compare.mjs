/**
 * The compare mechanism's rows: WriteWatch.allocate(…, { mechanism: 'compare' }) get+reset against
 * the naive shadow diff (bench/lib/shadow.mjs: Buffer#compare per page) and against C on the same
 * memory (bench/c/compare.c: the same page diff in C, and one memcmp pass over an equal copy, which
 * reads both once: the limit). All three diff the same live memory, each against its own copy, in
 * rotating order after the same stores. Plus the block sizes the diff compares first, and what the
 * shadow costs in RSS. Runs without the kernel's write-protect (the compare mechanism needs none).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { WriteWatch } from 'writewatch';
import { BLOCKS } from '../../dist/mechanisms/compare/diff.js';
import { pattern, touch } from './patterns.mjs';
import { Shadow } from './shadow.mjs';
import { fmtBytes, fmtFraction, fmtRatio, fmtSize, median } from './stats.mjs';

const MiB = 2 ** 20, GiB = 2 ** 30;
const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, '..', 'c', 'compare.c');
const output = join(here, '..', 'build', 'libwwcompare.so');

/** bench/c/compare.c through koffi, or null (and why) without a compiler. */
function loadC(log) {
  const cc = process.env.CC || 'cc';
  let fresh = false;
  try {
    fresh = statSync(output).mtimeMs >= statSync(source).mtimeMs;
  } catch {
    /* not built yet */
  }
  if (!fresh) {
    mkdirSync(dirname(output), { recursive: true });
    try {
      const tmp = `${output}.${process.pid}.tmp`;
      execFileSync(cc, ['-O2', '-Wall', '-shared', '-fPIC', '-o', tmp, source], { stdio: ['ignore', 'ignore', 'pipe'] });
      renameSync(tmp, output);
    } catch (e) {
      log(`compare: C rows SKIPPED (${e.code === 'ENOENT' ? `no C compiler \`${cc}\`` : String(e.stderr || e.message).trim()})`);
      return null;
    }
  }
  const lib = koffi.load(output);
  return {
    diff: lib.func('double wwc_diff_pages(uint64_t live, uint64_t copy, uint64_t len, uint64_t page, _Out_ uint64_t *pages)'),
    memcmp: lib.func('double wwc_memcmp(uint64_t a, uint64_t b, uint64_t len, _Out_ int *result)'),
  };
}

/**
 * CPU time of the process in ns (user + system). The figures are CPU time, not wall time: on a
 * shared machine a single-threaded pass is preempted, and wall time would count the waiting.
 */
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};
/** CPU ns of fn(). */
const cpuOf = (fn) => {
  const t0 = cpu();
  const r = fn();
  return [cpu() - t0, r];
};

const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;

/** Every page of `u32` gets a nonzero word, so that memory and every copy are populated. */
function populate(u32, wordsPerPage) {
  for (let i = 0; i < u32.length; i += wordsPerPage >> 2) u32[i] = (i * 2654435761) >>> 0 || 1;
}

/**
 * @param {{ quick: boolean, log: (s: string) => void, page: number }} o
 */
export function compareBench({ quick, log, page }) {
  const sizes = quick ? [4 * MiB, 64 * MiB] : [64 * MiB, 1 * GiB];
  const fractions = [0, 0.01, 1];
  const reps = quick ? 3 : 9;
  const c = loadC(log);
  const wpp = page / 4;
  const res = { sizes, fractions, reps, rows: [], blocks: [], memory: [], firstCall: [], defaultBlocks: [...BLOCKS] };
  const out = new Float64Array(sizes[sizes.length - 1] / page);

  for (const len of sizes) for (const sparse of [false, true]) {
    const pages = len / page;
    log(`compare: ${fmtSize(len)}, ${sparse ? 'sparse' : 'populated'}; WriteWatch compare vs naive Buffer.compare shadow vs C`);
    const ww = WriteWatch.allocate(len, { mechanism: 'compare' });
    const u32 = new Uint32Array(ww.buffer);
    // Populated: every page holds data, and so does the shadow. Sparse: never written but for the
    // measured stores, as a heap reserved larger than it is used; the naive copy is a real copy.
    if (!sparse) populate(u32, page);
    ww.reset();
    const naive = new Shadow(ww.buffer, page);
    const live = Number(ww.address);
    const ccopy = c ? Buffer.allocUnsafeSlow(len) : null;
    if (ccopy) Buffer.from(ww.buffer).copy(ccopy);
    const caddr = ccopy ? Number(koffi.address(ccopy)) : 0;
    const cpages = [0n], cres = [0];
    let value = 1;
    for (const fraction of sparse ? [0, 0.01] : fractions) {
      const t = { compare: [], naive: [], 'C page diff': [], 'C one memcmp': [] };
      const bad = [];
      for (let rep = 0; rep < reps; rep++) {
        const ps = pattern('random', pages, fraction, 7919 * (rep + 1) + Math.round(fraction * 1e4));
        touch(u32, ps, ++value, wpp);
        const runs = [
          () => {
            const [ns, n] = cpuOf(() => ww.getInto(out, { reset: true }));
            t.compare.push(ns);
            if (n !== ps.length) bad.push(`compare found ${n} of ${ps.length}`);
          },
          () => {
            const [ns, r] = cpuOf(() => naive.time());
            t.naive.push(ns);
            if (r.pages !== ps.length) bad.push(`naive found ${r.pages} of ${ps.length}`);
          },
          () => {
            if (!c) return;
            t['C page diff'].push(cpuOf(() => c.diff(live, caddr, len, page, cpages))[0]);
            if (Number(cpages[0]) !== ps.length) bad.push(`C found ${cpages[0]} of ${ps.length}`);
            // The C copy is equal now: one memcmp reads both regions whole.
            t['C one memcmp'].push(cpuOf(() => c.memcmp(live, caddr, len, cres))[0]);
            if (cres[0] !== 0) bad.push('C copy not equal after its diff');
          },
        ];
        for (let i = 0; i < runs.length; i++) runs[(i + rep) % runs.length]();
      }
      const ms = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v) / (len / GiB) / 1e6]));
      // Ratios of the same repetition, then their median: the machine's load drifts between reps.
      const paired = (a, b) => median(t[a].map((x, i) => x / t[b][i]));
      const ratios = { 'naive / compare': paired('naive', 'compare'), 'compare / C one memcmp': c ? paired('compare', 'C one memcmp') : NaN, 'compare / C page diff': c ? paired('compare', 'C page diff') : NaN };
      const row = { length: len, sparse, fraction, msPerGiB: ms, ratios, bad };
      res.rows.push(row);
      log(
        `  ${fmtFraction(fraction)}: ` +
          Object.entries(ms).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ') +
          ` ms/GiB; naive/compare ${fmtRatio(ratios['naive / compare'])}, compare/C memcmp ${fmtRatio(ratios['compare / C one memcmp'])}` +
          (bad.length ? `  WRONG: ${bad[0]}` : ''),
      );
    }

    if (len === sizes[0]) {
      // Which blocks to compare before pages: 1 % changed, each configuration on the same memory.
      const configs = [[], [16 * 1024], [64 * 1024], [256 * 1024], [MiB], [256 * 1024, 16 * 1024], [MiB, 64 * 1024]];
      for (const cfg of configs) {
        BLOCKS.length = 0;
        BLOCKS.push(...cfg);
        const ts = [];
        for (let rep = 0; rep < reps; rep++) {
          touch(u32, pattern('random', pages, 0.01, 31 * rep + cfg.length), ++value, wpp);
          ts.push(cpuOf(() => ww.getInto(out, { reset: true }))[0]);
        }
        res.blocks.push({ blocks: cfg, sparse, msPerGiB: median(ts) / (len / GiB) / 1e6 });
      }
      BLOCKS.length = 0;
      BLOCKS.push(...res.defaultBlocks);
      log(`  block sizes at 1 %: ${res.blocks.filter((b) => b.sparse === sparse).map((b) => `[${b.blocks.map((x) => x / 1024 + 'K').join(',') || 'pages'}] ${b.msPerGiB.toFixed(1)}`).join(', ')} ms/GiB`);
    }
    ww.close();
    naive.close();
  }

  // What the shadow costs: RSS deltas, each case on fresh memory of the largest size.
  const len = sizes[sizes.length - 1];
  const pages = len / page;
  const measure = (name, fn) => {
    const before = rss();
    const r = fn();
    res.memory.push({ name, length: len, rss: rss() - before, ...r });
    log(`  memory: ${name}: RSS +${fmtBytes(rss() - before)}`);
  };
  log(`compare: memory cost on ${fmtSize(len)}`);
  {
    const ww = WriteWatch.allocate(len, { mechanism: 'compare' });
    const [first] = cpuOf(() => ww.get());
    const [next] = cpuOf(() => ww.get());
    res.firstCall.push({ length: len, firstNs: first, nextNs: next });
    measure('allocate, nothing written, get() read every page', () => {
      ww.get();
      return { memory: 0 };
    });
    ww.close();
  }
  for (const fraction of [0.01, 1]) {
    const ww = WriteWatch.allocate(len, { mechanism: 'compare' });
    const u32 = new Uint32Array(ww.buffer);
    const ps = pattern('random', pages, fraction, 5);
    measure(`allocate, ${fmtFraction(fraction)} of pages written, get({ reset: true })`, () => {
      touch(u32, ps, 9, page / 4);
      ww.get({ reset: true });
      return { memory: ps.length * page };
    });
    ww.close();
  }
  {
    const ab = new ArrayBuffer(len); // calloc'd: its pages are not populated
    measure('track() of a zeroed ArrayBuffer, get()', () => {
      const ww = WriteWatch.track(ab, { mechanism: 'compare' });
      ww.get();
      res.keep = ww;
      return { memory: 0 };
    });
    res.keep.close();
    delete res.keep;
  }
  {
    let ab = new ArrayBuffer(len);
    const before = rss();
    populate(new Uint32Array(ab), page);
    const populated = rss() - before;
    measure('track() of a populated ArrayBuffer (RSS of the shadow alone)', () => {
      const ww = WriteWatch.track(ab, { mechanism: 'compare' });
      ww.get();
      res.keep = ww;
      return { memory: 0 };
    });
    res.memory[res.memory.length - 1].populated = populated;
    res.keep.close();
    delete res.keep;
    ab = null;
  }
  return res;
}

/** The markdown section for the report. */
export function compareMarkdown(res) {
  const L = [];
  const r2 = (v) => (Number.isFinite(v) ? v.toFixed(1) : '–');
  L.push('', '## Compare mechanism (`mechanism: \'compare\'`)', '');
  L.push(
    `get+reset, ms of CPU time per GiB (median of ${res.reps}; ratios: median of the ratios of the same repetition); every method diffs the same memory against its own copy after the same stores (one word per changed page, random pages). ` +
      '"populated": every page holds data; "sparse": never written but for the measured stores (the compare shadow then stays the zero page, the naive copy is a real one). ' +
      '"naive": per-page `Buffer#compare` + copy (bench/lib/shadow.mjs); "C page diff": the same loop in C; "C one memcmp": one memcmp over the region and an equal copy (reads both once: the limit).',
    '',
  );
  L.push('| region | memory | changed | compare | naive Buffer.compare | C page diff | C one memcmp | naive / compare | compare / C memcmp |');
  L.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of res.rows) {
    const m = r.msPerGiB;
    L.push(
      `| ${fmtSize(r.length)} | ${r.sparse ? 'sparse' : 'populated'} | ${fmtFraction(r.fraction)} | ${r2(m.compare)} | ${r2(m.naive)} | ${r2(m['C page diff'])} | ${r2(m['C one memcmp'])} | ${fmtRatio(r.ratios['naive / compare'])} | ${fmtRatio(r.ratios['compare / C one memcmp'])} |` +
        (r.bad.length ? ` WRONG: ${r.bad[0]}` : ''),
    );
  }
  L.push('', `Blocks compared before pages (${fmtSize(res.sizes[0])}, 1 % changed; default ${res.defaultBlocks.map((b) => b / 1024 + ' KiB').join(' then ')}):`, '');
  L.push('| blocks | populated, ms per GiB | sparse, ms per GiB |', '| --- | --- | --- |');
  for (const b of res.blocks.filter((x) => !x.sparse)) {
    const sp = res.blocks.find((x) => x.sparse && x.blocks.join() === b.blocks.join());
    L.push(`| ${b.blocks.map((x) => `${x / 1024} KiB`).join(' → ') || 'pages only'} | ${r2(b.msPerGiB)} | ${r2(sp?.msPerGiB)} |`);
  }
  L.push('', 'Memory (RSS growth of the whole process, fresh memory each):', '');
  L.push('| case | region | RSS growth | of which the memory itself |', '| --- | --- | --- | --- |');
  for (const m of res.memory) L.push(`| ${m.name} | ${fmtSize(m.length)} | ${fmtBytes(m.rss)} | ${fmtBytes(m.memory)} |`);
  for (const f of res.firstCall) {
    L.push('', `First get() on a fresh ${fmtSize(f.length)} compare allocation (read faults map the zero page into the memory and the shadow): ${(f.firstNs / 1e6).toFixed(1)} ms of CPU; the next: ${(f.nextNs / 1e6).toFixed(1)} ms.`);
  }
  return L.join('\n') + '\n';
}
