/**
 * Runs an ES module snippet in a child Node (this one's binary, cwd the package root, so
 * `import('writewatch')` is the built package) and returns what it printed last as JSON, with its
 * exit status and signal. A case that can crash the process (SIGSEGV) runs here, never in the
 * test runner; the same files run against an older build by running them from its root.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CHILD_TIMEOUT } from './machine.js';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** The last line of stdout, parsed; undefined when there was none (a crash). */
  out: any;
}

/** `prelude` defines `code(f)`: what `f` throws as `.code` (or 'NO CODE: <name>: <message>'), or `ok:<value>`. */
const prelude = `
const code = (f) => { try { const v = f(); return 'ok:' + JSON.stringify(v); } catch (e) { try { return typeof e?.code === 'string' ? e.code : 'NO CODE: ' + e?.name + ': ' + e?.message; } catch { return 'NO CODE: an unreadable thrown value'; } } };
const settle = async () => { for (let i = 0; i < 6; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); } };
`;

export function runChild(
  source: string,
  options: { args?: string[]; node?: string; env?: NodeJS.ProcessEnv; /** `ulimit -n` for the child */ nofile?: number } = {},
): ChildResult {
  const argv = ['--expose-gc', ...(options.args ?? []), '--input-type=module', '-e', prelude + source];
  const node = options.node ?? process.execPath;
  const [file, args] =
    options.nofile === undefined ? [node, argv] : ['sh', ['-c', `ulimit -n ${options.nofile} && exec "$0" "$@"`, node, ...argv]];
  const r = spawnSync(file, args, {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT,
    env: options.env ?? process.env,
  });
  const lines = r.stdout.trim().split('\n').filter(Boolean);
  let out: any;
  try {
    out = lines.length ? JSON.parse(lines[lines.length - 1]) : undefined;
  } catch {
    out = undefined;
  }
  return { status: r.status, signal: r.signal, stderr: r.stderr, out };
}
