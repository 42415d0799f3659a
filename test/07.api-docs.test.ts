/**
 * The API reference is checked against what ships: every name exported by dist/index.d.ts appears
 * in docs/api.md, every name of dist/win32/index.d.ts in docs/win32.md, as code (`name`,
 * `name(`, `.name`, or in a js block). Value exports come from importing the entry point; type-only
 * exports (no runtime trace) from the `export { type X }` / `export type { X }` clauses of the
 * .d.ts. No TypeDoc or API Extractor: the pages are written for readers and a name check is what
 * keeps them honest against the declarations; a generator would add a second, unread reference.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

function exportedNames(entry: string, dts: string): string[] {
  const values = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e',
    `console.log(JSON.stringify(Object.keys(await import(${JSON.stringify(entry)}))))`], { cwd: root, encoding: 'utf8' })) as string[];
  const text = readFileSync(join(root, dts), 'utf8');
  const types: string[] = [];
  for (const [, typeOnly, list] of text.matchAll(/export (type )?\{([^}]*)\}/g)) {
    for (const item of list.split(',')) {
      const m = /^\s*(type\s+)?(?:\w+\s+as\s+)?(\w+)\s*$/.exec(item);
      if (m && (typeOnly || m[1])) types.push(m[2]);
    }
  }
  return [...new Set([...values, ...types])].sort();
}

/** Names that appear in the page inside backticks (`X`, `X(...)`, `w.X`, `pagemap.X`). */
function documented(page: string): (name: string) => boolean {
  const text = readFileSync(join(root, page), 'utf8');
  const code = [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]).join('\n');
  const blocks = [...text.matchAll(/```js[^\n]*\n([\s\S]*?)```/g)].map((m) => m[1]).join('\n');
  return (name) => new RegExp(`(^|[^\\w$])${name.replace(/\$/g, '\\$')}($|[^\\w$])`, 'm').test(`${code}\n${blocks}`);
}

describe('07 API docs against the shipped .d.ts', () => {
  for (const [entry, dts, page] of [['writewatch', 'dist/index.d.ts', 'docs/api.md'], ['writewatch/win32', 'dist/win32/index.d.ts', 'docs/win32.md']]) {
    it(`every export of ${dts} is in ${page}`, () => {
      const names = exportedNames(entry, dts);
      expect(names.length).toBeGreaterThan(5);
      // Type-only exports are seen too (they have no runtime trace).
      expect(names).toContain(dts === 'dist/index.d.ts' ? 'GetOptions' : 'Box');
      const has = documented(page);
      expect(names.filter((n) => !has(n))).toEqual([]);
    });
  }

  it('the WriteWatch members of the .d.ts are in docs/api.md', () => {
    const file = readFileSync(join(root, 'dist/writewatch/write-watch.d.ts'), 'utf8');
    const dts = file.slice(file.indexOf('export declare class WriteWatch'));
    const members = [...dts.matchAll(/^ {4}(?:static |get )?([a-zA-Z]\w*)\s*(?:<[^>]*>)?\s*[(:]/gm)].map((m) => m[1]).filter((n) => n !== 'constructor' && n !== 'fromWatched');
    expect(members).toEqual(expect.arrayContaining(['allocate', 'track', 'get', 'getInto', 'ranges', 'reset', 'close', 'tracked']));
    const has = documented('docs/api.md');
    expect(members.filter((n) => !has(n))).toEqual([]);
  });

  it('negative control: a name that is not documented is found missing', () => {
    expect(documented('docs/api.md')('NotAnExportOfWritewatch')).toBe(false);
  });
});
