/**
 * `npm run bench -- --quick --only same,parallel`: the same-process comparison and the scans split
 * across threads run, and every way found exactly the pages the benchmark wrote (the C loop, getInto
 * and get on the same WriteWatch; C on two pthreads; the main thread plus a worker_thread). Never
 * how fast anything was: speed targets live in the benchmark.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CHILD_TIMEOUT } from './support/machine.js';
import { CI, describeKernel } from './support/kernel.js';

const root = join(import.meta.dirname, '..');
const hasCc = spawnSync(process.env.CC || 'cc', ['--version']).status === 0;

// Without a C compiler the C rows are not there to check (a local machine); under CI=true a
// missing compiler fails, never passes on the JS rows alone.
if (CI) {
  it('needs a C compiler for the same-process and pthread rows (CI=true: a missing tool fails, never narrows the check)', () => {
    expect(hasCc, `${process.env.CC || 'cc'} --version failed: install gcc and libc6-dev`).toBe(true);
  });
}
const figure = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;

describeKernel('npm run bench -- --quick --only same,parallel', () => {
  let dir: string;
  let run: ReturnType<typeof spawnSync>;
  let r: any;

  beforeAll(() => {
    expect(existsSync(join(root, 'dist', 'index.js')), 'dist/ is missing: build first (npm run build)').toBe(true);
    dir = mkdtempSync(join(tmpdir(), 'ww-bench-same-'));
    run = spawnSync(process.execPath, ['bench/run.mjs', '--quick', '--only', 'same,parallel', '--reps', '3', '--out', dir, '--json', join(dir, 'r.json')], {
      cwd: root,
      encoding: 'utf8',
      timeout: CHILD_TIMEOUT,
    });
    r = existsSync(join(dir, 'r.json')) ? JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) : undefined;
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 and runs only the sections asked for', () => {
    expect(run.status, String(run.stderr)).toBe(0);
    expect(r.scan).toEqual([]);
    expect(r.perCall).toBeUndefined();
  });

  it('same process: C, getInto and get each found exactly the strided pages, 1 % and 100 %', () => {
    if (!hasCc) return expect(r.same).toBeUndefined();
    expect(r.same.map((c: any) => c.fraction)).toEqual([0.01, 1, 0.01, 1]);
    for (const c of r.same) {
      const pages = c.length / r.env.page;
      expect(c.k).toBe(c.fraction === 1 ? pages : Math.floor((pages - 1) / 100) + 1);
      for (const n of ['C', 'getInto', 'get']) expect(figure(c.ns[n]), `${c.length} ${c.fraction} ${n}`).toBe(true);
      expect(c.bad).toEqual([]);
      expect(Number.isFinite(c.ratios.getInto.median) && Number.isFinite(c.ratios.get.median)).toBe(true);
    }
  });

  it('parallel: every way, on one thread or two, found exactly the pages written, with and without reset', () => {
    if (!hasCc) return expect(r.parallel).toBeUndefined();
    expect(r.parallel.cells.length).toBeGreaterThanOrEqual(4);
    expect(new Set(r.parallel.cells.map((c: any) => c.reset))).toEqual(new Set([false, true]));
    for (const c of r.parallel.cells) {
      expect(c.ways.map((w: any) => w.way)).toEqual(['C, 1 thread', 'C, 2 threads', 'JS getInto, 1 thread', 'JS, 2 threads (worker)']);
      for (const w of c.ways) {
        expect(figure(w.ns), `${c.fraction} ${c.reset} ${w.way}`).toBe(true);
        expect(w.bad, `${c.fraction} ${c.reset} ${w.way}`).toEqual([]);
      }
      expect(c.load).toMatch(/^\d+\.\d+ \d+\.\d+ \d+\.\d+$/);
    }
  });
});
