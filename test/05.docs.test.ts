/**
 * Doc tests: every code block of README.md and docs/*.md, run as written from the repository root
 * (the convention is in test/support/doctest.ts and docs/internals.md). Pages added to docs/ later
 * are picked up without touching this file. Needs the build (`npm test` builds first).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeKernel } from './support/kernel.js';
import { anchors, docFiles, type Block, noRunReasonProblem, relativeLinks, parseBlocks, prepare, readBlocks, runJs, runSh, valueOf } from './support/doctest.js';

const root = join(import.meta.dirname, '..');
const blocks = readBlocks(root);
const label = (b: Block) => `${b.file}:${b.line} (${b.info || 'no info'})`;

describe('05 docs: the blocks are well-formed', () => {
  it('README.md has runnable js blocks, and every page is read', () => {
    expect(existsSync(join(root, 'dist/index.js')), 'build first: npm run build').toBe(true);
    expect(blocks.filter((b) => b.file === 'README.md' && b.kind === 'js').length).toBeGreaterThanOrEqual(5);
  });

  it('no TypeScript block escapes the runner: ts blocks are marked no-run', () => {
    expect(blocks.filter((b) => b.kind === 'bad').map(label)).toEqual([]);
  });

  it('every no-run block follows a sentence saying why', () => {
    expect(blocks.filter((b) => b.kind === 'js-no-run').map(noRunReasonProblem).filter(Boolean)).toEqual([]);
  });

  it("every '// =>' is an expression followed by a value", () => {
    expect(blocks.filter((b) => b.kind === 'js').flatMap((b) => prepare(b).problems)).toEqual([]);
  });
});

describe('05 docs: links', () => {
  it('every relative link and anchor of README.md and docs/*.md exists', () => {
    const bad: string[] = [];
    for (const f of docFiles(root)) {
      for (const l of relativeLinks(f, readFileSync(join(root, f), 'utf8'))) {
        const where = `${l.file}:${l.line} -> ${l.target}${l.anchor ? `#${l.anchor}` : ''}`;
        if (!existsSync(join(root, l.target))) {
          bad.push(`${where}: no such file`);
          continue;
        }
        if (l.anchor && l.target.endsWith('.md') && !anchors(readFileSync(join(root, l.target), 'utf8')).has(l.anchor)) {
          bad.push(`${where}: no such heading`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it('negative control: a missing file and a missing anchor are found', () => {
    const ls = relativeLinks('docs/x.md', 'See [a](api.md#no-such-heading) and [b](../nope.md), not `[c](nope.md)`.\n');
    expect(ls.map((l) => `${l.target}#${l.anchor}`)).toEqual(['docs/api.md#no-such-heading', 'nope.md#']);
    expect(anchors(readFileSync(join(root, 'docs/api.md'), 'utf8')).has('no-such-heading')).toBe(false);
    expect(anchors('## `WriteWatch.track(target, options?)`: memory\n## Errors\n## Errors\n')).toEqual(new Set(['writewatchtracktarget-options-memory', 'errors', 'errors-1']));
  });
});

describeKernel('05 docs: the blocks run as written', () => {
  for (const b of blocks.filter((x) => x.kind === 'js')) {
    it(`js ${label(b)}`, () => {
      const p = prepare(b);
      const r = runJs(p.source, root);
      expect(r.status, `${label(b)}:\n${r.stderr}`).toBe(0);
      // Every check in the block ran: one inside a branch never taken would assert nothing.
      expect(r.performed).toBe(p.checks);
    });
  }
  for (const b of blocks.filter((x) => x.kind === 'sh-run')) {
    it(`sh ${label(b)}`, () => {
      const r = runSh(b.code, root);
      expect(r.status, `${label(b)}:\n${r.stderr}`).toBe(0);
    });
  }
});

describeKernel('05 docs: negative controls (the runner can fail)', () => {
  const one = (md: string) => parseBlocks('control.md', md);

  it('a wrong value fails the block', () => {
    const [b] = one("```js\nimport { WriteWatch } from 'writewatch';\nconst ww = WriteWatch.allocate(1);\nww.byteLength; // => ww.granularity + 1\n```\n");
    const r = runJs(prepare(b).source, root);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/doc check failed at block line 3: got \d+, expected \d+/);
  });

  it('a check that never runs is counted as missing', () => {
    const [b] = one('```js\nif (false) {\n  1 + 1; // => 2\n}\n```\n');
    const p = prepare(b);
    const r = runJs(p.source, root);
    expect(r.status).toBe(0);
    expect(r.performed).not.toBe(p.checks);
  });

  it('deep equality, bigints and commentary after the value', () => {
    const [b] = one("```js\n[{ a: 1n }]; // => [{ a: 1n }]   a comment\nconst x = 'ff'; // => 'ff'\n```\n");
    const p = prepare(b);
    expect(p.checks).toBe(2);
    const r = runJs(p.source, root);
    expect(r.status, r.stderr).toBe(0);
    expect(r.performed).toBe(2);
    expect(valueOf(' [4096]   byte offsets of the written pages')).toBe('[4096]');
  });

  it('a failing sh run block fails; a plain sh block is not run', () => {
    const [run, plain] = one('```sh run\nfalse\n```\n\n```sh\nrm -rf /nonexistent-doctest\n```\n');
    expect(run.kind).toBe('sh-run');
    expect(runSh(run.code, root).status).not.toBe(0);
    expect(plain.kind).toBe('sh');
  });

  it('no-run without a reason, and an unmarked ts block, are flagged', () => {
    const [bare, ts] = one('## Heading\n\n```js no-run\nx()\n```\n\n```ts\nlet a: number = 1;\n```\n');
    expect(noRunReasonProblem(bare)).toMatch(/sentence/);
    expect(ts.kind).toBe('bad');
    const [why] = one('The pid of another process is needed, so this does not run alone:\n\n```js no-run\nx()\n```\n');
    expect(noRunReasonProblem(why)).toBeNull();
  });
});
