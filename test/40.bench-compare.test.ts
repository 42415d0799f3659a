/**
 * `node bench/compare.mjs --quick` (the compare rows of `npm run bench`), run as users run it, in
 * a child (build first: `npm test` does). Checks that every method produced a figure and found
 * exactly the pages the benchmark changed — never how fast anything was. Needs no write-protect.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CI } from './support/kernel.js';
import { CHILD_TIMEOUT } from './support/machine.js';

const root = join(import.meta.dirname, '..');
const hasCc = spawnSync(process.env.CC || 'cc', ['--version']).status === 0;

// Without a C compiler the C rows are left out of the check (a local machine); under CI=true a
// missing compiler fails, never passes on the JS rows alone.
if (CI) {
  it('needs a C compiler for the C rows (CI=true: a missing tool fails, never narrows the check)', () => {
    expect(hasCc, `${process.env.CC || 'cc'} --version failed: install gcc and libc6-dev`).toBe(true);
  });
}

it('bench/compare.mjs --quick: every row measured, every method found exactly the changed pages', () => {
  expect(existsSync(join(root, 'dist', 'index.js')), 'dist/ is missing: build first (npm run build)').toBe(true);
  const dir = mkdtempSync(join(tmpdir(), 'ww-bench-compare-'));
  try {
    const json = join(dir, 'r.json');
    const run = spawnSync(process.execPath, ['bench/compare.mjs', '--quick', '--json', json], { cwd: root, encoding: 'utf8', timeout: CHILD_TIMEOUT });
    expect(run.status, run.stderr).toBe(0);
    const r = JSON.parse(readFileSync(json, 'utf8'));
    expect(r.rows.length).toBe(r.sizes.length * (r.fractions.length + 2)); // populated: every fraction; sparse: 0 and 1 %
    for (const row of r.rows) {
      expect(row.bad, JSON.stringify(row)).toEqual([]);
      const methods = hasCc ? ['compare', 'naive', 'C page diff', 'C one memcmp'] : ['compare', 'naive'];
      for (const m of methods) expect(row.msPerGiB[m], `${m} ${JSON.stringify(row)}`).toBeGreaterThan(0);
    }
    expect(r.blocks.length).toBeGreaterThan(1);
    for (const m of r.memory) expect(Number.isFinite(m.rss)).toBe(true);
    expect(run.stdout).toMatch(/## Compare mechanism/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
