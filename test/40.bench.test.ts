/**
 * `npm run bench -- --quick`, run as users run it (node bench/run.mjs in a child; build first:
 * `npm test` does). Checks that every method produced a figure and that every method found
 * exactly the pages the benchmark wrote — never how fast anything was.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CI, describeKernel } from './support/kernel.js';
import { CHILD_TIMEOUT } from './support/machine.js';

const root = join(import.meta.dirname, '..');
const hasCc = spawnSync(process.env.CC || 'cc', ['--version']).status === 0;

interface Cell {
  length: number;
  sparse: boolean;
  kind: string;
  fraction: number;
  k: number;
  modes: Record<string, { ns: Record<string, number>; times: Record<string, number[]>; bad: string[] }>;
}

const figure = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;

describeKernel('npm run bench -- --quick', () => {
  let dir: string;
  let run: ReturnType<typeof spawnSync>;
  let r: any;

  beforeAll(() => {
    expect(existsSync(join(root, 'dist', 'index.js')), 'dist/ is missing: build first (npm run build)').toBe(true);
    dir = mkdtempSync(join(tmpdir(), 'ww-bench-'));
    run = spawnSync(process.execPath, ['bench/run.mjs', '--quick', '--out', dir, '--json', join(dir, 'r.json')], {
      cwd: root,
      encoding: 'utf8',
      timeout: CHILD_TIMEOUT,
    });
    r = existsSync(join(dir, 'r.json')) ? JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) : undefined;
  }, CHILD_TIMEOUT + 60_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0, shows progress on stderr and prints the markdown table', () => {
    expect(run.error).toBeUndefined();
    expect(run.status, String(run.stderr)).toBe(0);
    expect(String(run.stderr)).toMatch(/\[bench +\d+ s\] \[ *1\/\d+\]/);
    expect(String(run.stdout)).toContain('## get+reset');
    expect(String(run.stdout)).toMatch(hasCc ? /\| C loop \| get \| getInto \|/ : /\| get \| getInto \|/);
  });

  it('runs the C loop when there is a compiler, and says so when there is none (CI=true: a compiler is required)', () => {
    expect(hasCc || !CI, 'no C compiler ($CC or cc): CI must install one, or the C reference drops out').toBe(true);
    if (hasCc) expect(r.scan.every((c: Cell) => figure(c.modes['get+reset'].ns.C))).toBe(true);
    else expect(String(run.stderr)).toContain('C reference SKIPPED');
  });

  // The bench checks counts ("found k of k pages"); which pages, exactly, is the business of
  // 10.writewatch and 50.property, whose oracles are the pages the test wrote.
  it('has a figure for every method in every scan cell, and every method found as many pages as were written', () => {
    expect(r.scan.length).toBeGreaterThanOrEqual(10);
    for (const c of r.scan as Cell[]) {
      for (const mode of ['get+reset', 'get']) {
        const m = c.modes[mode];
        const want = ['get', 'getInto', 'win32', ...(hasCc ? ['C'] : [])];
        if (mode === 'get+reset' && !c.sparse) want.push('shadow');
        for (const name of want) expect(figure(m.ns[name]), `${c.length} ${c.fraction} ${c.kind} ${mode} ${name}`).toBe(true);
        expect(m.bad, `${c.length} ${c.fraction} ${c.kind} ${mode}`).toEqual([]);
      }
    }
    // 0 %, 0.1 %, 1 %, 10 % and 100 %, spread at random and as one run.
    const populated = (r.scan as Cell[]).filter((c) => !c.sparse);
    expect(new Set(populated.map((c) => c.fraction))).toEqual(new Set([0, 0.001, 0.01, 0.1, 1]));
    expect(populated.filter((c) => c.kind === 'run').map((c) => c.fraction).sort()).toEqual([0.001, 0.01, 0.1]);
    const onePercent = populated.find((c) => c.fraction === 0.01 && c.kind === 'random')!;
    expect(onePercent.k).toBe(Math.round((onePercent.length / r.env.page) * 0.01));
  });

  it('runs the target cell again with the C loop on the WriteWatch memory, warm and cold', () => {
    if (!hasCc) return expect(r.sameMemory).toBeUndefined();
    for (const t of ['warm', 'cold']) {
      for (const name of ['C, same memory', 'get', 'getInto']) expect(figure(r.sameMemory[t].ns[name]), `${t} ${name}`).toBe(true);
      expect(r.sameMemory[t].bad).toEqual([]);
    }
  });

  it('measures per-call overhead, the writer side, reset choices, page tables and heap growth', () => {
    for (const name of ['getInto', 'get', 'win32 getWriteWatch', ...(hasCc ? ['C get', 'C get + checks'] : [])]) expect(figure(r.perCall.ns[name]), name).toBe(true);
    for (const w of r.writer) {
      expect(figure(w.ns['JS tracked']) && figure(w.ns['JS untracked'])).toBe(true);
      expect(w.found).toBe(w.pages); // get() reports as many pages as the writer stored into
    }
    if (hasCc) {
      expect(r.resets.length).toBeGreaterThan(0);
      for (const x of r.resets) {
        for (const v of Object.values(x.ns)) expect(figure(v)).toBe(true);
        expect(x.bad).toEqual([]); // each reset left the region clean
      }
    }
    // Arming never-touched memory allocates its page tables: 8 bytes per page.
    for (const m of r.memory) expect(m.tracked.pte).toBeGreaterThanOrEqual((m.length / r.env.page) * 8 * 0.9);
    for (const h of Object.values(r.heap) as any[]) {
      expect(Number.isFinite(h.perCall)).toBe(true);
      expect(h.pagesOk).toBe(true);
    }
    expect(r.heap.get.perCall).toBeGreaterThan(16); // get() returns a new array: the measurement can see allocation
  });

  it('writes the report and an SVG plot with one line per method', () => {
    const md = readFileSync(join(dir, 'bench.md'), 'utf8');
    expect(md).toContain(r.env.kernel);
    const svg = readFileSync(join(dir, 'bench.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    const lines = (svg.match(/<path /g) ?? []).length;
    expect(lines).toBeGreaterThanOrEqual(2 * (2 + (hasCc ? 1 : 0))); // two panels, each with get, getInto (and C)
    expect(svg).toContain('shadow copy');
  });
});
