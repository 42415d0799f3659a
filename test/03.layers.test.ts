/**
 * The source tree's layers, checked from its own imports: system bindings (src/sys) → memory →
 * ownership → mechanisms → fronts (src/writewatch, src/win32) → the package's entry points (index,
 * probe, cli). A file may import its own layer or a lower one, never a higher one, and no import
 * cycle exists anywhere in src/ (a cycle is what the old front and compare mechanism had: four
 * files importing each other). The fronts may not import a mechanism's folder, only the contract
 * and the one place that picks (src/mechanisms/index.ts). Pure logic over the files' text.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', 'src');

/** Layer of a file (path relative to src/, with / separators). */
export function layerOf(file: string): number {
  if (file === 'errors.ts') return 0; // the error classes: every layer throws them
  if (file.startsWith('sys/')) return 0;
  if (file.startsWith('memory/')) return 1;
  if (file.startsWith('ownership/')) return 2;
  if (file.startsWith('mechanisms/')) return 3;
  if (file.startsWith('writewatch/') || file.startsWith('win32/')) return 4;
  return 5; // index.ts, probe.ts, cli/
}

/** Every .ts file under src/, relative, and the relative .ts files each imports (static and type imports, re-exports). */
export function importGraph(root = ROOT): Map<string, string[]> {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.ts')) files.push(relative(root, join(d, e.name)).split('\\').join('/'));
    }
  };
  walk(root);
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const text = readFileSync(join(root, f), 'utf8');
    const deps = new Set<string>();
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s*['"](\.[^'"]+)['"]/g)) {
      deps.add(normalize(join(dirname(f), m[1])).split('\\').join('/').replace(/\.js$/, '.ts'));
    }
    graph.set(f, [...deps]);
  }
  return graph;
}

/** The cycles of a graph (Tarjan's strongly connected components of more than one file, or a self-import). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), on = new Set<string>(), stack: string[] = [];
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(c.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

describe('03 layers and import cycles in src/', () => {
  const graph = importGraph();

  it('reads the whole tree, and every relative import names a file that exists', () => {
    expect(graph.size).toBeGreaterThan(60);
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${f} -> ${d}`));
    expect(missing).toEqual([]);
  });

  it('no import cycle', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('negative control: a cycle added to a copy of the graph is found, and so is a self-import', () => {
    const broken = new Map(graph);
    broken.set('sys/libc/libc.ts', [...(graph.get('sys/libc/libc.ts') ?? []), 'writewatch/write-watch.ts']);
    const found = cycles(broken);
    expect(found.length).toBe(1);
    expect(found[0]).toContain('sys/libc/libc.ts');
    expect(found[0]).toContain('writewatch/write-watch.ts');
    expect(cycles(new Map([['a.ts', ['a.ts']]]))).toEqual([['a.ts']]);
  });

  it('no file imports a layer above its own', () => {
    const up = [...graph].flatMap(([f, deps]) => deps.filter((d) => layerOf(d) > layerOf(f)).map((d) => `${f} -> ${d}`));
    expect(up).toEqual([]);
  });

  it("the fronts know the contract, not the mechanisms: no import of a mechanism's own folder", () => {
    const reach = [...graph]
      .filter(([f]) => layerOf(f) === 4)
      .flatMap(([f, deps]) => deps.filter((d) => /^mechanisms\/[^/]+\//.test(d)).map((d) => `${f} -> ${d}`));
    expect(reach).toEqual([]);
  });

  it("the fronts hold no mechanism's system calls: no import of the userfaultfd or pagemap bindings", () => {
    const reach = [...graph]
      .filter(([f]) => f.startsWith('writewatch/'))
      .flatMap(([f, deps]) => deps.filter((d) => /^sys\/(uffd|pagemap)\//.test(d)).map((d) => `${f} -> ${d}`));
    expect(reach).toEqual([]);
  });

  it('negative control: the old layout (a front importing compare/, compare importing the front) fails both checks', () => {
    const old = new Map(graph);
    old.set('writewatch/write-watch.ts', [...(graph.get('writewatch/write-watch.ts') ?? []), 'mechanisms/compare/tracker.ts']);
    old.set('mechanisms/compare/tracker.ts', [...(graph.get('mechanisms/compare/tracker.ts') ?? []), 'writewatch/write-watch.ts']);
    expect(cycles(old).length).toBeGreaterThan(0);
    const up = [...old].flatMap(([f, deps]) => deps.filter((d) => layerOf(d) > layerOf(f)));
    expect(up).toContain('writewatch/write-watch.ts');
  });
});
