/**
 * The types as a strict TypeScript consumer sees them (issue 21): every code block of README.md
 * and docs/*.md that imports `writewatch` or `writewatch/win32` is type-checked against the built
 * declarations (dist/*.d.ts, reached through the package's own `exports`, as a user reaches them)
 * with `strict` and the `lib` that docs/api.md names. ```ts blocks are checked as TypeScript,
 * ```js blocks as JavaScript (`checkJs`, what an editor shows a JS user). The compiler options are
 * read from the ```json block of api.md's "TypeScript types" section, so the page and the test
 * cannot drift apart.
 *
 * Negative controls: a wrong snippet in each language must fail in the same run, and each `lib`
 * api.md names must be needed: without it, the documented code does not type-check (es2024 for
 * resizable buffers' `maxByteLength`, dom for `WebAssembly` under @types/node 20).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { docFiles, parseBlocks, type Block } from './support/doctest.js';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
/** Inside the package, so `import 'writewatch'` resolves through its own `exports` to dist/. */
const dir = join(root, 'test', 'build', 'types');

/** The options api.md gives a consumer: the ```json block after the "## TypeScript types" heading. */
function documentedOptions(): { lib: string[]; [k: string]: unknown } {
  const api = readFileSync(join(root, 'docs', 'api.md'), 'utf8');
  const section = api.slice(api.indexOf('## TypeScript types'));
  const json = /```json\n([\s\S]*?)```/.exec(section.slice(0, section.indexOf('\n## ', 1)));
  if (!json) throw new Error('docs/api.md: no ```json block of compiler options in "## TypeScript types"');
  return (JSON.parse(json[1]) as { compilerOptions: { lib: string[] } }).compilerOptions;
}

/** The blocks that use the API: js and ts fences (no-run ones too) that import the package. */
function apiBlocks(): Block[] {
  return docFiles(root)
    .flatMap((f) => parseBlocks(f, readFileSync(join(root, f), 'utf8')))
    .filter((b) => /^(js|javascript|mjs|ts|typescript)\b/.test(b.info) && /from '(writewatch|writewatch\/win32)'/.test(b.code));
}

const name = (b: Block) => `${b.file.replace(/[^\w]+/g, '_')}_${b.line}.${/^(ts|typescript)\b/.test(b.info) ? 'ts' : 'js'}`;

const controls = {
  // A number is not a string: strict TypeScript must say so.
  'control_wrong.ts': "import { WriteWatch } from 'writewatch';\nexport const s: string = WriteWatch.allocate(1).granularity;\n",
  // checkJs sees a wrong argument type in JavaScript too.
  'control_wrong.js': "import { WriteWatch } from 'writewatch';\nWriteWatch.allocate('4096');\n",
};

interface Run { errors: string[] }
/** tsc over `files` of `dir` with these options; the `error TS` lines, one per error. */
async function check(files: string[], options: object): Promise<Run> {
  const config = join(dir, `tsconfig.${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(config, JSON.stringify({ compilerOptions: { ...options, noEmit: true, allowJs: true, checkJs: true }, files }));
  try {
    const r = await exec(process.execPath, [tsc, '-p', config], { cwd: dir, encoding: 'utf8', maxBuffer: 16 << 20 }).then(
      (x) => x.stdout,
      (e: { stdout: string }) => e.stdout,
    );
    return { errors: r.split('\n').filter((l) => /error TS\d+/.test(l)) };
  } finally {
    rmSync(config, { force: true });
  }
}

let blocks: Block[];
let options: ReturnType<typeof documentedOptions>;
let main: Run;

beforeAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  blocks = apiBlocks();
  options = documentedOptions();
  // Each block is a module of its own (`export {}`), so two blocks' `const ww` do not collide.
  for (const b of blocks) writeFileSync(join(dir, name(b)), `${b.code}\nexport {};\n`);
  for (const [f, code] of Object.entries(controls)) writeFileSync(join(dir, f), code);
  main = await check([...blocks.map(name), ...Object.keys(controls)], options);
}, 300_000);

describe('08 types: a strict consumer of every documented snippet', () => {
  it('api.md names the compiler options: strict, and the libs the documented code needs', () => {
    expect(options.strict).toBe(true);
    expect(options.lib.map((l) => l.toLowerCase())).toEqual(expect.arrayContaining(['es2024', 'dom']));
    expect(blocks.length).toBeGreaterThanOrEqual(15);
    expect(blocks.filter((b) => name(b).endsWith('.ts')).length).toBeGreaterThanOrEqual(1);
  });

  it('every snippet of README.md and docs/*.md that uses the API type-checks', () => {
    const real = main.errors.filter((l) => !l.startsWith('control_'));
    // Name the doc page and line of each error, not the generated file.
    const where = (l: string) => {
      const b = blocks.find((x) => l.startsWith(name(x)));
      return b ? `${b.file}:${b.line} (block) ${l.slice(name(b).length)}` : l;
    };
    expect(real.map(where)).toEqual([]);
  });

  it('negative controls: a wrong snippet fails, in TypeScript and in JavaScript', () => {
    expect(main.errors.filter((l) => l.startsWith('control_wrong.ts'))).toEqual([expect.stringMatching(/^control_wrong\.ts\(2,14\): error TS2322/)]);
    expect(main.errors.filter((l) => l.startsWith('control_wrong.js'))).toEqual([expect.stringMatching(/^control_wrong\.js\(2,21\): error TS2345/)]);
  });

  it('each lib api.md names is needed: without it, documented snippets fail to type-check', async () => {
    const files = blocks.map(name);
    for (const lib of options.lib.map((l) => l.toLowerCase())) {
      const fewer = options.lib.filter((l) => l.toLowerCase() !== lib);
      // Without es2024, es2023 (what the package itself is built with) stands in for the language.
      const run = await check(files, { ...options, lib: lib === 'es2024' ? ['es2023', ...fewer] : fewer });
      expect(run.errors.length, `lib ${lib} removed: nothing failed, so api.md need not name it`).toBeGreaterThan(0);
    }
  }, 300_000);
});
