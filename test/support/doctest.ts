/**
 * Doc tests: the code blocks of README.md and docs/*.md, run as written.
 *
 * - ```js: run as an ES module from a directory (the repository root, or a project that installed
 *   the package), so `import ... from 'writewatch'` resolves as it does for a reader. A comment
 *   `// => VALUE` after an expression (or after `const x = expression`) asserts that the
 *   expression's value deep-equals VALUE, itself a JavaScript expression evaluated in the block's
 *   scope (`// => [page]`, `// => 'ffffffff'`); words after the value are commentary.
 * - ```js no-run: not run; the prose line before the fence must say why.
 * - ```ts / ```typescript: not run, so they must be marked no-run as well (nothing slips by
 *   untested because of its fence).
 * - ```sh: not run; ```sh run: run with bash (sh where there is none) from the same directory, must exit 0.
 * - any other fence (output, text): not code.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';

export type BlockKind = 'js' | 'js-no-run' | 'sh' | 'sh-run' | 'other' | 'bad';

export interface Block {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  info: string;
  kind: BlockKind;
  code: string;
  /** The nearest non-blank line above the fence. */
  before: string;
}

/** README.md and every docs/*.md, read at call time so pages added later are picked up. */
export function docFiles(root: string): string[] {
  let docs: string[] = [];
  try {
    docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`);
  } catch {
    /* no docs/ */
  }
  return ['README.md', ...docs];
}

function kindOf(info: string): BlockKind {
  const [lang = '', ...flags] = info.trim().split(/\s+/);
  const noRun = flags.includes('no-run');
  switch (lang.toLowerCase()) {
    case 'js':
    case 'javascript':
    case 'mjs':
      return noRun ? 'js-no-run' : 'js';
    case 'ts':
    case 'typescript':
      return noRun ? 'js-no-run' : 'bad';
    case 'sh':
    case 'bash':
    case 'shell':
      return flags.includes('run') ? 'sh-run' : 'sh';
    default:
      return 'other';
  }
}

/** The fenced blocks of a markdown text (fences may be indented, as inside list items). */
export function parseBlocks(file: string, text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)(`{3,}|~{3,})(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence, info] = open;
    let before = '';
    for (let j = i - 1; j >= 0; j--) {
      if (lines[j].trim() !== '') {
        before = lines[j].trim();
        break;
      }
    }
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = new RegExp(`^ *${fence[0] === '`' ? '`' : '~'}{${fence.length},} *$`);
      if (close.test(lines[j])) break;
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j].trimStart());
    }
    blocks.push({ file, line: i + 1, info: info.trim(), kind: kindOf(info), code: body.join('\n'), before });
    i = j;
  }
  return blocks;
}

/** Why a no-run block's preceding line does not count as the sentence saying why, or null. */
export function noRunReasonProblem(b: Block): string | null {
  const t = b.before;
  if (t === '' || /^(#|\||```|~~~|<!--)/.test(t)) return `${b.file}:${b.line}: a no-run block must follow a sentence saying why it cannot run`;
  if (!/[a-z]{2,}.*[.:]$/i.test(t)) return `${b.file}:${b.line}: the line before a no-run block must be a sentence (ending in '.' or ':') saying why: "${t}"`;
  return null;
}

function compiles(expr: string): boolean {
  try {
    // Syntax only: the body is compiled, never called.
    new Function(`return (${expr}\n);`);
    return true;
  } catch {
    return false;
  }
}

/** The value part of `// => VALUE words`: the longest whitespace-delimited prefix that is an expression. */
export function valueOf(comment: string): string | null {
  const words = comment.trim().split(/(\s+)/);
  for (let n = words.length; n > 0; n--) {
    const v = words.slice(0, n).join('').trim();
    if (v !== '' && compiles(v)) return v;
  }
  return null;
}

export interface Prepared {
  source: string;
  /** How many `// =>` checks the block holds: a run must perform exactly this many. */
  checks: number;
  problems: string[];
}

const PRELUDE =
  "import { isDeepStrictEqual as __eq, inspect as __inspect } from 'node:util'; " +
  'const __doc = { n: 0, check(line, actual, expected) { __doc.n++; ' +
  'const j = (x) => JSON.stringify(x, (k, v) => (typeof v === "bigint" ? `${v}n` : v)); ' +
  'if (__eq(actual, expected) || (typeof actual === "object" && actual !== null && j(actual) === j(expected))) return; ' +
  'throw new Error(`doc check failed at block line ${line}: got ${__inspect(actual)}, expected ${__inspect(expected)}`); } }; ' +
  "process.on('exit', () => process.stdout.write(`\\nDOCTEST-CHECKS ${__doc.n}\\n`));";

/** Rewrites each `// =>` line of a js block into a check; the prelude is one line, so line N of the block stays line N + 1. */
export function prepare(b: Block): Prepared {
  const problems: string[] = [];
  let checks = 0;
  const out = b.code.split('\n').map((line, i) => {
    const at = line.indexOf('// =>');
    if (at < 0) return line;
    const where = `${b.file}:${b.line + 1 + i}`;
    const code = line.slice(0, at).trim().replace(/;$/, '');
    const value = valueOf(line.slice(at + 5));
    if (code === '') {
      problems.push(`${where}: '// =>' must follow an expression on the same line`);
      return line;
    }
    if (value === null) {
      problems.push(`${where}: the value after '// =>' is not a JavaScript expression`);
      return line;
    }
    checks++;
    const decl = /^(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=/.exec(code);
    if (decl) return `${code}; __doc.check(${i + 1}, ${decl[1]}, (${value}));`;
    return `__doc.check(${i + 1}, (${code}), (${value}));`;
  });
  return { source: `${PRELUDE}\n${out.join('\n')}\n`, checks, problems };
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Checks the run performed (from its exit line), or -1 when it printed none. */
  performed: number;
}

/** Runs a prepared js block as an ES module whose base is `cwd` (stdin module: `import` resolves from there). */
export function runJs(source: string, cwd: string, node = process.execPath, timeout = 120_000): RunResult {
  const r = spawnSync(node, ['--input-type=module', '-'], { cwd, input: source, encoding: 'utf8', timeout });
  if (r.error) throw r.error;
  const m = /DOCTEST-CHECKS (\d+)\s*$/.exec(r.stdout);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, performed: m ? Number(m[1]) : -1 };
}

/** bash where there is one; a busybox root (the QEMU kernel matrix) has only sh. */
const SHELL = spawnSync('bash', ['-c', 'true']).status === 0 ? 'bash' : '/bin/sh';

export function runSh(code: string, cwd: string, timeout = 120_000): RunResult {
  const r = spawnSync(SHELL, ['-eu', '-c', `set -o pipefail 2>/dev/null || true\n${code}`], { cwd, encoding: 'utf8', timeout });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, performed: 0 };
}

export function readBlocks(root: string): Block[] {
  return docFiles(root).flatMap((f) => parseBlocks(f, readFileSync(join(root, f), 'utf8')));
}

export interface Link {
  file: string;
  line: number;
  /** The target file, relative to the repository root ('' for a link inside the same page). */
  target: string;
  anchor: string;
}

/** Relative links and images of a page (outside code blocks and inline code), resolved against its folder. */
export function relativeLinks(file: string, text: string): Link[] {
  const out: Link[] = [];
  const dir = posix.dirname(file);
  let fenced = false;
  text.split('\n').forEach((raw, i) => {
    if (/^ *(```|~~~)/.test(raw)) fenced = !fenced;
    if (fenced) return;
    const line = raw.replace(/`[^`]*`/g, '');
    for (const m of line.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)) {
      const href = m[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(href)) continue; // https:, mailto:
      const [path, anchor = ''] = href.split('#');
      out.push({ file, line: i + 1, target: path === '' ? file : posix.normalize(posix.join(dir, path)), anchor });
    }
  });
  return out;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of text.split('\n')) {
    if (/^ *(```|~~~)/.test(line)) fenced = !fenced;
    const h = !fenced && /^#{1,6} +(.*?) *#*$/.exec(line);
    if (!h) continue;
    const base = h[1].toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}
