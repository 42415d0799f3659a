/**
 * The API reference is checked against the declarations that ship: every name exported by
 * dist/index.d.ts appears in docs/api.md, every name of dist/win32/index.d.ts in docs/win32.md,
 * as code (`name`, `name(`, `.name`). Names come from the TypeScript checker (typescript 5's JS
 * API; typescript 7 has none), so type-only exports count too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript-5';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

function exportedNames(dts: string): string[] {
  const file = join(root, dts);
  const program = ts.createProgram([file], { strict: true, noEmit: true, skipLibCheck: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: ['node'] });
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(file);
  if (!sf) throw new Error(`${dts} is missing: build first`);
  const symbol = checker.getSymbolAtLocation(sf);
  if (!symbol) throw new Error(`${dts} is not a module`);
  return checker.getExportsOfModule(symbol).map((s) => s.getName()).sort();
}

/** Names that appear in the page inside backticks (`X`, `X(...)`, `w.X`, `pagemap.X`). */
function documented(page: string): (name: string) => boolean {
  const text = readFileSync(join(root, page), 'utf8');
  const code = [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]).join('\n');
  const blocks = [...text.matchAll(/```js[^\n]*\n([\s\S]*?)```/g)].map((m) => m[1]).join('\n');
  return (name) => new RegExp(`(^|[^\\w$])${name.replace(/\$/g, '\\$')}($|[^\\w$])`, 'm').test(`${code}\n${blocks}`);
}

describe('07 API docs against the shipped .d.ts', () => {
  for (const [dts, page] of [['dist/index.d.ts', 'docs/api.md'], ['dist/win32/index.d.ts', 'docs/win32.md']]) {
    it(`every export of ${dts} is in ${page}`, () => {
      const names = exportedNames(dts);
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
    const members = [...dts.matchAll(/^ {4}(?:static |get )?([a-zA-Z]\w*)\s*[(:]/gm)].map((m) => m[1]).filter((n) => n !== 'constructor' && n !== 'fromWatched');
    expect(members).toEqual(expect.arrayContaining(['allocate', 'track', 'get', 'getInto', 'ranges', 'reset', 'close', 'tracked']));
    const has = documented('docs/api.md');
    expect(members.filter((n) => !has(n))).toEqual([]);
  });

  it('negative control: a name that is not documented is found missing', () => {
    expect(documented('docs/api.md')('NotAnExportOfWritewatch')).toBe(false);
  });
});
